//! `results-api` settings: a TOML file, then `RESULTS_<SECTION>_<KEY>` environment
//! variables on top (env wins). Defaults need nothing: loopback ports and a SQLite file in
//! the working directory. Every problem names the key at fault.

use std::net::SocketAddr;
use std::time::Duration;

use results_actors::{ActorSettings, Backend, IndexedPaths};
use serde::{Deserialize, Serialize};

use results_settings::{invalid, positive, EnvOverrides};
pub use results_settings::{Error as SettingsError, Layered, LogSettings};

mod retention;
mod webhooks;
pub use retention::{RetentionRule, RetentionSettings};
pub use webhooks::{WebhookKind, WebhookSettings};

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "RESULTS_";
/// Environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "RESULTS_CONFIG";

/// All settings of `results-api`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listening addresses and limits.
    pub server: ServerSettings,
    /// The database.
    pub database: DatabaseSettings,
    /// Actor pools.
    pub actors: ActorPoolSettings,
    /// Paging.
    pub paging: PagingSettings,
    /// Logging.
    pub log: LogSettings,
    /// Who may do what.
    pub auth: AuthSettings,
    /// Where logs are kept.
    pub logs: LogsSettings,
    /// Watch streams and the change log.
    pub watch: WatchStreamSettings,
    /// Retention: deleting old Results on a schedule.
    pub retention: RetentionSettings,
}

/// `[watch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchStreamSettings {
    /// Milliseconds between reads of the change log for changes made by other replicas
    /// (this replica's own commits are read at once).
    pub poll_interval_ms: u64,
    /// Seconds between BOOKMARK events on an idle stream.
    pub bookmark_interval_secs: u64,
    /// Events buffered per stream; a stream that falls further behind is ended with
    /// RESOURCE_EXHAUSTED (and the revision to resume from).
    pub buffer: usize,
    /// Most watch streams open at once.
    pub max_streams: usize,
    /// Seconds a change stays in the change log (a watch can resume from within it).
    pub retention_secs: u64,
    /// Most changes kept in the change log.
    pub max_changes: u64,
    /// Seconds between prunes of the change log.
    pub prune_interval_secs: u64,
    /// Webhook sinks (`[[watch.webhooks]]`): CloudEvents for matching changes.
    pub webhooks: Vec<WebhookSettings>,
}

impl Default for WatchStreamSettings {
    fn default() -> Self {
        let d = results_actors::WatchSettings::default();
        WatchStreamSettings {
            poll_interval_ms: d.poll_interval.as_millis() as u64,
            bookmark_interval_secs: d.bookmark_interval.as_secs(),
            buffer: d.buffer,
            max_streams: d.max_subscribers,
            retention_secs: d.retention.as_secs(),
            max_changes: d.max_changes,
            prune_interval_secs: d.prune_interval.as_secs(),
            webhooks: Vec::new(),
        }
    }
}

/// `logs.store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStoreKind {
    /// Files under `logs.dir`.
    #[default]
    Filesystem,
    /// An S3-compatible bucket.
    S3,
}

/// `[logs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsSettings {
    /// `filesystem` or `s3`.
    pub store: LogStoreKind,
    /// Filesystem store: the directory (relative to the working directory, like the
    /// default SQLite file).
    pub dir: String,
    /// S3: the bucket (it must exist).
    pub s3_bucket: String,
    /// S3: the endpoint URL; empty for AWS.
    pub s3_endpoint: String,
    /// S3: the region; empty for `us-east-1` or `AWS_REGION`.
    pub s3_region: String,
    /// S3: the access key; empty to take credentials from the environment.
    pub s3_access_key_id: String,
    /// S3: the secret key; empty to take credentials from the environment.
    pub s3_secret_access_key: String,
    /// S3: allow a plain `http://` endpoint.
    pub s3_allow_http: bool,
    /// S3: a key prefix inside the bucket.
    pub s3_prefix: String,
    /// Largest log (or log part, e.g. one step) accepted, in bytes.
    pub max_bytes: u64,
    /// Largest chunk read from the store and answered at once, in bytes.
    pub chunk_bytes: usize,
}

