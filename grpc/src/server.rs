//! The composition root: opens the database, starts the actors, and serves gRPC and REST
//! on the listeners it is given until `shutdown` resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use results_actors::auth::CacheSettings;
use results_actors::replicas::ReadReplicas;
use results_actors::{
    Actors, Database, Gate, Logs, PoolSettings, StorageError, SystemClock, TokenSigner, UuidGen,
};
use tonic::transport::server::TcpIncoming;

use crate::budget::grpc::BudgetLayer;
use crate::budget::ByteBudget;
use crate::metrics::{metrics_handler, observe_rest, ApiMetrics, GrpcMetricsLayer};
use crate::pb::v1alpha2::logs_server::LogsServer;
use crate::pb::v1alpha2::results_server::ResultsServer;
use crate::pb::v1alpha2::watch_server::WatchServer;
use crate::pb::FILE_DESCRIPTOR_SET;
use crate::rest::{self, BodyLimits};
use crate::service::{LogsService, ResultsApi, ResultsService, WatchService};
use crate::settings::{AuthMode, Settings};
use crate::tls::ReloadingCert;

/// Why the server could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] StorageError),
    /// A listening address could not be bound.
    #[error("cannot listen on {addr} ({key}): {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The setting that names it.
        key: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A bound socket could not be set up for serving.
    #[error("setting up a listening socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The reflection service could not be built from the descriptors.
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The REST server failed.
    #[error("REST server failed: {0}")]
    Rest(#[source] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The authentication set-up (token file, Kubernetes client) is unusable.
    #[error("auth: {0}")]
    Auth(String),
    /// A webhook sink cannot start (e.g. its secret_file cannot be read).
    #[error("webhooks: {0}")]
    Webhooks(String),
    /// The log store cannot be used.
    #[error("logs: {0}")]
    Logs(String),
    /// Retention cannot run (its settings, or a pass failed).
    #[error("retention: {0}")]
    Retention(String),
    /// The gRPC server's task panicked.
    #[error("gRPC server task failed: {0}")]
    GrpcTask(#[from] tokio::task::JoinError),
}

/// The configured indexed JSON paths (already checked when the settings were loaded).
fn indexed_paths(settings: &Settings) -> Result<results_actors::IndexedPaths, ServeError> {
    Ok(settings
        .database
        .indexed_paths()
        .map_err(|e| StorageError::InvalidArgument(e.to_string()))?)
}

/// Opens the configured database and applies migrations when enabled.
pub fn open_database(settings: &Settings) -> Result<Database, ServeError> {
    let backend = results_actors::Backend::from_url(&settings.database.url)?;
    let pool = PoolSettings {
        max_size: settings.actor_settings().connections(backend),
        connect_timeout: Duration::from_secs(settings.database.connect_timeout_secs),
        indexed_json_paths: indexed_paths(settings)?,
    };
    let db = Database::connect(&settings.database.url, pool)?;
    if settings.database.migrate {
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied migrations");
        }
    }
    Ok(db)
}

/// The read replicas of `database.read_urls`, checked from now on; none when there are none.
pub fn read_replicas(settings: &Settings) -> Result<Option<Arc<ReadReplicas>>, ServeError> {
    let urls = &settings.database.read_urls;
    if urls.is_empty() {
        return Ok(None);
    }
    let pool = PoolSettings {
        max_size: settings.actors.readers as u32,
        // A replica that is down must not hold reads up for long: they go to the primary
        // once a check has found it down.
        connect_timeout: Duration::from_secs(settings.database.connect_timeout_secs)
            .min(Duration::from_secs(2)),
        indexed_json_paths: indexed_paths(settings)?,
    };
    let max_lag = Duration::from_millis(settings.database.max_replica_lag_ms);
    let replicas = Arc::new(ReadReplicas::new(urls, pool, max_lag)?);
    replicas.start_checking(Duration::from_millis(settings.database.replica_check_ms));
    tracing::info!(
        replicas = urls.len(),
        ?max_lag,
        "reading from replicas while they keep up"
    );
    Ok(Some(replicas))
}

/// The page-token signer: the configured key, or a random one (tokens then do not survive
/// a restart and are not shared between replicas).
pub fn token_signer(settings: &Settings) -> TokenSigner {
    if settings.paging.token_key.is_empty() {
        tracing::warn!(
            "paging.token_key is not set: page tokens are signed with a random key and stop \
             working after a restart or on another replica"
        );
        return TokenSigner::random();
    }
    TokenSigner::new(settings.paging.token_key.as_bytes().to_vec())
}

/// Longest a TokenReview or SubjectAccessReview may take before the request answers
/// UNAVAILABLE (or `actors.timeout_secs`, if shorter).
const MAX_REVIEW_TIME: Duration = Duration::from_secs(10);

