//! The static token file (`auth.mode = static`): bearer tokens, the subject each stands
//! for, and what that subject may do. TOML:
//!
//! ```toml
//! [[subjects]]
//! name = "ci-bot"                                # logged as the subject
//! token_sha256 = "<hex SHA-256 of the token>"    # or: token = "<the token>"
//! [[subjects.grants]]
//! namespaces = ["ci", "staging"]                 # or ["*"]: all, also listings over '-'
//! resources = ["results", "records", "logs"]     # or ["*"]
//! verbs = ["get", "list"]                        # get list create update delete, or ["*"]
//! ```
//!
//! The file is read again when its content changes; a change that does not parse is
//! logged and the previous table stays in force.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::gatekeeper::{denied, Decision};
use super::{Access, AuthError, Impersonation, Resource, User, Verb};

/// A token file that cannot be used, naming the file and the entry at fault.
#[derive(Debug, thiserror::Error)]
#[error("auth.tokens_file {path}: {message}")]
pub struct TokenFileError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    subjects: Vec<SubjectText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectText {
    name: String,
    token: Option<String>,
    token_sha256: Option<String>,
    #[serde(default)]
    grants: Vec<GrantText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantText {
    namespaces: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

/// A set of values or all of them (`"*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Set<T: Ord> {
    All,
    Only(BTreeSet<T>),
}

impl<T: Ord> Set<T> {
    fn parse(
        values: &[String],
        field: &str,
        item: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Result<Set<T>, String> {
        if values.is_empty() {
            return Err(format!("{field} must not be empty (\"*\" allows all)"));
        }
        if values.iter().any(|v| v == "*") {
            return Ok(Set::All);
        }
        values
            .iter()
            .map(|v| item(v).ok_or_else(|| format!("{field} has {v:?}; {allowed}")))
            .collect::<Result<_, _>>()
            .map(Set::Only)
    }

    fn contains(&self, value: &T) -> bool {
        match self {
            Set::All => true,
            Set::Only(values) => values.contains(value),
        }
    }
}

#[derive(Debug)]
struct Grant {
    namespaces: Set<String>,
    resources: Set<&'static str>,
    verbs: Set<&'static str>,
}

impl Grant {
    fn allows(&self, access: &Access) -> bool {
        let namespace = match &access.namespace {
            Some(namespace) => self.namespaces.contains(namespace),
            None => self.namespaces == Set::All,
        };
        namespace
            && self.resources.contains(&access.resource.as_str())
            && self.verbs.contains(&access.verb.as_str())
    }
}

#[derive(Debug)]
struct Subject {
    user: Arc<User>,
    grants: Vec<Grant>,
}

/// The tokens in force: subjects by the SHA-256 of their token.
#[derive(Debug, Default)]
pub struct TokenTable {
    subjects: HashMap<[u8; 32], Subject>,
}

/// The token file, as the gatekeeper owns it: where it is, what it held when last taken in,
/// and the table readers decide with.
#[derive(Debug)]
pub struct TokenFile {
    path: String,
    text: Vec<u8>,
    table: Arc<RwLock<TokenTable>>,
    /// Why the file could not be read at the last look (logged once, not every look).
    unreadable: Option<String>,
}

impl TokenFile {
    /// Reads and checks the file at `path`.
    pub fn load(path: &str) -> Result<TokenFile, TokenFileError> {
        let text = read(path)?;
        let subjects = parse(&text).map_err(|message| TokenFileError {
            path: path.to_owned(),
            message,
        })?;
        Ok(TokenFile {
            path: path.to_owned(),
            text,
            table: Arc::new(RwLock::new(TokenTable { subjects })),
            unreadable: None,
        })
    }

    /// The table in force, replaced in place when the file changes.
    pub(crate) fn table(&self) -> Arc<RwLock<TokenTable>> {
        self.table.clone()
    }