impl Default for LogsSettings {
    fn default() -> Self {
        LogsSettings {
            store: LogStoreKind::Filesystem,
            dir: "logs".into(),
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: String::new(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_allow_http: false,
            s3_prefix: String::new(),
            max_bytes: 4 << 30,
            chunk_bytes: 64 << 10,
        }
    }
}

impl LogsSettings {
    /// The blob store configuration.
    pub fn blob_config(&self) -> results_actors::blobs::BlobConfig {
        use results_actors::blobs::BlobConfig;
        match self.store {
            LogStoreKind::Filesystem => BlobConfig::Filesystem {
                dir: self.dir.clone().into(),
            },
            LogStoreKind::S3 => BlobConfig::S3 {
                bucket: self.s3_bucket.clone(),
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
                prefix: self.s3_prefix.clone(),
            },
        }
    }
}

/// `auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No checks; only on loopback addresses unless forced.
    #[default]
    None,
    /// TokenReview and SubjectAccessReview against the Kubernetes API.
    Kubernetes,
    /// Bearer tokens from a file.
    Static,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// `none`, `kubernetes` or `static`.
    pub mode: AuthMode,
    /// Serve mode `none` on a non-loopback address anyway (anyone who reaches it may read,
    /// write and delete everything).
    pub allow_unauthenticated_network: bool,
    /// Kubernetes mode: the kubeconfig file; empty = `$KUBECONFIG`, `~/.kube/config` or the
    /// pod's service account.
    pub kubeconfig: String,
    /// Static mode: the token file, reloaded when it changes.
    pub tokens_file: String,
    /// Seconds a review's answer is reused (kubernetes mode); 0 = not at all.
    pub cache_ttl_secs: u64,
    /// Most review answers kept (kubernetes mode).
    pub cache_entries: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::None,
            allow_unauthenticated_network: false,
            kubeconfig: String::new(),
            tokens_file: String::new(),
            cache_ttl_secs: 10,
            cache_entries: 10_000,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// REST listen address.
    pub rest_addr: SocketAddr,
    /// Largest request body or gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Request bytes that may be in flight at once (gRPC messages and REST bodies being
    /// read, handled or answered); beyond it requests wait up to `actors.timeout_secs`,
    /// then get RESOURCE_EXHAUSTED.
    pub max_inflight_bytes: usize,
    /// Seconds in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// PEM certificate chain served on both ports; empty = plaintext. Reloaded when it changes.
    pub tls_cert_file: String,
    /// PEM private key of `tls_cert_file`; set both or neither.
    pub tls_key_file: String,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path`, `postgres://…` or `mysql://…`.
    pub url: String,
    /// Seconds to wait for a database connection.
    pub connect_timeout_secs: u64,
    /// Apply pending migrations at start-up.
    pub migrate: bool,
    /// How often readiness asks the database whether it answers (milliseconds); an answer
    /// slower than this counts as none.
    pub readiness_interval_ms: u64,
    /// PostgreSQL hot standbys of the primary that serve Gets, Lists and summaries while
    /// they keep up; empty = every read on the primary.
    pub read_urls: Vec<String>,
    /// A replica further behind than this (milliseconds) is left out until it catches up.
    pub max_replica_lag_ms: u64,
    /// How often each replica's lag is checked (milliseconds).
    pub replica_check_ms: u64,
    /// JSON paths of Record documents to index, written as in filters
    /// (`data.metadata.labels['tekton.dev/pipeline']`): equality filters on them are
    /// answered by an index (see `results_storage::filter::IndexedPaths`). At most 16;
    /// made at start-up by the replica that migrates. Slot = position: append new ones.
    pub indexed_json_paths: Vec<String>,
}

