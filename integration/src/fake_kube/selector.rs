//! `labelSelector` (equality and set-based) and `fieldSelector` (`metadata.name`,
//! `metadata.namespace`) as list and watch requests send them.

use serde_json::Value;

use super::meta::{meta_str, string_map};

/// A parsed `labelSelector` plus `fieldSelector`; the empty selector matches everything.
/// Label selectors are the watcher's own parser (kubectl syntax), so the fake and the
/// code under test read selectors alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selector {
    labels: results_watcher::selector::Selector,
    /// (field, wanted equal?, value)
    fields: Vec<(String, bool, String)>,
}

impl Selector {
    /// Parses both selectors; the error text suits a 400 answer.
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Selector, String> {
        let labels = results_watcher::selector::Selector::parse(labels.unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let fields = fields
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_field)
            .collect::<Result<_, _>>()?;
        Ok(Selector { labels, fields })
    }

    /// Whether `object` is selected.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = string_map(object, "labels")
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
            .collect();
        self.labels.matches(&labels)
            && self.fields.iter().all(|(field, equal, value)| {
                let actual = meta_str(object, field.trim_start_matches("metadata."));
                (actual == value) == *equal
            })
    }
}

fn parse_field(text: &str) -> Result<(String, bool, String), String> {
    let (field, equal, value) = if let Some((f, v)) = text.split_once("!=") {
        (f, false, v)
    } else if let Some((f, v)) = text.split_once("==").or_else(|| text.split_once('=')) {
        (f, true, v)
    } else {
        return Err(format!("invalid selector: {text:?}; can't understand it"));
    };
    let field = field.trim();
    if field != "metadata.name" && field != "metadata.namespace" {
        return Err(format!("field label not supported: {field}"));
    }
    Ok((field.to_owned(), equal, value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object() -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "x", "tier": "db"}}})
    }

    fn selects(labels: &str) -> bool {
        Selector::parse(Some(labels), None)
            .unwrap()
            .matches(&object())
    }

    #[test]
    fn equality_and_set_based_requirements() {
        assert!(selects("app=x"));
        assert!(selects("app==x,tier=db"));
        assert!(!selects("app=x,tier=web"));
        assert!(selects("app!=y"));
        assert!(selects("missing!=y"));
        assert!(selects("tier in (web, db)"));
        assert!(!selects("tier notin (web,db)"));
        assert!(selects("missing notin (a)"));
        assert!(selects("app"));
        assert!(selects("!missing"));
        assert!(!selects("!app"));
        assert!(Selector::parse(Some("a in b"), None).is_err());
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let select = |fields| {
            Selector::parse(None, Some(fields))
                .unwrap()
                .matches(&object())
        };
        assert!(select("metadata.name=a"));
        assert!(select("metadata.namespace!=other,metadata.name==a"));
        assert!(!select("metadata.name=b"));
        assert!(Selector::parse(None, Some("spec.x=1")).is_err());
    }
}
