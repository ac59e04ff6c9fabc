//! Retention policy: rules matched first-to-last against a Result (a run), the first match
//! deciding its maximum age, else the default. Pure logic, checked at start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use super::age::MaxAge;
use crate::model::{ResultName, Status, Timestamp};

/// A rule as configured (`[[retention.rules]]`, read straight from the settings), before it
/// is checked. Empty lists and maps match anything; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for logs and messages; empty = `rules[<index>]`.
    pub name: String,
    /// Namespaces (Result parents): exact names or globs with `*` (`team-*`); any of them.
    pub namespaces: Vec<String>,
    /// Summary types (`tekton.dev/v1.PipelineRun`); any of them.
    pub types: Vec<String>,
    /// Summary statuses: `SUCCESS`, `FAILURE`, `TIMEOUT`, `CANCELLED`, `UNKNOWN`; any of them.
    pub statuses: Vec<String>,
    /// Labels of the run (`metadata.labels` of its summary Record); all must be equal.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the run (`metadata.annotations` of its summary Record); all must be
    /// equal.
    pub annotations: BTreeMap<String, String>,
    /// `30d`, `12h`, … or `forever`.
    pub max_age: String,
}

/// A rule or setting that cannot be used: `key` names it relative to the policy
/// (`rules[2].max_age`, `default_max_age`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PolicyError {
    /// Which setting.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

/// A namespace pattern: exact, or a glob with `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NamespacePattern {
    /// This namespace.
    Exact(String),
    /// A glob; `*` stands for any run of characters.
    Glob(String),
}

impl NamespacePattern {
    fn parse(text: &str) -> Result<NamespacePattern, String> {
        let valid = !text.is_empty()
            && text.len() <= 63
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_*".contains(&b));
        if !valid {
            return Err(format!(
                "{text:?} is not a namespace or glob ([a-z0-9_-], `*` for any run, 1-63 characters)"
            ));
        }
        Ok(if text.contains('*') {
            NamespacePattern::Glob(text.to_owned())
        } else {
            NamespacePattern::Exact(text.to_owned())
        })
    }

    fn matches(&self, namespace: &str) -> bool {
        match self {
            NamespacePattern::Exact(name) => name == namespace,
            NamespacePattern::Glob(glob) => glob_match(glob.as_bytes(), namespace.as_bytes()),
        }
    }
}

/// `*`-only glob matching (iterative, linear backtracking on the last star).
fn glob_match(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, t));
            g += 1;
        } else if g < glob.len() && glob[g] == text[t] {
            g += 1;
            t += 1;
        } else if let Some((sg, st)) = star {
            g = sg + 1;
            t = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&b| b == b'*')
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name (the configured one, else `rules[<index>]`).
    pub name: String,
    pub(crate) namespaces: Vec<NamespacePattern>,
    pub(crate) types: Vec<String>,
    pub(crate) statuses: Vec<Status>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// How long what it matches is kept.
    pub max_age: MaxAge,
}

impl Rule {
    fn matches(&self, run: &Run) -> bool {
        (self.namespaces.is_empty() || self.namespaces.iter().any(|p| p.matches(&run.name.parent)))
            && (self.types.is_empty() || run.type_.as_ref().is_some_and(|t| self.types.contains(t)))
            && (self.statuses.is_empty() || self.statuses.contains(&run.status()))
            && contains_all(&run.labels, &self.labels)
            && contains_all(&run.annotations, &self.annotations)
    }

    /// Whether it looks at the run's labels or annotations (read from its summary Record).
    fn needs_metadata(&self) -> bool {
        !self.labels.is_empty() || !self.annotations.is_empty()
    }

    /// Only the namespaces the database can match exactly; `None` when any is a glob (or
    /// there are none): then every namespace is a candidate.
    pub(crate) fn exact_namespaces(&self) -> Option<Vec<&str>> {
        if self.namespaces.is_empty() {
            return None;
        }
        self.namespaces
            .iter()
            .map(|p| match p {
                NamespacePattern::Exact(n) => Some(n.as_str()),
                NamespacePattern::Glob(_) => None,
            })
            .collect()
    }
}

fn contains_all(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Parses a status name as the API spells it (case-insensitive).
pub fn parse_status(text: &str) -> Result<Status, String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "UNKNOWN" => Ok(Status::Unknown),
        "SUCCESS" => Ok(Status::Success),
        "FAILURE" => Ok(Status::Failure),
        "TIMEOUT" => Ok(Status::Timeout),
        "CANCELLED" => Ok(Status::Cancelled),
        _ => Err(format!(
            "{text:?} is not a status: use SUCCESS, FAILURE, TIMEOUT, CANCELLED or UNKNOWN"
        )),
    }
}