impl DatabaseSettings {
    /// The indexed JSON paths, checked (`validate` has checked them already).
    pub fn indexed_paths(&self) -> Result<IndexedPaths, SettingsError> {
        IndexedPaths::parse(&self.indexed_json_paths)
            .map_err(|e| invalid("database.indexed_json_paths", e.to_string()))
    }
}

/// `[actors]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorPoolSettings {
    /// Storage-writer threads (1 on SQLite).
    pub writers: usize,
    /// Query threads.
    pub readers: usize,
    /// Requests queued or running in the writer pool at most.
    pub writer_queue: usize,
    /// Requests queued or running in the query pool at most.
    pub reader_queue: usize,
    /// Seconds a request may wait for a queue slot, and then for its answer.
    pub timeout_secs: u64,
    /// Most Create/Update requests committed in one transaction (group commit).
    pub batch_max: usize,
    /// Microseconds a batch may stay open for more requests once a writer is free.
    pub batch_wait_us: u64,
}

/// `[paging]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagingSettings {
    /// Secret that signs page tokens; empty = a random key per process.
    pub token_key: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rest_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            // A 4 MiB document (the largest a Record holds) in base64 JSON, with room.
            max_message_bytes: 8 * 1024 * 1024,
            // Each request byte costs a few bytes while it is parsed, stored and answered:
            // this keeps a burst of large writes within a 256 MiB pod.
            max_inflight_bytes: 48 * 1024 * 1024,
            shutdown_grace_secs: 10,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "sqlite://results.db".into(),
            connect_timeout_secs: 10,
            migrate: true,
            readiness_interval_ms: 2000,
            read_urls: Vec::new(),
            max_replica_lag_ms: 5000,
            replica_check_ms: 500,
            indexed_json_paths: Vec::new(),
        }
    }
}

impl Default for ActorPoolSettings {
    fn default() -> Self {
        let d = ActorSettings::default();
        ActorPoolSettings {
            writers: d.writers,
            readers: d.readers,
            writer_queue: d.writer_queue,
            reader_queue: d.reader_queue,
            timeout_secs: d.timeout.as_secs(),
            batch_max: d.batch_max,
            batch_wait_us: d.batch_wait.as_micros() as u64,
        }
    }
}

