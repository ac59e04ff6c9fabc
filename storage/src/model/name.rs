//! Resource names: `<parent>/results/<result>[/records/<record>]`, segments `[a-z0-9_-]{1,63}`.

use std::fmt;

use crate::limits::{check_len, MAX_NAME_BYTES};
use crate::{Error, Result};

const MAX_SEGMENT: usize = 63;
/// The wildcard segment of List and summary requests.
const ANY: &str = "-";

/// Checks one name segment; `what` names it in the error.
fn segment(value: &str, what: &str, full: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{what} in {full:?} must not be empty"
        )));
    }
    if value.len() > MAX_SEGMENT {
        return Err(Error::InvalidArgument(format!(
            "{what} is {} characters long; at most {MAX_SEGMENT} are allowed",
            value.len()
        )));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(Error::InvalidArgument(format!(
            "{what} {value:?} contains {bad:?}; only a-z, 0-9, '_' and '-' are allowed"
        )));
    }
    Ok(())
}

/// Name of a Result: `<parent>/results/<result>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultName {
    /// The namespace the Result belongs to.
    pub parent: String,
    /// The Result's own name.
    pub result: String,
}

impl ResultName {
    /// Parses and validates a full Result name.
    pub fn parse(full: &str) -> Result<Self> {
        check_len("result name", full, MAX_NAME_BYTES)?;
        let parts: Vec<&str> = full.split('/').collect();
        let [parent, "results", result] = parts[..] else {
            return Err(Error::InvalidArgument(format!(
                "result name {full:?} must have the form <parent>/results/<result>"
            )));
        };
        segment(parent, "parent", full)?;
        segment(result, "result name", full)?;
        Ok(ResultName {
            parent: parent.to_owned(),
            result: result.to_owned(),
        })
    }
}

impl fmt::Display for ResultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/results/{}", self.parent, self.result)
    }
}

/// Name of a Record: `<parent>/results/<result>/records/<record>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordName {
    /// The namespace.
    pub parent: String,
    /// The Result the Record belongs to.
    pub result: String,
    /// The Record's own name.
    pub record: String,
}

impl RecordName {
    /// Parses and validates a full Record name.
    pub fn parse(full: &str) -> Result<Self> {
        Self::parse_kind(full, "records")
    }

    /// Parses a name whose last collection is `kind` (`records` or `logs`).
    pub fn parse_kind(full: &str, kind: &str) -> Result<Self> {
        check_len("name", full, MAX_NAME_BYTES)?;
        let parts: Vec<&str> = full.split('/').collect();
        match parts[..] {
            [parent, "results", result, k, record] if k == kind => {
                segment(parent, "parent", full)?;
                segment(result, "result name", full)?;
                segment(record, "record name", full)?;
                Ok(RecordName {
                    parent: parent.to_owned(),
                    result: result.to_owned(),
                    record: record.to_owned(),
                })
            }
            _ => Err(Error::InvalidArgument(format!(
                "name {full:?} must have the form <parent>/results/<result>/{kind}/<name>"
            ))),
        }
    }

    /// The name of the Result this Record belongs to.
    pub fn result_name(&self) -> ResultName {
        ResultName {
            parent: self.parent.clone(),
            result: self.result.clone(),
        }
    }
}

impl fmt::Display for RecordName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/results/{}/records/{}",
            self.parent, self.result, self.record
        )
    }
}

/// One name segment of a List request: a literal or `-` (any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListScope {
    /// Every value.
    Any,
    /// Exactly this value.
    Exactly(String),
    /// Any of these values (none: nothing). Never parsed: the server narrows a client's
    /// `-` to the namespaces the caller may list, and it still reads as `-` (page tokens
    /// stay bound to what the client asked).
    Among(Vec<String>),
}

impl ListScope {
    /// Parses a List parent segment: `-` or a valid segment.
    pub fn parse(value: &str, what: &str, full: &str) -> Result<Self> {
        check_len(what, full, MAX_NAME_BYTES)?;
        if value == ANY {
            return Ok(ListScope::Any);
        }
        segment(value, what, full)?;
        Ok(ListScope::Exactly(value.to_owned()))
    }

    /// The literal value, if any.
    pub fn literal(&self) -> Option<&str> {
        match self {
            ListScope::Any | ListScope::Among(_) => None,
            ListScope::Exactly(v) => Some(v),
        }
    }

    /// Whether `value` is in scope.
    pub fn admits(&self, value: &str) -> bool {
        match self {
            ListScope::Any => true,
            ListScope::Exactly(v) => v == value,
            ListScope::Among(values) => values.iter().any(|v| v == value),
        }
    }
}

impl fmt::Display for ListScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.literal().unwrap_or(ANY))
    }
}

/// The parent of a Record listing: `<parent>/results/<result>`, either segment may be `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordScope {
    /// Namespace, or any.
    pub parent: ListScope,
    /// Result, or any.
    pub result: ListScope,
}

impl RecordScope {
    /// Parses a ListRecords parent.
    pub fn parse(full: &str) -> Result<Self> {
        check_len("parent", full, MAX_NAME_BYTES)?;
        let parts: Vec<&str> = full.split('/').collect();
        let [parent, "results", result] = parts[..] else {
            return Err(Error::InvalidArgument(format!(
                "parent {full:?} must have the form <parent>/results/<result> ('-' matches any)"
            )));
        };
        Ok(RecordScope {
            parent: ListScope::parse(parent, "parent", full)?,
            result: ListScope::parse(result, "result name", full)?,
        })
    }
}

impl fmt::Display for RecordScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/results/{}", self.parent, self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_names() {
        let r = RecordName::parse("ns-1/results/r_1/records/x").unwrap();
        assert_eq!(
            (r.parent.as_str(), r.result.as_str(), r.record.as_str()),
            ("ns-1", "r_1", "x")
        );
        assert_eq!(r.to_string(), "ns-1/results/r_1/records/x");
        assert_eq!(
            ResultName::parse("a/results/b").unwrap().to_string(),
            "a/results/b"
        );
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        for (name, needle) in [
            ("a/results/B", "contains 'B'"),
            ("a/results/", "must not be empty"),
            ("a/result/b", "must have the form"),
            ("a/results/b/records/c", "must have the form"),
            (&format!("a/results/{}", "x".repeat(64)), "at most 63"),
        ] {
            let err = ResultName::parse(name).unwrap_err().to_string();
            assert!(err.contains(needle), "{name}: {err}");
        }
        assert!(RecordName::parse("a/results/b/records/c d").is_err());
        assert!(RecordName::parse("a/results/b/logs/c").is_err());
        assert!(RecordName::parse_kind("a/results/b/logs/c", "logs").is_ok());
        // A huge name is refused by its length, without echoing it or splitting it.
        let huge = "/".repeat(1 << 20);
        for err in [
            ResultName::parse(&huge).unwrap_err(),
            RecordName::parse(&huge).unwrap_err(),
            RecordScope::parse(&huge).unwrap_err(),
            ListScope::parse(&huge, "parent", &huge).unwrap_err(),
        ] {
            let err = err.to_string();
            assert!(
                err.ends_with("is 1048576 bytes long; the limit is 207 bytes"),
                "{err}"
            );
        }
    }

    #[test]
    fn list_scope_wildcards() {
        let s = RecordScope::parse("-/results/x").unwrap();
        assert_eq!(s.parent, ListScope::Any);
        assert_eq!(s.result, ListScope::Exactly("x".into()));
        assert_eq!(s.to_string(), "-/results/x");
        assert!(RecordScope::parse("-").is_err());
        assert!(RecordScope::parse("ns/results/*").is_err());
    }
}