    /// Reads the file again and takes it in if its content changed and it is valid;
    /// otherwise logs why and keeps the table in force.
    pub(crate) fn reload(&mut self) {
        let text = match read(&self.path) {
            Ok(text) => {
                if self.unreadable.take().is_some() {
                    tracing::info!(path = %self.path, "the token file can be read again");
                }
                if text == self.text {
                    return;
                }
                text
            }
            Err(error) => {
                let error = error.to_string();
                if self.unreadable.as_ref() != Some(&error) {
                    tracing::error!(%error, "keeping the tokens loaded before");
                    self.unreadable = Some(error);
                }
                return;
            }
        };
        match parse(&text) {
            Ok(subjects) => {
                tracing::info!(path = %self.path, subjects = subjects.len(), "token file reloaded");
                *self.table.write().unwrap_or_else(PoisonError::into_inner) =
                    TokenTable { subjects };
                self.text = text;
            }
            Err(message) => {
                let error = TokenFileError {
                    path: self.path.clone(),
                    message,
                };
                tracing::error!(%error, "keeping the tokens loaded before");
                // Not again until the file changes once more.
                self.text = text;
            }
        }
    }
}

impl TokenTable {
    /// The decision on `access` for the holder of the token hashed `token_hash`.
    pub(crate) fn decide(
        &self,
        token_hash: &[u8; 32],
        impersonate: &Impersonation,
        access: &Access,
    ) -> Decision {
        let Some(subject) = self.subjects.get(token_hash) else {
            return Err(AuthError::Unauthenticated(
                "the bearer token is not valid".into(),
            ));
        };
        if !impersonate.is_empty() {
            return Err(AuthError::PermissionDenied {
                subject: subject.user.name.clone(),
                message: "impersonation needs auth.mode = kubernetes".into(),
            });
        }
        if subject.grants.iter().any(|g| g.allows(access)) {
            Ok(subject.user.clone())
        } else {
            Err(denied(&subject.user, access))
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, TokenFileError> {
    std::fs::read(path).map_err(|e| TokenFileError {
        path: path.to_owned(),
        message: format!("cannot be read: {e}"),
    })
}

fn parse(text: &[u8]) -> Result<HashMap<[u8; 32], Subject>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "is not UTF-8 text".to_owned())?;
    let file: FileText = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut subjects = HashMap::new();
    for (i, subject) in file.subjects.into_iter().enumerate() {
        let at = |message: String| format!("subjects[{i}] ({:?}): {message}", subject.name);
        if subject.name.is_empty() {
            return Err(format!("subjects[{i}]: name must not be empty"));
        }
        let hash = match (&subject.token, &subject.token_sha256) {
            (Some(token), None) if !token.is_empty() => Sha256::digest(token.as_bytes()).into(),
            (None, Some(hex)) => parse_hash(hex).map_err(at)?,
            (Some(_), None) => return Err(at("token must not be empty".into())),
            _ => return Err(at("needs exactly one of token and token_sha256".into())),
        };
        let grants = subject
            .grants
            .iter()
            .enumerate()
            .map(|(j, g)| grant(g).map_err(|m| at(format!("grants[{j}]: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let user = Arc::new(User {
            name: subject.name.clone(),
            ..User::default()
        });
        if subjects.insert(hash, Subject { user, grants }).is_some() {
            return Err(at("has the same token as an earlier subject".into()));
        }
    }
    Ok(subjects)
}

fn parse_hash(hex: &str) -> Result<[u8; 32], String> {
    let bad = || "token_sha256 must be 64 hexadecimal digits".to_owned();
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(hash)
}

const VERBS: [Verb; 5] = [
    Verb::Get,
    Verb::List,
    Verb::Create,
    Verb::Update,
    Verb::Delete,
];
const RESOURCES: [Resource; 3] = [Resource::Results, Resource::Records, Resource::Logs];

fn grant(text: &GrantText) -> Result<Grant, String> {
    let namespaces = Set::parse(
        &text.namespaces,
        "namespaces",
        |ns| (!ns.is_empty()).then(|| ns.to_owned()),
        "namespaces must not be empty strings",
    )?;
    let resources = Set::parse(
        &text.resources,
        "resources",
        |r| {
            RESOURCES
                .iter()
                .map(|r| r.as_str())
                .find(|known| *known == r)
        },
        "known resources are results, records and logs",
    )?;
    let verbs = Set::parse(
        &text.verbs,
        "verbs",
        |v| VERBS.iter().map(|v| v.as_str()).find(|known| *known == v),
        "known verbs are get, list, create, update and delete",
    )?;
    Ok(Grant {
        namespaces,
        resources,
        verbs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn access(verb: Verb, resource: Resource, namespace: Option<&str>) -> Access {
        Access {
            verb,
            resource,
            namespace: namespace.map(str::to_owned),
        }
    }

    const FILE: &str = r#"
[[subjects]]
name = "reader"
token = "read-token"
[[subjects.grants]]
namespaces = ["ci", "staging"]
resources = ["results", "records"]
verbs = ["get", "list"]

[[subjects]]
name = "admin"
token_sha256 = "f2b3a8a7d0f1e2c5b6c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7"
[[subjects.grants]]
namespaces = ["*"]
resources = ["*"]
verbs = ["*"]
"#;

    #[test]
    fn grants_allow_exactly_what_they_name() {
        let file = TokenTable {
            subjects: parse(FILE.as_bytes()).unwrap(),
        };
        let none = Impersonation::default();
        let reader = hash("read-token");
        let ok = |a: Access| file.decide(&reader, &none, &a).map(|u| u.name.clone());
        assert_eq!(
            ok(access(Verb::Get, Resource::Records, Some("ci"))).unwrap(),
            "reader"
        );
        assert_eq!(
            ok(access(Verb::List, Resource::Results, Some("staging"))).unwrap(),
            "reader"
        );
        for refused in [
            access(Verb::Delete, Resource::Records, Some("ci")),
            access(Verb::Get, Resource::Logs, Some("ci")),
            access(Verb::Get, Resource::Records, Some("prod")),
            access(Verb::List, Resource::Records, None),
        ] {
            let error = ok(refused.clone()).unwrap_err();
            assert!(
                matches!(&error, AuthError::PermissionDenied { subject, .. } if subject == "reader"),
                "{refused}: {error:?}"
            );
        }
        let admin =
            parse_hash("f2b3a8a7d0f1e2c5b6c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7").unwrap();
        assert!(file
            .decide(&admin, &none, &access(Verb::Delete, Resource::Logs, None))
            .is_ok());
        assert!(matches!(
            file.decide(
                &hash("nobody"),
                &none,
                &access(Verb::Get, Resource::Records, Some("ci"))
            ),
            Err(AuthError::Unauthenticated(_))
        ));
        let impersonate = Impersonation {
            user: Some("admin".into()),
            ..Impersonation::default()
        };
        assert!(matches!(
            file.decide(
                &reader,
                &impersonate,
                &access(Verb::Get, Resource::Records, Some("ci"))
            ),
            Err(AuthError::PermissionDenied { .. })
        ));
    }

    #[test]
    fn mistakes_name_the_subject_and_field() {
        for (text, expected) in [
            ("[[subjects]]\nname = \"a\"\n", "subjects[0] (\"a\"): needs exactly one of token"),
            (
                "[[subjects]]\nname = \"a\"\ntoken = \"t\"\ntoken_sha256 = \"00\"\n",
                "needs exactly one",
            ),
            ("[[subjects]]\nname = \"a\"\ntoken_sha256 = \"xyz\"\n", "64 hexadecimal"),
            ("[[subjects]]\nname = \"\"\ntoken = \"t\"\n", "subjects[0]: name must not be empty"),
            (
                "[[subjects]]\nname = \"a\"\ntoken = \"t\"\n[[subjects.grants]]\nnamespaces = [\"ci\"]\nresources = [\"pods\"]\nverbs = [\"get\"]\n",
                "grants[0]: resources has \"pods\"",
            ),
            (
                "[[subjects]]\nname = \"a\"\ntoken = \"t\"\n[[subjects.grants]]\nnamespaces = []\nresources = [\"*\"]\nverbs = [\"get\"]\n",
                "namespaces must not be empty",
            ),
            (
                "[[subjects]]\nname = \"a\"\ntoken = \"t\"\n[[subjects.grants]]\nnamespaces = [\"ci\"]\nresources = [\"*\"]\nverbs = [\"watch\"]\n",
                "verbs has \"watch\"",
            ),
            (
                "[[subjects]]\nname = \"a\"\ntoken = \"t\"\n[[subjects]]\nname = \"b\"\ntoken = \"t\"\n",
                "subjects[1] (\"b\"): has the same token",
            ),
            ("[[subjects]]\nname = \"a\"\ntokn = \"t\"\n", "unknown field"),
        ] {
            let error = parse(text.as_bytes()).err().unwrap_or_else(|| panic!("{text} parsed"));
            assert!(error.contains(expected), "{error} should contain {expected}");
        }
    }

    #[test]
    fn a_broken_change_keeps_the_tokens_in_force_and_a_good_one_replaces_them() {
        let dir = std::env::temp_dir().join(format!("tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.toml");
        let path_str = path.to_str().unwrap();
        std::fs::write(&path, FILE).unwrap();
        let mut source = TokenFile::load(path_str).unwrap();
        let table = source.table();
        let file = || table.read().unwrap();
        let none = Impersonation::default();
        let get = access(Verb::Get, Resource::Records, Some("ci"));
        assert!(file().decide(&hash("read-token"), &none, &get).is_ok());

        std::fs::write(&path, "[[subjects]]\nname = ").unwrap();
        source.reload();
        assert!(
            file().decide(&hash("read-token"), &none, &get).is_ok(),
            "old table kept"
        );

        std::fs::write(&path, FILE.replace("read-token", "new-token")).unwrap();
        source.reload();
        assert!(file().decide(&hash("new-token"), &none, &get).is_ok());
        assert!(matches!(
            file().decide(&hash("read-token"), &none, &get),
            Err(AuthError::Unauthenticated(_))
        ));

        std::fs::remove_file(&path).unwrap();
        source.reload();
        assert!(
            file().decide(&hash("new-token"), &none, &get).is_ok(),
            "a vanished file changes nothing"
        );
        let missing = TokenFile::load(path_str).unwrap_err().to_string();
        assert!(
            missing.contains("auth.tokens_file") && missing.contains(path_str),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