impl Layered for Settings {
    const OVERRIDES: EnvOverrides<'static> = EnvOverrides {
        prefix: ENV_PREFIX,
        config_file: CONFIG_ENV,
        // The watcher's variables may share the environment.
        skip: &["RESULTS_WATCHER_"],
    };

    fn validate(&self) -> Result<(), SettingsError> {
        let backend = Backend::from_url(&self.database.url)
            .map_err(|e| invalid("database.url", e.to_string()))?;
        if !backend.is_supported() {
            return Err(invalid(
                "database.url",
                "this build has no MySQL/MariaDB support; build with `--features mysql`",
            ));
        }
        if !self.database.read_urls.is_empty() && backend != Backend::Postgres {
            return Err(invalid(
                "database.read_urls",
                "read replicas are PostgreSQL hot standbys of a PostgreSQL primary",
            ));
        }
        self.database.indexed_paths()?;
        for url in &self.database.read_urls {
            if Backend::from_url(url).ok() != Some(Backend::Postgres) {
                return Err(invalid(
                    "database.read_urls",
                    format!("{} is not a postgres:// URL", results_actors::redact(url)),
                ));
            }
        }
        positive([
            ("actors.writers", self.actors.writers as u64),
            ("actors.readers", self.actors.readers as u64),
            ("actors.writer_queue", self.actors.writer_queue as u64),
            ("actors.reader_queue", self.actors.reader_queue as u64),
            ("actors.timeout_secs", self.actors.timeout_secs),
            ("actors.batch_max", self.actors.batch_max as u64),
            (
                "database.connect_timeout_secs",
                self.database.connect_timeout_secs,
            ),
            (
                "database.readiness_interval_ms",
                self.database.readiness_interval_ms,
            ),
            ("database.replica_check_ms", self.database.replica_check_ms),
            (
                "server.max_message_bytes",
                self.server.max_message_bytes as u64,
            ),
        ])?;
        if self.server.max_inflight_bytes < self.server.max_message_bytes {
            return Err(invalid(
                "server.max_inflight_bytes",
                "must be at least server.max_message_bytes, or the largest requests could never run",
            ));
        }
        if self.server.grpc_addr == self.server.rest_addr && self.server.grpc_addr.port() != 0 {
            return Err(invalid(
                "server.rest_addr",
                "must differ from server.grpc_addr",
            ));
        }
        match (
            self.server.tls_cert_file.is_empty(),
            self.server.tls_key_file.is_empty(),
        ) {
            (false, true) => {
                return Err(invalid(
                    "server.tls_key_file",
                    "must be set when server.tls_cert_file is",
                ))
            }
            (true, false) => {
                return Err(invalid(
                    "server.tls_cert_file",
                    "must be set when server.tls_key_file is",
                ))
            }
            _ => {}
        }
        positive([
            ("watch.poll_interval_ms", self.watch.poll_interval_ms),
            (
                "watch.bookmark_interval_secs",
                self.watch.bookmark_interval_secs,
            ),
            ("watch.buffer", self.watch.buffer as u64),
            ("watch.max_streams", self.watch.max_streams as u64),
            ("watch.retention_secs", self.watch.retention_secs),
            ("watch.max_changes", self.watch.max_changes),
            ("watch.prune_interval_secs", self.watch.prune_interval_secs),
        ])?;
        webhooks::validate(&self.watch.webhooks)?;
        self.validate_auth()?;
        self.validate_logs()?;
        self.log.validate()?;
        self.retention.validate()?;
        Ok(())
    }
}

impl Settings {
    fn validate_auth(&self) -> Result<(), SettingsError> {
        let auth = &self.auth;
        match auth.mode {
            AuthMode::None => {
                let exposed = [
                    ("server.grpc_addr", self.server.grpc_addr),
                    ("server.rest_addr", self.server.rest_addr),
                ]
                .into_iter()
                .find(|(_, addr)| !addr.ip().is_loopback());
                if let Some((key, addr)) = exposed {
                    if !auth.allow_unauthenticated_network {
                        return Err(invalid(
                            "auth.mode",
                            format!(
                                "is none (no authentication) and {key} = {addr} is not a loopback \
                                 address: anyone who reaches it could read, change and delete \
                                 every result. Use auth.mode = kubernetes or static, or set \
                                 auth.allow_unauthenticated_network = true to serve it anyway"
                            ),
                        ));
                    }
                }
            }
            AuthMode::Static if auth.tokens_file.is_empty() => {
                return Err(invalid(
                    "auth.tokens_file",
                    "must be set when auth.mode = static",
                ));
            }
            AuthMode::Static | AuthMode::Kubernetes => {}
        }
        Ok(())
    }

    fn validate_logs(&self) -> Result<(), SettingsError> {
        let logs = &self.logs;
        positive([
            ("logs.max_bytes", logs.max_bytes),
            ("logs.chunk_bytes", logs.chunk_bytes as u64),
        ])?;
        if logs.chunk_bytes > self.server.max_message_bytes {
            return Err(invalid(
                "logs.chunk_bytes",
                "must not exceed server.max_message_bytes (each chunk is one gRPC message)",
            ));
        }
        match logs.store {
            LogStoreKind::Filesystem if logs.dir.is_empty() => Err(invalid(
                "logs.dir",
                "must be set when logs.store = filesystem",
            )),
            LogStoreKind::S3 if logs.s3_bucket.is_empty() => Err(invalid(
                "logs.s3_bucket",
                "must be set when logs.store = s3",
            )),
            _ => Ok(()),
        }
    }

