//! Why the watcher could not start: each variant names the step that failed and keeps
//! its cause as the source. Failures while running (API calls, Kubernetes requests) are
//! retried, not returned.

use crate::selector::SelectorError;

/// A step of starting the watcher failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuring the Kubernetes client from the environment failed (no kubeconfig, no
    /// service account, or a bad one).
    #[error("cannot configure the Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
    /// `api.url` is not an endpoint tonic accepts.
    #[error("invalid api.url {url}: {source}")]
    ApiUrl {
        /// The URL given.
        url: String,
        /// Why tonic refused it.
        #[source]
        source: tonic::transport::Error,
    },
    /// Reading the CA certificate of `api.ca_file` failed.
    #[error("cannot read api.ca_file {path}: {source}")]
    ReadCaFile {
        /// The path given.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Setting up TLS for the API endpoint failed.
    #[error("cannot configure TLS for api.url {url}: {source}")]
    ApiTls {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// `watcher.cleanup_selector` does not parse.
    #[error("invalid watcher.cleanup_selector: {0}")]
    CleanupSelector(#[source] SelectorError),
    /// Leader election is on, but no namespace for its Lease was given or found.
    #[error("leader.namespace is empty and the pod's namespace is unknown (no POD_NAMESPACE, no service account)")]
    LeaderNamespace,
    /// Listening on `metrics.addr` failed.
    #[error("cannot listen on metrics.addr {addr}: {source}")]
    BindMetrics {
        /// The address given.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
