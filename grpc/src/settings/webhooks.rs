//! `[[watch.webhooks]]`: webhook sinks, checked at start-up (every problem names the key,
//! e.g. `watch.webhooks[1].filter`), then turned into the actors' sink configurations.

use std::time::Duration;

use results_actors::model::{ListScope, RecordScope};
use results_actors::watch::webhook::parse_url;
use results_actors::{FilterEnvironment, WatchKind, WatchRequest, WebhookConfig};
use results_settings::invalid;
use serde::{Deserialize, Serialize};

use super::SettingsError;

/// What a sink receives: Records or Results changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// Record changes (the filter is a ListRecords filter).
    #[default]
    Records,
    /// Result changes (the filter is a ListResults filter).
    Results,
}

/// One `[[watch.webhooks]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Unique, `[A-Za-z0-9_.-]{1,63}`; names the sink in logs and keys its saved cursor
    /// (rename a sink and it starts afresh at the head of the change log).
    pub name: String,
    /// Where CloudEvents are POSTed (`http://` or `https://`).
    pub url: String,
    /// `records` or `results`.
    pub kind: WebhookKind,
    /// A namespace or `-` (all); for records also `<namespace>/results/<result>`.
    pub parent: String,
    /// A List filter (CEL) of `kind`; empty = every change.
    pub filter: String,
    /// HMAC-SHA256 key of the `X-Results-Signature` header; empty = no signature.
    pub secret: String,
    /// A file holding the key instead (trailing newlines ignored), e.g. a mounted Secret.
    pub secret_file: String,
    /// Attempts per event before it is given up (logged and counted); 0 = until delivered.
    pub max_attempts: u32,
    /// Milliseconds before the first retry; doubled after each failure, with jitter.
    pub min_backoff_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// Seconds a request may take, connecting included.
    pub timeout_secs: u64,
    /// Changes read from the change log and held at once.
    pub queue: usize,
    /// How long a replica's hold on the sink lasts unless renewed (every third of it):
    /// only the holder delivers, and another replica takes over once it lapses.
    pub lease_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            name: String::new(),
            url: String::new(),
            kind: WebhookKind::Records,
            parent: "-".into(),
            filter: String::new(),
            secret: String::new(),
            secret_file: String::new(),
            max_attempts: 0,
            min_backoff_ms: 500,
            max_backoff_ms: 30_000,
            timeout_secs: 10,
            queue: 100,
            lease_ms: 15_000,
        }
    }
}

impl WebhookSettings {
    /// Its watch request: scope and compiled filter.
    fn request(&self, key: &str) -> Result<WatchRequest, SettingsError> {
        let bad_parent =
            |e: results_actors::StorageError| invalid(format!("{key}.parent"), e.to_string());
        let (parent, kind, environment) = match self.kind {
            WebhookKind::Results => (
                ListScope::parse(&self.parent, "parent", &self.parent).map_err(bad_parent)?,
                WatchKind::Results,
                FilterEnvironment::Results,
            ),
            WebhookKind::Records if self.parent.contains('/') => {
                let scope = RecordScope::parse(&self.parent).map_err(bad_parent)?;
                (
                    scope.parent,
                    WatchKind::Records {
                        result: scope.result,
                    },
                    FilterEnvironment::Records,
                )
            }
            WebhookKind::Records => (
                ListScope::parse(&self.parent, "parent", &self.parent).map_err(bad_parent)?,
                WatchKind::Records {
                    result: ListScope::Any,
                },
                FilterEnvironment::Records,
            ),
        };
        let filter = results_actors::Filter::compile(&self.filter, environment)
            .map_err(|e| invalid(format!("{key}.filter"), e.to_string()))?;
        Ok(WatchRequest {
            parent,
            kind,
            filter,
            resume_from: None,
            // A sink is configured by the operator: it sees every namespace in its scope.
            visibility: None,
        })
    }

