//! Label selectors written as `kubectl -l` takes them: `app=ci`, `app==ci`, `env!=prod`,
//! `tier in (a,b)`, `tier notin (a)`, `release`, `!release`, joined by commas.

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Expression, SelectorExt};

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selector(kube::core::Selector);

/// The selector text is malformed.
#[derive(Debug, thiserror::Error)]
#[error("bad label selector at {at:?}: {message}")]
pub struct SelectorError {
    at: String,
    message: &'static str,
}

impl Selector {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut rest = text.trim();
        let mut expressions = Vec::new();
        while !rest.is_empty() {
            let (expression, after) = parse_one(rest)?;
            expressions.push(expression);
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after.trim_start();
                if rest.is_empty() {
                    return Err(error(text, "trailing comma"));
                }
            } else if !rest.is_empty() {
                return Err(error(rest, "expected a comma"));
            }
        }
        Ok(Selector(expressions.into_iter().collect()))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.matches(labels)
    }
}

fn error(at: &str, message: &'static str) -> SelectorError {
    SelectorError {
        at: at.chars().take(40).collect(),
        message,
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

/// Splits a label key or value off the front of `text`.
fn word(text: &str) -> (&str, &str) {
    let end = text.find(|c| !is_name_char(c)).unwrap_or(text.len());
    text.split_at(end)
}

fn parse_one(text: &str) -> Result<(Expression, &str), SelectorError> {
    if let Some(rest) = text.strip_prefix('!') {
        let (key, rest) = word(rest.trim_start());
        if key.is_empty() {
            return Err(error(text, "expected a label key after `!`"));
        }
        return Ok((Expression::DoesNotExist(key.into()), rest));
    }
    let (key, rest) = word(text);
    if key.is_empty() {
        return Err(error(text, "expected a label key"));
    }
    let rest = rest.trim_start();
    for (op, negated) in [("!=", true), ("==", false), ("=", false)] {
        if let Some(after) = rest.strip_prefix(op) {
            let (value, after) = word(after.trim_start());
            let expression = if negated {
                Expression::NotEqual(key.into(), value.into())
            } else {
                Expression::Equal(key.into(), value.into())
            };
            return Ok((expression, after));
        }
    }
    for (op, negated) in [("notin", true), ("in", false)] {
        let Some(after) = rest.strip_prefix(op) else {
            continue;
        };
        let Some(after) = after.trim_start().strip_prefix('(') else {
            continue;
        };
        let Some(close) = after.find(')') else {
            return Err(error(after, "missing `)`"));
        };
        let mut values = BTreeSet::new();
        for value in after[..close].split(',') {
            let value = value.trim();
            if !word(value).1.is_empty() {
                return Err(error(value, "bad value in set"));
            }
            values.insert(value.to_owned());
        }
        let expression = if negated {
            Expression::NotIn(key.into(), values)
        } else {
            Expression::In(key.into(), values)
        };
        return Ok((expression, &after[close + 1..]));
    }
    Ok((Expression::Exists(key.into()), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selects_like_kubectl() {
        let ci_dev = labels(&[("app", "ci"), ("env", "dev"), ("team/x.io", "a")]);
        let ci_prod = labels(&[("app", "ci"), ("env", "prod")]);
        let other = labels(&[("app", "web")]);
        let cases: &[(&str, [bool; 3])] = &[
            ("", [true, true, true]),
            ("app=ci", [true, true, false]),
            ("app == ci, env != prod", [true, false, false]),
            ("env in (dev, test)", [true, false, false]),
            ("env notin (prod)", [true, false, true]),
            ("team/x.io", [true, false, false]),
            ("!env", [false, false, true]),
            ("app=ci,!team/x.io", [false, true, false]),
        ];
        for (text, expected) in cases {
            let selector = Selector::parse(text).unwrap();
            let got = [&ci_dev, &ci_prod, &other].map(|l| selector.matches(l));
            assert_eq!(&got, expected, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_selectors() {
        for text in ["a in (b", "=x", "a=b,", "a=b c", "!", "a in (b c)"] {
            assert!(Selector::parse(text).is_err(), "{text} should be rejected");
        }
    }
}