/// The gate of `settings.auth`: a token file that cannot be read, or a Kubernetes client
/// that cannot be configured, stops the server here. Must run inside an actix `System`.
pub async fn gate(settings: &Settings) -> Result<Gate, ServeError> {
    let auth = &settings.auth;
    let timeout = Duration::from_secs(settings.actors.timeout_secs);
    match auth.mode {
        AuthMode::None => {
            tracing::warn!("auth.mode = none: every caller may read, change and delete everything");
            Ok(Gate::open())
        }
        AuthMode::Static => Gate::static_tokens(&auth.tokens_file, timeout)
            .map_err(|e| ServeError::Auth(e.to_string())),
        AuthMode::Kubernetes => {
            let config = if auth.kubeconfig.is_empty() {
                kube::Config::infer().await.map_err(|e| {
                    ServeError::Auth(format!("configuring the Kubernetes client: {e}"))
                })?
            } else {
                let file = kube::config::Kubeconfig::read_from(&auth.kubeconfig).map_err(|e| {
                    ServeError::Auth(format!("auth.kubeconfig {}: {e}", auth.kubeconfig))
                })?;
                kube::Config::from_custom_kubeconfig(file, &Default::default())
                    .await
                    .map_err(|e| {
                        ServeError::Auth(format!("auth.kubeconfig {}: {e}", auth.kubeconfig))
                    })?
            };
            // A review waits for nobody's retries: an outage answers UNAVAILABLE at once and
            // the caller retries (kube's default retries 429/503/504 for minutes).
            let mut config = config;
            config.default_retry = false;
            let client = kube::Client::try_from(config)
                .map_err(|e| ServeError::Auth(format!("building the Kubernetes client: {e}")))?;
            let cache = CacheSettings {
                ttl: Duration::from_secs(auth.cache_ttl_secs),
                entries: auth.cache_entries,
            };
            Ok(Gate::kubernetes(
                client,
                cache,
                timeout.min(MAX_REVIEW_TIME),
            ))
        }
    }
}

/// Listening sockets of a server.
#[derive(Debug)]
pub struct Listeners {
    /// gRPC.
    pub grpc: std::net::TcpListener,
    /// REST.
    pub rest: std::net::TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub fn bind(settings: &Settings) -> Result<Listeners, ServeError> {
        let bind = |addr: SocketAddr, key: &'static str| {
            std::net::TcpListener::bind(addr).map_err(|source| ServeError::Listen {
                addr,
                key,
                source,
            })
        };
        Ok(Listeners {
            grpc: bind(settings.server.grpc_addr, "server.grpc_addr")?,
            rest: bind(settings.server.rest_addr, "server.rest_addr")?,
        })
    }
}