    /// The HMAC key, read from `secret_file` if set.
    fn secret(&self, key: &str) -> Result<Option<Vec<u8>>, SettingsError> {
        if !self.secret_file.is_empty() {
            let text = std::fs::read(&self.secret_file).map_err(|e| {
                invalid(
                    format!("{key}.secret_file"),
                    format!("cannot read {}: {e}", self.secret_file),
                )
            })?;
            let end = text
                .iter()
                .rposition(|b| !matches!(b, b'\n' | b'\r'))
                .map_or(0, |i| i + 1);
            if end == 0 {
                return Err(invalid(
                    format!("{key}.secret_file"),
                    format!("{} is empty", self.secret_file),
                ));
            }
            return Ok(Some(text[..end].to_vec()));
        }
        Ok((!self.secret.is_empty()).then(|| self.secret.as_bytes().to_vec()))
    }

    /// Checks what needs no file: everything but `secret_file`'s content.
    fn check(&self, key: &str) -> Result<(), SettingsError> {
        let name_ok = (1..=63).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !name_ok {
            return Err(invalid(
                format!("{key}.name"),
                format!(
                    "{:?} must be 1 to 63 letters, digits, '_', '.' or '-' (it keys the \
                     sink's saved place in the change log)",
                    self.name
                ),
            ));
        }
        parse_url(&self.url).map_err(|e| invalid(format!("{key}.url"), e))?;
        self.request(key)?;
        if !self.secret.is_empty() && !self.secret_file.is_empty() {
            return Err(invalid(
                format!("{key}.secret_file"),
                "set secret or secret_file, not both",
            ));
        }
        results_settings::positive([
            (
                format!("{key}.min_backoff_ms").as_str(),
                self.min_backoff_ms,
            ),
            (
                format!("{key}.max_backoff_ms").as_str(),
                self.max_backoff_ms,
            ),
            (format!("{key}.timeout_secs").as_str(), self.timeout_secs),
            (format!("{key}.queue").as_str(), self.queue as u64),
            (format!("{key}.lease_ms").as_str(), self.lease_ms),
        ])?;
        if self.max_backoff_ms < self.min_backoff_ms {
            return Err(invalid(
                format!("{key}.max_backoff_ms"),
                "must be at least min_backoff_ms",
            ));
        }
        Ok(())
    }
}

/// The key of the `index`th sink, for messages.
fn key(index: usize) -> String {
    format!("watch.webhooks[{index}]")
}

/// Checks every sink and that their names are unique.
pub(super) fn validate(sinks: &[WebhookSettings]) -> Result<(), SettingsError> {
    for (index, sink) in sinks.iter().enumerate() {
        let key = key(index);
        sink.check(&key)?;
        if let Some(first) = sinks[..index].iter().position(|s| s.name == sink.name) {
            return Err(invalid(
                format!("{key}.name"),
                format!(
                    "{:?} is already the name of watch.webhooks[{first}]; names must be unique",
                    sink.name
                ),
            ));
        }
    }
    Ok(())
}

/// The sinks' configurations, secrets read from their files.
pub(super) fn configs(sinks: &[WebhookSettings]) -> Result<Vec<WebhookConfig>, SettingsError> {
    sinks
        .iter()
        .enumerate()
        .map(|(index, sink)| {
            let key = key(index);
            sink.check(&key)?;
            Ok(WebhookConfig {
                name: sink.name.clone(),
                url: parse_url(&sink.url).map_err(|e| invalid(format!("{key}.url"), e))?,
                request: sink.request(&key)?,
                secret: sink.secret(&key)?,
                max_attempts: sink.max_attempts,
                min_backoff: Duration::from_millis(sink.min_backoff_ms),
                max_backoff: Duration::from_millis(sink.max_backoff_ms),
                timeout: Duration::from_secs(sink.timeout_secs),
                queue: sink.queue,
                lease_ttl: Duration::from_millis(sink.lease_ms),
            })
        })
        .collect()
}