/// What retention knows of one Result when it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The Result.
    pub name: ResultName,
    /// Its uid (deletes are by uid, so a Result recreated under the same name is safe).
    pub uid: String,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it was last written (a delete is conditional on it).
    pub update_time: Timestamp,
    /// `summary.end_time`: when the run completed.
    pub end_time: Option<Timestamp>,
    /// `summary.type`; none without a summary.
    pub type_: Option<String>,
    /// `summary.status`; none without a summary.
    pub status: Option<Status>,
    /// `summary.record`: the run's own Record, where its labels are read.
    pub summary_record: Option<String>,
    /// The run's labels (empty unless a rule asks for them).
    pub labels: BTreeMap<String, String>,
    /// The run's annotations (empty unless a rule asks for them).
    pub annotations: BTreeMap<String, String>,
}

impl Run {
    /// Where its age is measured from: completion, else creation.
    pub fn age_from(&self) -> Timestamp {
        self.end_time.unwrap_or(self.create_time)
    }

    /// Its status; UNKNOWN without a summary.
    pub fn status(&self) -> Status {
        self.status.unwrap_or_default()
    }
}

/// The checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// What applies when no rule matches.
    pub default: MaxAge,
}

/// Which rule decided, and what it decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The index of the first matching rule; none = the default.
    pub rule: Option<usize>,
    /// How long the run is kept.
    pub max_age: MaxAge,
}

impl Policy {
    /// Checks `default_max_age` (empty = keep forever) and `rules`; errors name the
    /// setting at fault (`rules[1].statuses`).
    pub fn new(default_max_age: &str, rules: &[RuleSpec]) -> Result<Policy, PolicyError> {
        let default = if default_max_age.trim().is_empty() {
            MaxAge::Forever
        } else {
            MaxAge::parse(default_max_age).map_err(|message| PolicyError {
                key: "default_max_age".into(),
                message,
            })?
        };
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, spec)| check_rule(i, spec))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { rules, default })
    }

    /// The policy that keeps everything.
    pub fn keep_everything() -> Policy {
        Policy {
            rules: Vec::new(),
            default: MaxAge::Forever,
        }
    }

    /// The first rule matching `run`, else the default.
    pub fn decide(&self, run: &Run) -> Decision {
        match self.rules.iter().position(|r| r.matches(run)) {
            Some(i) => Decision {
                rule: Some(i),
                max_age: self.rules[i].max_age,
            },
            None => Decision {
                rule: None,
                max_age: self.default,
            },
        }
    }

    /// Whether `run` is past its maximum age at `now`.
    pub fn is_expired(&self, run: &Run, now: Timestamp) -> bool {
        match self.decide(run).max_age {
            MaxAge::Forever => false,
            MaxAge::After(age) => run.age_from() < cutoff(now, age),
        }
    }

    /// Whether some rule looks at labels or annotations.
    pub fn needs_metadata(&self) -> bool {
        self.rules.iter().any(Rule::needs_metadata)
    }

    /// Whether the policy can delete anything at all.
    pub fn deletes_anything(&self) -> bool {
        self.default != MaxAge::Forever || self.rules.iter().any(|r| r.max_age != MaxAge::Forever)
    }
}

/// `now - age`, saturating.
pub(crate) fn cutoff(now: Timestamp, age: Duration) -> Timestamp {
    let nanos = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
    Timestamp::from_nanos(now.as_nanos().saturating_sub(nanos))
}

