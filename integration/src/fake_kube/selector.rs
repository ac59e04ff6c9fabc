//! `labelSelector` (equality and set-based) and `fieldSelector` (`metadata.name`,
//! `metadata.namespace`) as list and watch requests send them.

use serde_json::Value;

use super::meta::{meta_str, string_map};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `labelSelector` plus `fieldSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selector {
    labels: Vec<Requirement>,
    /// (field, wanted equal?, value)
    fields: Vec<(String, bool, String)>,
}

impl Selector {
    /// Parses both selectors; the error text suits a 400 answer.
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Selector, String> {
        let labels = match labels {
            Some(text) => split_top_level(text)
                .into_iter()
                .map(parse_requirement)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let fields = match fields {
            Some(text) => split_top_level(text)
                .into_iter()
                .map(parse_field)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Selector { labels, fields })
    }

    /// Whether `object` is selected.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = string_map(object, "labels");
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        });
        labels_match
            && self.fields.iter().all(|(field, equal, value)| {
                let actual = meta_str(object, field.trim_start_matches("metadata."));
                (actual == value) == *equal
            })
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0_i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_requirement(text: &str) -> Result<Requirement, String> {
    let invalid = || format!("unable to parse requirement: {text:?}");
    if let Some((key, value)) = text.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().into(),
            value.trim().into(),
        ));
    }
    if let Some((key, value)) = text.split_once("==").or_else(|| text.split_once('=')) {
        return Ok(Requirement::Equals(key.trim().into(), value.trim().into()));
    }
    if let Some(key) = text.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key.trim().into()));
    }
    let mut words = text.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default().to_owned();
    let Some(rest) = words.next().map(str::trim) else {
        return Ok(Requirement::Exists(key));
    };
    let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
        (true, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (false, set)
    } else {
        return Err(invalid());
    };
    let set = set
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(invalid)?;
    let values = set.split(',').map(|v| v.trim().to_owned()).collect();
    Ok(if negated {
        Requirement::NotIn(key, values)
    } else {
        Requirement::In(key, values)
    })
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
