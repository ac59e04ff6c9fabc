//! `results-watcher` settings: a TOML file, then `RESULTS_WATCHER_<SECTION>_<KEY>`
//! environment variables on top (env wins). Every problem names the key at fault.

use std::time::Duration;

use results_settings::{invalid, positive, EnvOverrides};
pub use results_settings::{Error as SettingsError, Layered, LogSettings};
use serde::{Deserialize, Serialize};

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "RESULTS_WATCHER_";
/// Environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "RESULTS_WATCHER_CONFIG";

/// All settings of `results-watcher`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How to reach `results-api`.
    pub api: ApiSettings,
    /// What to watch.
    pub kubernetes: KubernetesSettings,
    /// Reconciling, finalizers and cleanup.
    pub watcher: WatcherSettings,
    /// Uploading the step logs of finished TaskRuns.
    pub logs: LogsSettings,
    /// Leader election among replicas.
    pub leader: LeaderSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Logging.
    pub log: LogSettings,
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// gRPC endpoint of `results-api`: `http://host:port` (plaintext) or `https://…` (TLS).
    pub url: String,
    /// PEM file of the CA that signed the API's certificate; empty = the system roots.
    pub ca_file: String,
    /// File holding a bearer token sent with every call (re-read as it rotates); empty = none.
    pub token_file: String,
    /// Seconds one call may take.
    pub timeout_secs: u64,
}

/// `[kubernetes]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Namespace to watch; empty = all namespaces.
    pub namespace: String,
    /// Tekton API version to watch: `v1` or `v1beta1`.
    pub tekton_version: String,
    /// Objects per page of the initial list.
    pub list_page_size: u32,
}

/// `[watcher]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatcherSettings {
    /// Runs reconciled at the same time.
    pub workers: usize,
    /// First retry delay after a failed upload, in milliseconds (doubles each time).
    pub retry_initial_ms: u64,
    /// Longest retry delay, in seconds.
    pub retry_max_secs: u64,
    /// Seconds after a run's deletion is requested that its finalizer is released even if
    /// its final state could not be stored.
    pub store_deadline_secs: u64,
    /// Seconds after completion that a stored run is deleted from the cluster; 0 = never.
    pub cleanup_grace_secs: u64,
    /// Label selector limiting which runs cleanup deletes (e.g. `app=ci,env!=prod`);
    /// empty = every run.
    pub cleanup_selector: String,
    /// Bytes of the latest run objects kept between the watch and the workers; beyond it
    /// a worker fetches the object again.
    pub cache_bytes: usize,
}

/// `[logs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsSettings {
    /// Whether the step logs of finished TaskRuns are uploaded (before the finalizer is
    /// released).
    pub enabled: bool,
    /// Bytes of one step's log uploaded at most; a longer log is cut there and ends with a
    /// line saying so.
    pub max_bytes_per_step: u64,
}

/// `[leader]`: leader election on a `coordination.k8s.io/v1` Lease, so that of several
/// replicas exactly one reconciles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaderSettings {
    /// Whether to elect a leader; off = this watcher reconciles at once, alone.
    pub enabled: bool,
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease; empty = the pod's (`POD_NAMESPACE`, else the service
    /// account's namespace file).
    pub namespace: String,
    /// This replica's name in the Lease (a random suffix is added); empty = `POD_NAME`,
    /// else `HOSTNAME`.
    pub identity: String,
    /// Seconds a Lease that is not renewed stays held; then another replica takes it.
    pub lease_duration_secs: u64,
    /// Seconds between renewals by the leader. A leader that could not renew for
    /// `lease_duration_secs - renew_every_secs` stops reconciling, before anyone may take
    /// the Lease over.
    pub renew_every_secs: u64,
    /// Seconds between attempts to take the Lease (and between retries of a failed renewal).
    pub retry_every_secs: u64,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Listen address of the Prometheus endpoint (`/metrics`); empty = disabled.
    pub addr: String,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            url: "http://127.0.0.1:8080".into(),
            ca_file: String::new(),
            token_file: String::new(),
            timeout_secs: 10,
        }
    }
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            namespace: String::new(),
            tekton_version: "v1".into(),
            list_page_size: 500,
        }
    }
}

impl Default for WatcherSettings {
    fn default() -> Self {
        WatcherSettings {
            workers: 4,
            retry_initial_ms: 500,
            retry_max_secs: 60,
            store_deadline_secs: 600,
            cleanup_grace_secs: 0,
            cleanup_selector: String::new(),
            cache_bytes: 64 << 20,
        }
    }
}

impl Default for LogsSettings {
    fn default() -> Self {
        LogsSettings {
            enabled: true,
            max_bytes_per_step: 64 << 20,
        }
    }
}

impl Default for LeaderSettings {
    fn default() -> Self {
        LeaderSettings {
            enabled: false,
            lease_name: "tekton-results-watcher".into(),
            namespace: String::new(),
            identity: String::new(),
            lease_duration_secs: 15,
            renew_every_secs: 5,
            retry_every_secs: 2,
        }
    }
}