    /// Log storage limits and labels.
    pub fn log_settings(&self) -> results_actors::LogSettings {
        results_actors::LogSettings {
            chunk_bytes: self.logs.chunk_bytes,
            max_bytes: self.logs.max_bytes,
            store_type: match self.logs.store {
                LogStoreKind::Filesystem => "File",
                LogStoreKind::S3 => "S3",
            },
        }
    }

    /// The webhook sinks, checked, with their secrets read from `secret_file`s.
    pub fn webhook_configs(&self) -> Result<Vec<results_actors::WebhookConfig>, SettingsError> {
        webhooks::configs(&self.watch.webhooks)
    }

    /// The certificate and key files when TLS is configured.
    pub fn tls_files(&self) -> Option<(&str, &str)> {
        (!self.server.tls_cert_file.is_empty())
            .then_some((&*self.server.tls_cert_file, &*self.server.tls_key_file))
    }

    /// The actor pool settings.
    pub fn actor_settings(&self) -> ActorSettings {
        ActorSettings {
            writers: self.actors.writers,
            readers: self.actors.readers,
            writer_queue: self.actors.writer_queue,
            reader_queue: self.actors.reader_queue,
            timeout: Duration::from_secs(self.actors.timeout_secs),
            batch_max: self.actors.batch_max,
            batch_wait: Duration::from_micros(self.actors.batch_wait_us),
            watch: results_actors::WatchSettings {
                poll_interval: Duration::from_millis(self.watch.poll_interval_ms),
                bookmark_interval: Duration::from_secs(self.watch.bookmark_interval_secs),
                buffer: self.watch.buffer,
                max_subscribers: self.watch.max_streams,
                retention: Duration::from_secs(self.watch.retention_secs),
                max_changes: self.watch.max_changes,
                prune_interval: Duration::from_secs(self.watch.prune_interval_secs),
                ..results_actors::WatchSettings::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use results_settings::testing::{env, load_error};

    #[test]
    fn read_replicas_are_postgresql_standbys_of_postgresql() {
        let on = |primary: &str, replicas: &str| {
            Settings::from_toml(
                "",
                "-",
                &env(&[
                    ("RESULTS_DATABASE_URL", primary),
                    ("RESULTS_DATABASE_READ_URLS", replicas),
                ]),
            )
        };
        let both = on("postgres://p/db", "postgres://a/db, postgres://b/db").unwrap();
        assert_eq!(both.database.read_urls.len(), 2);
        for (primary, replicas) in [
            ("sqlite://r.db", "postgres://a/db"),
            ("postgres://p/db", "sqlite://a.db"),
            ("postgres://p/db", "postgres://a/db,mysql://u:secret@b/db"),
        ] {
            let err = on(primary, replicas).unwrap_err().to_string();
            assert!(err.contains("database.read_urls"), "{err}");
            assert!(!err.contains("secret"), "no password in messages: {err}");
        }
    }

    #[test]
    fn indexed_json_paths_are_checked_at_start_up() {
        let toml = r#"
            [database]
            indexed_json_paths = [
                "data.metadata.labels['tekton.dev/pipeline']",
                "data.status.conditions[0].reason",
            ]
        "#;
        let s = Settings::from_toml(toml, "-", &env(&[])).unwrap();
        let paths = s.database.indexed_paths().unwrap();
        assert_eq!(paths.paths().len(), 2);
        assert_eq!(
            paths.paths()[1].source(),
            "data.status.conditions[0].reason"
        );
        let from_env = Settings::from_toml(
            "",
            "-",
            &env(&[(
                "RESULTS_DATABASE_INDEXED_JSON_PATHS",
                "data.kind, data.metadata.name",
            )]),
        )
        .unwrap();
        assert_eq!(
            from_env.database.indexed_json_paths,
            ["data.kind", "data.metadata.name"]
        );
        for (bad, says) in [
            ("data.metadata.labels['a b']", "key \"a b\""),
            ("name", "not a path into a Record's data"),
            ("data.a'); DROP TABLE records; --", "not valid CEL"),
        ] {
            let toml = format!("[database]\nindexed_json_paths = [{bad:?}]\n");
            let err = Settings::from_toml(&toml, "-", &env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("database.indexed_json_paths"), "{err}");
            assert!(err.contains(says), "{bad}: {err}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("\"data.k{i}\"")).collect();
        let toml = format!("[database]\nindexed_json_paths = [{}]\n", many.join(", "));
        let err = Settings::from_toml(&toml, "-", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 16"), "{err}");
    }

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::from_toml("", "-", &env(&[])).unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.server.grpc_addr.ip().is_loopback());
        assert_eq!(s.database.url, "sqlite://results.db");
    }

    #[test]
    fn file_then_env_overrides() {
        let toml = "[server]\ngrpc_addr = \"0.0.0.0:9000\"\n[actors]\nwriters = 2\n\
                    [auth]\nallow_unauthenticated_network = true\n";
        let s = Settings::from_toml(
            toml,
            "-",
            &env(&[
                ("RESULTS_ACTORS_WRITERS", "6"),
                ("RESULTS_DATABASE_URL", "postgres://u@h/db"),
                ("RESULTS_CONFIG", "/ignored"),
                // The watcher's variables may share the environment.
                ("RESULTS_WATCHER_API_URL", "http://ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.grpc_addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.actors.writers, 6);
        assert_eq!(s.database.url, "postgres://u@h/db");
    }

    #[test]
    fn no_authentication_stays_on_loopback_unless_forced() {
        for (vars, allowed) in [
            (&[("RESULTS_SERVER_REST_ADDR", "0.0.0.0:8081")][..], false),
            (&[("RESULTS_SERVER_GRPC_ADDR", "[::]:8080")], false),
            (&[("RESULTS_SERVER_GRPC_ADDR", "[::1]:8080")], true),
            (
                &[
                    ("RESULTS_SERVER_GRPC_ADDR", "0.0.0.0:8080"),
                    ("RESULTS_AUTH_ALLOW_UNAUTHENTICATED_NETWORK", "true"),
                ],
                true,
            ),
            (
                &[
                    ("RESULTS_SERVER_GRPC_ADDR", "0.0.0.0:8080"),
                    ("RESULTS_AUTH_MODE", "kubernetes"),
                ],
                true,
            ),
        ] {
            let loaded = Settings::from_toml("", "-", &env(vars));
            assert_eq!(loaded.is_ok(), allowed, "{vars:?}: {loaded:?}");
            if let Err(e) = loaded {
                let e = e.to_string();
                assert!(
                    e.contains("auth.mode") && e.contains("allow_unauthenticated_network"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn the_documented_example_file_holds_the_defaults() {
        let text = include_str!("../../config/results-api.toml");
        assert_eq!(
            Settings::from_toml(text, "config/results-api.toml", &env(&[])).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn webhooks_are_checked_at_start_with_the_key_named() {
        let sink = |name: &str, extra: &str| {
            format!(
                "[[watch.webhooks]]\nname = \"{name}\"\nurl = \"http://hooks:8080/x\"\n{extra}\n"
            )
        };
        let ok = Settings::from_toml(
            &sink(
                "ci",
                "filter = \"data_type == TASK_RUN\"\nparent = \"ns/results/-\"",
            ),
            "-",
            &env(&[]),
        )
        .unwrap();
        let hook = &ok.watch.webhooks[0];
        assert_eq!((hook.kind, hook.max_attempts), (WebhookKind::Records, 0));
        let cases = [
            (
                "[[watch.webhooks]]\nname = \"a\"\nurl = \"ftp://h/x\"".to_owned(),
                "watch.webhooks[0].url",
            ),
            (
                "[[watch.webhooks]]\nname = \"a\"".to_owned(),
                "watch.webhooks[0].url",
            ),
            (
                "[[watch.webhooks]]\nurl = \"http://h/x\"".to_owned(),
                "watch.webhooks[0].name",
            ),
            (
                sink("a", "filter = \"data_type ==\""),
                "watch.webhooks[0].filter",
            ),
            // A Records field in a Results sink's filter.
            (
                sink(
                    "a",
                    "kind = \"results\"\nfilter = \"data_type == TASK_RUN\"",
                ),
                "watch.webhooks[0].filter",
            ),
            (sink("a", "parent = \"a/b\""), "watch.webhooks[0].parent"),
            (
                sink("a", "parent = \"Not A Namespace\""),
                "watch.webhooks[0].parent",
            ),
            (sink("a", "kind = \"logs\""), "logs"),
            (sink("a", "retries = 3"), "retries"),
            (
                sink("a", "secret = \"x\"\nsecret_file = \"/x\""),
                "watch.webhooks[0].secret_file",
            ),
            (sink("a", "queue = 0"), "watch.webhooks[0].queue"),
            (sink("a b", ""), "watch.webhooks[0].name"),
            (
                sink("a", "min_backoff_ms = 100\nmax_backoff_ms = 10"),
                "watch.webhooks[0].max_backoff_ms",
            ),
            (
                format!("{}{}", sink("a", ""), sink("a", "")),
                "watch.webhooks[1].name",
            ),
        ];
        for (toml, key) in cases {
            let err = load_error::<Settings>(&toml, &[]);
            assert!(err.contains(key), "{toml}: {err} should name {key}");
        }
    }

    #[test]
    fn a_webhook_secret_file_is_read_at_start() {
        let path =
            std::env::temp_dir().join(format!("results-webhook-secret-{}", std::process::id()));
        std::fs::write(&path, "k3y\n").unwrap();
        let toml = format!(
            "[[watch.webhooks]]\nname = \"a\"\nurl = \"https://h/x\"\nsecret_file = {:?}\n",
            path.display().to_string()
        );
        let settings = Settings::from_toml(&toml, "-", &env(&[])).unwrap();
        let configs = settings.webhook_configs().unwrap();
        assert_eq!(configs[0].secret.as_deref(), Some(&b"k3y"[..]));
        std::fs::remove_file(&path).unwrap();
        let err = settings.webhook_configs().unwrap_err().to_string();
        assert!(err.contains("watch.webhooks[0].secret_file"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "[server]\ngrpc_addr = \"nope\"",
                &[][..],
                "server.grpc_addr",
            ),
            ("[actors]\nwritters = 1", &[], "writters"),
            ("[actors]\nwriters = 0", &[], "actors.writers"),
            (
                "",
                &[("RESULTS_ACTORS_READERS", "many")],
                "RESULTS_ACTORS_READERS",
            ),
            ("", &[("RESULTS_NOPE_X", "1")], "RESULTS_NOPE_X"),
            (
                "",
                &[("RESULTS_DATABASE_URL", "oracle://x")],
                "database.url",
            ),
            ("[log]\nfilter = \"=[\"", &[], "log.filter"),
            (
                "[server]\ntls_cert_file = \"cert.pem\"",
                &[],
                "server.tls_key_file",
            ),
            (
                "",
                &[("RESULTS_SERVER_TLS_KEY_FILE", "key.pem")],
                "server.tls_cert_file",
            ),
            ("[auth]\nmode = \"ldap\"", &[], "ldap"),
            ("[auth]\nmode = \"static\"", &[], "auth.tokens_file"),
        ];
        for (toml, vars, key) in cases {
            let err = load_error::<Settings>(toml, vars);
            assert!(err.contains(key), "{err} should name {key}");
        }
        let err = Settings::from_toml("[server", "x.toml", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml"), "{err}");
    }
}