/// Serves until `shutdown` resolves. Must run inside an actix `System` (see `main`).
pub async fn serve(
    settings: Settings,
    db: Database,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Before anything starts: a certificate that cannot be loaded stops the server.
    let tls = match settings.tls_files() {
        Some((cert, key)) => {
            let cert = Arc::new(ReloadingCert::load(cert.as_ref(), key.as_ref())?);
            Some((
                cert.server_config(&[b"h2"])?,
                cert.server_config(&[b"h2", b"http/1.1"])?,
            ))
        }
        None => None,
    };
    let (grpc_tls, rest_tls) = tls.unzip();
    let gate = gate(&settings).await?;
    let log_store = results_actors::blobs::open_store(&settings.logs.blob_config())
        .await
        .map_err(|e| ServeError::Logs(e.to_string()))?;
    let signer = token_signer(&settings);
    let webhooks = settings
        .webhook_configs()
        .map_err(|e| ServeError::Webhooks(e.to_string()))?;
    let replicas = read_replicas(&settings)?;
    // Records written before `records.run_*` existed: filled in the background.
    let backfill = Arc::new(results_actors::backfill::BackfillStats::default());
    results_actors::backfill::start_run_columns_backfill(db.clone(), backfill.clone());
    let actors = Actors::start(
        db,
        replicas,
        signer,
        Arc::new(SystemClock),
        Arc::new(UuidGen),
        settings.actor_settings(),
    );
    // Held until the server stops: the handles are where the sinks' counters are read.
    // Before serving: every change accepted from now on reaches the sinks. Their handles
    // (name, counters) live as long as the server.
    // This replica's identity in the leases of the jobs one replica runs at a time.
    let holder = lease_holder();
    let mut sinks = Vec::with_capacity(webhooks.len());
    for config in webhooks {
        let sink = actors
            .start_webhook(config, rest::change_object_json, holder.clone())
            .await
            .map_err(|e| ServeError::Webhooks(e.to_string()))?;
        sinks.push(sink);
    }
    let retention = start_retention(&settings, &actors, &log_store, holder)?;
    let metrics = ApiMetrics::new(|registry| {
        actors.register_metrics(registry);
        gate.register_metrics(registry);
        results_actors::metrics::register_webhooks(sinks.clone(), registry);
        results_actors::metrics::register_retention(actors.retention_stats().clone(), registry);
        results_actors::metrics::register_backfill(backfill.clone(), registry);
    });
    // Log reads prepare optimistic updates of Log Records: always on the primary.
    let logs = Logs::new(
        actors.reading_after(u64::MAX),
        log_store,
        settings.log_settings(),
    );
    let watches = actors.clone();
    let api = ResultsApi::new(actors, gate, logs);
    let max_message = settings.server.max_message_bytes;
    let budget = ByteBudget::new(
        settings.server.max_inflight_bytes,
        Duration::from_secs(settings.actors.timeout_secs),
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ResultsServer<ResultsService>>().await;
    health.set_serving::<LogsServer<LogsService>>().await;
    health.set_serving::<WatchServer<WatchService>>().await;
    let readiness = crate::readiness::start(
        watches.clone(),
        health.clone(),
        Duration::from_millis(settings.database.readiness_interval_ms),
    );
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    listeners
        .grpc
        .set_nonblocking(true)
        .map_err(ServeError::Socket)?;
    listeners
        .rest
        .set_nonblocking(true)
        .map_err(ServeError::Socket)?;
    let grpc_addr = listeners.grpc.local_addr().map_err(ServeError::Socket)?;
    let rest_addr = listeners.rest.local_addr().map_err(ServeError::Socket)?;
    let grpc_listener =
        tokio::net::TcpListener::from_std(listeners.grpc).map_err(ServeError::Socket)?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grpc = tonic::transport::Server::builder()
        // Outermost: requests refused by the budget are counted too.
        .layer(GrpcMetricsLayer(metrics.grpc.clone()))
        .layer(BudgetLayer::new(budget.clone(), max_message))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            ResultsServer::new(ResultsService::new(api.clone()))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(
            LogsServer::new(LogsService::new(api.clone())).max_decoding_message_size(max_message),
        )
        .add_service(
            WatchServer::new(WatchService::new(api.clone())).max_encoding_message_size(max_message),
        );
    let stopped = wait_for(stop_rx.clone());
    let mut grpc = match grpc_tls {
        Some(config) => tokio::spawn(
            grpc.serve_with_incoming_shutdown(crate::tls::incoming(grpc_listener, config), stopped),
        ),
        None => {
            let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
            tokio::spawn(grpc.serve_with_incoming_shutdown(incoming, stopped))
        }
    };
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);

    let rest_api = api.clone();
    let body_limits = BodyLimits {
        max_bytes: max_message,
        budget,
    };
    let rest = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(metrics.rest.clone()))
            .app_data(web::Data::new(metrics.clone()))
            .wrap(actix_web::middleware::from_fn(rest::hold_answers))
            .wrap(actix_web::middleware::from_fn(observe_rest))
            .app_data(web::Data::new(readiness.clone()))
            .route("/metrics", web::get().to(metrics_handler))
            .route("/readyz", web::get().to(crate::readiness::readyz))
            .configure(crate::ui::configure)
            .configure(rest::configure(rest_api.clone(), body_limits.clone()))
    });
    let rest = match rest_tls {
        Some(config) => rest.listen_rustls_0_23(listeners.rest, config),
        None => rest.listen(listeners.rest),
    }
    .map_err(ServeError::Rest)?
    .disable_signals()
    .shutdown_timeout(settings.server.shutdown_grace_secs)
    .run();
    let rest_handle = rest.handle();
    tracing::info!(grpc = %grpc_addr, rest = %rest_addr, tls = settings.tls_files().is_some(), auth = ?settings.auth.mode, "results-api serving");

    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        watches.end_watches();
        let _ = stop_tx.send(true);
        rest_handle.stop(true).await;
    });
    rest.await.map_err(ServeError::Rest)?;
    // gRPC drains its connections gracefully, but only for so long: idle clients that
    // keep a connection open must not hold up a shutdown.
    match tokio::time::timeout(grace, &mut grpc).await {
        Ok(outcome) => outcome??,
        Err(_) => {
            tracing::warn!(
                ?grace,
                "gRPC connections still open after the grace period; closing them"
            );
            grpc.abort();
        }
    }
    // Give the sinks' leases up, so that another replica delivers at once.
    for sink in &sinks {
        sink.stop().await;
    }
    drop(sinks);
    if let Some(retention) = retention {
        retention.stop().await;
    }
    Ok(())
}

/// Starts scheduled retention passes when `retention.enabled` (they run on the replica
/// holding the `retention` lease).
fn start_retention(
    settings: &Settings,
    actors: &Actors,
    log_store: &Arc<dyn results_actors::blobs::BlobStore>,
    holder: String,
) -> Result<Option<results_actors::retention::RetentionHandle>, ServeError> {
    let config = settings
        .retention
        .config(holder)
        .map_err(|e| ServeError::Retention(e.to_string()))?;
    Ok(config.map(|config| {
        actors.start_retention(config, Some(log_store.clone()), Arc::new(SystemClock))
    }))
}

/// A lease holder's identity: the pod (host) name, and unique per start.
fn lease_holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "results-api".into());
    format!("{host}/{}", results_actors::IdGen::next_id(&UuidGen))
}

async fn wait_for(mut stop: tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}