/// Where a pod's service account tells its namespace.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl LeaderSettings {
    /// Fills an empty `namespace` and `identity` from the pod: `POD_NAMESPACE` (else the
    /// service account's namespace, as `read_namespace` returns it) and `POD_NAME` (else
    /// `HOSTNAME`), as the downward API and the kubelet set them.
    pub fn fill_from_pod(
        &mut self,
        env: &std::collections::BTreeMap<String, String>,
        read_namespace: impl FnOnce() -> Option<String>,
    ) {
        let var = |name: &str| {
            env.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if self.namespace.is_empty() {
            self.namespace = var("POD_NAMESPACE")
                .or_else(|| read_namespace().map(|ns| ns.trim().to_owned()))
                .unwrap_or_default();
        }
        if self.identity.is_empty() {
            self.identity = var("POD_NAME")
                .or_else(|| var("HOSTNAME"))
                .unwrap_or_default();
        }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            addr: "127.0.0.1:9090".into(),
        }
    }
}

impl Layered for Settings {
    const OVERRIDES: EnvOverrides<'static> = EnvOverrides {
        prefix: ENV_PREFIX,
        config_file: CONFIG_ENV,
        skip: &[],
    };

    fn validate(&self) -> Result<(), SettingsError> {
        let url = self
            .api
            .url
            .parse::<http::Uri>()
            .map_err(|e| invalid("api.url", e.to_string()))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(invalid(
                "api.url",
                "must be http://host:port (plaintext) or https://host:port (TLS)",
            ));
        }
        if !self.api.ca_file.is_empty() && url.scheme_str() != Some("https") {
            return Err(invalid("api.ca_file", "needs an https:// api.url"));
        }
        if !matches!(self.kubernetes.tekton_version.as_str(), "v1" | "v1beta1") {
            return Err(invalid(
                "kubernetes.tekton_version",
                "must be \"v1\" or \"v1beta1\"",
            ));
        }
        positive([
            ("api.timeout_secs", self.api.timeout_secs),
            (
                "kubernetes.list_page_size",
                self.kubernetes.list_page_size.into(),
            ),
            ("watcher.workers", self.watcher.workers as u64),
            ("watcher.retry_initial_ms", self.watcher.retry_initial_ms),
            ("watcher.retry_max_secs", self.watcher.retry_max_secs),
            (
                "watcher.store_deadline_secs",
                self.watcher.store_deadline_secs,
            ),
            ("logs.max_bytes_per_step", self.logs.max_bytes_per_step),
            (
                "leader.lease_duration_secs",
                self.leader.lease_duration_secs,
            ),
            ("leader.renew_every_secs", self.leader.renew_every_secs),
            ("leader.retry_every_secs", self.leader.retry_every_secs),
        ])?;
        // The Lease holds seconds as an i32; the leader must renew at least twice within
        // a lease (it stops one renewal period before the Lease could be taken).
        if self.leader.lease_duration_secs > i32::MAX as u64 {
            return Err(invalid("leader.lease_duration_secs", "is too large"));
        }
        if self.leader.renew_every_secs * 2 >= self.leader.lease_duration_secs {
            return Err(invalid(
                "leader.renew_every_secs",
                "must be less than half of leader.lease_duration_secs",
            ));
        }
        if self.leader.retry_every_secs >= self.leader.lease_duration_secs {
            return Err(invalid(
                "leader.retry_every_secs",
                "must be less than leader.lease_duration_secs",
            ));
        }
        if self.leader.enabled && self.leader.lease_name.is_empty() {
            return Err(invalid("leader.lease_name", "must not be empty"));
        }
        // The API server is asked for one byte more (to tell a cut log), as an i64.
        if self.logs.max_bytes_per_step >= i64::MAX as u64 {
            return Err(invalid("logs.max_bytes_per_step", "is too large"));
        }
        crate::selector::Selector::parse(&self.watcher.cleanup_selector)
            .map_err(|e| invalid("watcher.cleanup_selector", e.to_string()))?;
        if !self.metrics.addr.is_empty() {
            self.metrics
                .addr
                .parse::<std::net::SocketAddr>()
                .map_err(|e| invalid("metrics.addr", e.to_string()))?;
        }
        self.log.validate()?;
        Ok(())
    }
}

impl Settings {
    /// The namespace to watch, if only one.
    pub fn namespace(&self) -> Option<&str> {
        Some(self.kubernetes.namespace.as_str()).filter(|ns| !ns.is_empty())
    }

    /// Retry delay after `attempt` failures (1-based): doubling, capped.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let initial = Duration::from_millis(self.watcher.retry_initial_ms);
        let cap = Duration::from_secs(self.watcher.retry_max_secs);
        initial
            .checked_mul(1u32 << attempt.saturating_sub(1).min(20))
            .unwrap_or(cap)
            .min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use results_settings::testing::{env, load_error};

