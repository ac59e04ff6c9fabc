//! `[retention]`: which Results are deleted once how old, and how often; checked at
//! start-up (every problem names the key, e.g. `retention.rules[1].max_age`), then turned
//! into the actors' retention configuration.

use std::sync::Arc;
use std::time::Duration;

use results_actors::retention::{parse_duration, PassSettings, Policy, RetentionConfig, RuleSpec};
use results_settings::invalid;
use serde::{Deserialize, Serialize};

use super::SettingsError;

/// Most Results a retention batch deletes in one transaction.
pub const MAX_BATCH_SIZE: usize = results_actors::retention::pass::MAX_BATCH_SIZE;

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Run passes on a schedule (on the one replica holding the `retention` lease).
    pub enabled: bool,
    /// Time between passes: `1h`, `30m`, …
    pub interval: String,
    /// Results deleted per transaction (and read per page).
    pub batch_size: usize,
    /// Milliseconds to pause after each batch, leaving the database to API traffic.
    pub pause_ms: u64,
    /// Scheduled passes only report what they would delete.
    pub dry_run: bool,
    /// Maximum age of Results no rule matches (`90d`); empty or `forever` = kept.
    pub default_max_age: String,
    /// Rules (`[[retention.rules]]`), first match wins.
    pub rules: Vec<RetentionRule>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            enabled: false,
            interval: "1h".into(),
            batch_size: 100,
            pause_ms: 0,
            dry_run: false,
            default_max_age: String::new(),
            rules: Vec::new(),
        }
    }
}

/// One `[[retention.rules]]` entry (the policy's own rule type, see
/// [`results_actors::retention::RuleSpec`]).
pub type RetentionRule = RuleSpec;

impl RetentionSettings {
    /// Checks every key; answers the policy.
    pub(super) fn validate(&self) -> Result<Policy, SettingsError> {
        let interval = self.interval()?;
        if interval < Duration::from_secs(1) {
            return Err(invalid("retention.interval", "must be at least 1s"));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(invalid(
                "retention.batch_size",
                format!("must be 1 to {MAX_BATCH_SIZE}"),
            ));
        }
        let policy = self.policy()?;
        if self.enabled && !policy.deletes_anything() {
            return Err(invalid(
                "retention.enabled",
                "is true but nothing would ever be deleted: set retention.default_max_age or a \
                 [[retention.rules]] max_age other than \"forever\"",
            ));
        }
        Ok(policy)
    }

    fn interval(&self) -> Result<Duration, SettingsError> {
        parse_duration(&self.interval).map_err(|e| invalid("retention.interval", e))
    }

    /// The checked policy.
    pub fn policy(&self) -> Result<Policy, SettingsError> {
        Policy::new(&self.default_max_age, &self.rules)
            .map_err(|e| invalid(format!("retention.{}", e.key), e.message))
    }

    /// How a pass runs; `dry_run` wins over the setting when true.
    pub fn pass_settings(&self, dry_run: bool) -> Result<PassSettings, SettingsError> {
        Ok(PassSettings {
            policy: Arc::new(self.validate()?),
            batch_size: self.batch_size,
            pause: Duration::from_millis(self.pause_ms),
            dry_run: dry_run || self.dry_run,
        })
    }

    /// The scheduled job, when enabled, with `holder` as this replica's lease identity.
    /// The lease outlasts two intervals (at least 10 s), so its holder keeps it from one
    /// pass to the next, and another replica takes over that long after it stopped.
    pub fn config(&self, holder: String) -> Result<Option<RetentionConfig>, SettingsError> {
        if !self.enabled {
            return Ok(None);
        }
        let interval = self.interval()?;
        Ok(Some(RetentionConfig {
            pass: self.pass_settings(false)?,
            interval,
            lease_ttl: (interval * 2).max(Duration::from_secs(10)),
            holder,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;
    use results_settings::testing::{env, load_error};
    use results_settings::Layered as _;

    #[test]
    fn rules_load_from_the_file_and_env_overrides_apply() {
        let toml = r#"
[retention]
enabled = true
interval = "10m"
default_max_age = "90d"

[[retention.rules]]
name = "prod"
namespaces = ["prod", "team-*"]
max_age = "forever"

[[retention.rules]]
statuses = ["FAILURE"]
types = ["tekton.dev/v1.PipelineRun"]
labels = { app = "scratch" }
max_age = "7d"
"#;
        let s = Settings::from_toml(
            toml,
            "-",
            &env(&[
                ("RESULTS_RETENTION_BATCH_SIZE", "50"),
                ("RESULTS_RETENTION_DRY_RUN", "true"),
            ]),
        )
        .unwrap();
        let r = &s.retention;
        assert_eq!((r.batch_size, r.dry_run), (50, true));
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[1].labels["app"], "scratch");
        let config = r.config("me".into()).unwrap().unwrap();
        assert_eq!(config.interval.as_secs(), 600);
        assert_eq!(config.lease_ttl.as_secs(), 1200);
        assert!(config.pass.dry_run);
        assert_eq!(config.pass.policy.rules[0].name, "prod");
        assert!(Settings::default()
            .retention
            .config("me".into())
            .unwrap()
            .is_none());
    }

    #[test]
    fn bad_retention_settings_name_the_key() {
        let cases = [
            ("[retention]\ninterval = \"soon\"", "retention.interval"),
            ("[retention]\nbatch_size = 0", "retention.batch_size"),
            ("[retention]\nbatch_size = 100000", "retention.batch_size"),
            ("[retention]\ndefault_max_age = \"3 months\"", "retention.default_max_age"),
            // Enabled, but everything is kept: surely a mistake.
            ("[retention]\nenabled = true", "retention.enabled"),
            (
                "[[retention.rules]]\nmax_age = \"1d\"\n[[retention.rules]]\nmax_age = \"1d\"\nstatuses = [\"DONE\"]",
                "retention.rules[1].statuses",
            ),
            ("[[retention.rules]]\nnamespaces = [\"a\"]", "retention.rules[0].max_age"),
            ("[[retention.rules]]\nmax_age = \"1d\"\nbogus = 1", "bogus"),
        ];
        for (toml, key) in cases {
            let err = load_error::<Settings>(toml, &[]);
            assert!(err.contains(key), "{toml}: {err} should name {key}");
        }
    }
}