fn check_rule(index: usize, spec: &RuleSpec) -> Result<Rule, PolicyError> {
    let key = |field: &str| format!("rules[{index}].{field}");
    // The rule's own name, when it has one, helps find it in a long file.
    let named = if spec.name.is_empty() {
        String::new()
    } else {
        format!("(rule {:?}) ", spec.name)
    };
    let fail = |field: &str| {
        let key = key(field);
        let named = named.clone();
        move |message: String| PolicyError {
            key,
            message: format!("{named}{message}"),
        }
    };
    let max_age = if spec.max_age.trim().is_empty() {
        return Err(fail("max_age")(
            "is required: a duration such as \"30d\", or \"forever\"".into(),
        ));
    } else {
        MaxAge::parse(&spec.max_age).map_err(fail("max_age"))?
    };
    let namespaces = spec
        .namespaces
        .iter()
        .map(|n| NamespacePattern::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail("namespaces"))?;
    if let Some(t) = spec
        .types
        .iter()
        .find(|t| t.is_empty() || t.len() > crate::model::MAX_TYPE_LEN)
    {
        return Err(fail("types")(format!(
            "{t:?} is not a type (1 to {} characters)",
            crate::model::MAX_TYPE_LEN
        )));
    }
    let statuses = spec
        .statuses
        .iter()
        .map(|s| parse_status(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail("statuses"))?;
    for (field, map) in [("labels", &spec.labels), ("annotations", &spec.annotations)] {
        if map.keys().any(String::is_empty) {
            return Err(fail(field)("keys must not be empty".into()));
        }
    }
    Ok(Rule {
        name: if spec.name.is_empty() {
            format!("rules[{index}]")
        } else {
            spec.name.clone()
        },
        namespaces,
        types: spec.types.clone(),
        statuses,
        labels: spec.labels.clone(),
        annotations: spec.annotations.clone(),
        max_age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000_000;
    const NOW: Timestamp = Timestamp::from_nanos(1_000 * DAY);

    fn run(ns: &str) -> Run {
        Run {
            name: ResultName {
                parent: ns.into(),
                result: "r".into(),
            },
            uid: "u".into(),
            create_time: Timestamp::from_nanos(NOW.as_nanos() - 100 * DAY),
            update_time: Timestamp::from_nanos(NOW.as_nanos() - DAY),
            end_time: None,
            type_: None,
            status: None,
            summary_record: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    fn with(mut r: Run, f: impl FnOnce(&mut Run)) -> Run {
        f(&mut r);
        r
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rule(max_age: &str, f: impl FnOnce(&mut RuleSpec)) -> RuleSpec {
        let mut spec = RuleSpec {
            max_age: max_age.into(),
            ..RuleSpec::default()
        };
        f(&mut spec);
        spec
    }

    fn days_ago(n: i64) -> Timestamp {
        Timestamp::from_nanos(NOW.as_nanos() - n * DAY)
    }

    /// Which rule matches which run, first match wins, the default, keep-forever, and
    /// completion vs creation time.
    #[test]
    fn policy_table() {
        let policy = Policy::new(
            "90d",
            &[
                // 0: prod is kept forever, whatever else matches later.
                rule("forever", |r| r.namespaces = vec!["prod".into()]),
                // 1: failed or timed-out pipeline runs in team namespaces: 30 days.
                rule("30d", |r| {
                    r.namespaces = vec!["team-*".into()];
                    r.types = vec!["tekton.dev/v1.PipelineRun".into()];
                    r.statuses = vec!["failure".into(), "TIMEOUT".into()];
                }),
                // 2: runs labelled app=scratch, anywhere: 1 day.
                rule("1d", |r| r.labels = map(&[("app", "scratch")])),
                // 3: runs annotated keep=yes: forever.
                rule("forever", |r| r.annotations = map(&[("keep", "yes")])),
                // 4: unsummarised or unknown-status runs in ci: 2 days.
                rule("2d", |r| {
                    r.namespaces = vec!["ci".into()];
                    r.statuses = vec!["UNKNOWN".into()];
                }),
            ],
        )
        .unwrap();
        let pr = Some("tekton.dev/v1.PipelineRun".to_string());
        let tr = Some("tekton.dev/v1.TaskRun".to_string());
        // (case, run, rule expected to match, expired at NOW)
        let cases: Vec<(&str, Run, Option<usize>, bool)> = vec![
            ("prod kept forever", run("prod"), Some(0), false),
            (
                "prod kept even when labelled scratch (first match wins)",
                with(run("prod"), |r| r.labels = map(&[("app", "scratch")])),
                Some(0),
                false,
            ),
            (
                "team glob, failed pipeline run, ended 40 days ago",
                with(run("team-a"), |r| {
                    r.type_ = pr.clone();
                    r.status = Some(Status::Failure);
                    r.end_time = Some(days_ago(40));
                }),
                Some(1),
                true,
            ),
            (
                "completion time counts, not creation: ended 10 days ago",
                with(run("team-a"), |r| {
                    r.type_ = pr.clone();
                    r.status = Some(Status::Timeout);
                    r.end_time = Some(days_ago(10));
                }),
                Some(1),
                false,
            ),
            (
                "team task run is not a pipeline run: default 90d from creation (100d ago)",
                with(run("team-b"), |r| {
                    r.type_ = tr.clone();
                    r.status = Some(Status::Failure);
                }),
                None,
                true,
            ),
            (
                "successful pipeline run in team: default, ended 50 days ago",
                with(run("team-b"), |r| {
                    r.type_ = pr.clone();
                    r.status = Some(Status::Success);
                    r.end_time = Some(days_ago(50));
                }),
                None,
                false,
            ),
            (
                "glob needs the prefix: teams-x is not team-*",
                with(run("teamx"), |r| r.end_time = Some(days_ago(50))),
                None,
                false,
            ),
            (
                "scratch label, 2 days old",
                with(run("dev"), |r| {
                    r.labels = map(&[("app", "scratch"), ("other", "x")]);
                    r.end_time = Some(days_ago(2));
                }),
                Some(2),
                true,
            ),
            (
                "label value must be equal",
                with(run("dev"), |r| {
                    r.labels = map(&[("app", "scratch2")]);
                    r.end_time = Some(days_ago(2));
                }),
                None,
                false,
            ),
            (
                "annotation keep=yes",
                with(run("dev"), |r| r.annotations = map(&[("keep", "yes")])),
                Some(3),
                false,
            ),
            (
                "ci without summary is UNKNOWN: 2 days from creation",
                run("ci"),
                Some(4),
                true,
            ),
            (
                "ci succeeded: default",
                with(run("ci"), |r| {
                    r.type_ = tr.clone();
                    r.status = Some(Status::Success);
                    r.end_time = Some(days_ago(3));
                }),
                None,
                false,
            ),
            (
                "still running (no end time) in ci, created just now",
                with(run("ci"), |r| {
                    r.create_time = days_ago(1);
                    r.type_ = pr.clone();
                    r.status = Some(Status::Unknown);
                }),
                Some(4),
                false,
            ),
        ];
        for (case, run, rule, expired) in cases {
            assert_eq!(policy.decide(&run).rule, rule, "{case}: rule");
            assert_eq!(policy.is_expired(&run, NOW), expired, "{case}: expired");
        }
        assert!(policy.needs_metadata());
    }

    #[test]
    fn keep_forever_is_the_default() {
        let policy = Policy::new("", &[]).unwrap();
        assert_eq!(policy, Policy::keep_everything());
        assert!(!policy.deletes_anything());
        let ancient = with(run("a"), |r| r.create_time = Timestamp::from_nanos(0));
        assert!(!policy.is_expired(&ancient, NOW));
        let only_forever = Policy::new("", &[rule("forever", |_| {})]).unwrap();
        assert!(!only_forever.deletes_anything());
        assert!(!only_forever.needs_metadata());
    }

    #[test]
    fn bad_rules_are_named() {
        let cases = [
            (Policy::new("3 days", &[]), "default_max_age"),
            (Policy::new("", &[rule("", |_| {})]), "rules[0].max_age"),
            (
                Policy::new("", &[rule("1d", |_| {}), rule("1y", |_| {})]),
                "rules[1].max_age",
            ),
            (
                Policy::new("", &[rule("1d", |r| r.statuses = vec!["OK".into()])]),
                "rules[0].statuses",
            ),
            (
                Policy::new("", &[rule("1d", |r| r.namespaces = vec!["Prod".into()])]),
                "rules[0].namespaces",
            ),
            (
                Policy::new("", &[rule("1d", |r| r.types = vec![String::new()])]),
                "rules[0].types",
            ),
            (
                Policy::new("", &[rule("1d", |r| r.labels = map(&[("", "x")]))]),
                "rules[0].labels",
            ),
        ];
        for (outcome, key) in cases {
            let err = outcome.unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
        let err = Policy::new("", &[rule("soon", |r| r.name = "nightly".into())]).unwrap_err();
        assert_eq!(err.key, "rules[0].max_age");
        assert!(err.to_string().contains("(rule \"nightly\")"), "{err}");
    }

    #[test]
    fn globs() {
        for (glob, text, expected) in [
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "team", false),
            ("*-ci", "app-ci", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*", "anything", true),
        ] {
            assert_eq!(
                glob_match(glob.as_bytes(), text.as_bytes()),
                expected,
                "{glob} {text}"
            );
        }
    }
}