    #[test]
    fn the_documented_example_file_holds_the_defaults() {
        let text = include_str!("../../config/results-watcher.toml");
        assert_eq!(
            Settings::from_toml(text, "config/results-watcher.toml", &env(&[])).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn file_then_env_overrides() {
        let s = Settings::from_toml(
            "[kubernetes]\nnamespace = \"ci\"\n[watcher]\nworkers = 2\n",
            "-",
            &env(&[
                ("RESULTS_WATCHER_WATCHER_WORKERS", "8"),
                ("RESULTS_WATCHER_API_URL", "https://results:8080"),
                ("RESULTS_WATCHER_CONFIG", "/ignored"),
                ("RESULTS_DATABASE_URL", "not ours"),
            ]),
        )
        .unwrap();
        assert_eq!(s.namespace(), Some("ci"));
        assert_eq!(s.watcher.workers, 8);
        assert_eq!(s.api.url, "https://results:8080");
        let s = Settings::from_toml(
            "[logs]\nmax_bytes_per_step = 1024\n",
            "-",
            &env(&[
                ("RESULTS_WATCHER_LOGS_ENABLED", "false"),
                ("RESULTS_WATCHER_LOGS_MAX_BYTES_PER_STEP", "2048"),
            ]),
        )
        .unwrap();
        assert!(!s.logs.enabled);
        assert_eq!(s.logs.max_bytes_per_step, 2048);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[api]\nurl = \"ftp://x\"", &[][..], "api.url"),
            (
                "[api]\nurl = \"http://x:1\"\nca_file = \"ca.pem\"",
                &[],
                "api.ca_file",
            ),
            (
                "[kubernetes]\ntekton_version = \"v2\"",
                &[],
                "kubernetes.tekton_version",
            ),
            ("[watcher]\nworkers = 0", &[], "watcher.workers"),
            (
                "[watcher]\ncleanup_selector = \"a in (\"",
                &[],
                "watcher.cleanup_selector",
            ),
            ("[metrics]\naddr = \"nope\"", &[], "metrics.addr"),
            (
                "[leader]\nlease_duration_secs = 10\nrenew_every_secs = 5",
                &[],
                "leader.renew_every_secs",
            ),
            (
                "[leader]\nretry_every_secs = 15",
                &[],
                "leader.retry_every_secs",
            ),
            (
                "[leader]\nlease_duration_secs = 0",
                &[],
                "leader.lease_duration_secs",
            ),
            (
                "[leader]\nenabled = true\nlease_name = \"\"",
                &[],
                "leader.lease_name",
            ),
            (
                "[logs]\nmax_bytes_per_step = 0",
                &[],
                "logs.max_bytes_per_step",
            ),
            (
                "",
                &[("RESULTS_WATCHER_LOGS_ENABLED", "maybe")],
                "RESULTS_WATCHER_LOGS_ENABLED",
            ),
            ("[watcher]\nworkerz = 1", &[], "workerz"),
            (
                "",
                &[("RESULTS_WATCHER_WATCHER_WORKERS", "x")],
                "RESULTS_WATCHER_WATCHER_WORKERS",
            ),
        ];
        for (toml, vars, key) in cases {
            let err = load_error::<Settings>(toml, vars);
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn the_leader_namespace_and_identity_come_from_the_pod_unless_set() {
        let mut leader = LeaderSettings::default();
        leader.fill_from_pod(
            &env(&[
                ("POD_NAMESPACE", "tekton"),
                ("POD_NAME", "watcher-abc"),
                ("HOSTNAME", "h"),
            ]),
            || panic!("POD_NAMESPACE wins over the file"),
        );
        assert_eq!(
            (leader.namespace.as_str(), leader.identity.as_str()),
            ("tekton", "watcher-abc")
        );
        let mut leader = LeaderSettings::default();
        leader.fill_from_pod(&env(&[("HOSTNAME", "host-1")]), || {
            Some("from-file\n".into())
        });
        assert_eq!(
            (leader.namespace.as_str(), leader.identity.as_str()),
            ("from-file", "host-1")
        );
        let mut leader = LeaderSettings {
            namespace: "set".into(),
            identity: "me".into(),
            ..LeaderSettings::default()
        };
        leader.fill_from_pod(&env(&[("POD_NAMESPACE", "x"), ("POD_NAME", "y")]), || None);
        assert_eq!(
            (leader.namespace.as_str(), leader.identity.as_str()),
            ("set", "me")
        );
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let s = Settings::default();
        assert_eq!(s.retry_delay(1), Duration::from_millis(500));
        assert_eq!(s.retry_delay(2), Duration::from_secs(1));
        assert_eq!(s.retry_delay(4), Duration::from_secs(4));
        assert_eq!(s.retry_delay(40), Duration::from_secs(60));
    }
}
