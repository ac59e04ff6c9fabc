//! The results watcher: a Kubernetes controller that uploads Tekton TaskRuns and
//! PipelineRuns to `results-api` over gRPC, writes back where they are stored, holds a
//! finalizer until a deleted run's final state is stored, and prunes stored runs.
//!
//! It is a client of the API only (the wire contract of `results-grpc`), never of storage.

pub mod selector;
pub mod settings;

pub use results_grpc::pb;

/// What the watcher does in the cluster: `(API group, resource, verbs)`. The ClusterRole
/// in `config/` must grant exactly these (a test holds them together).
pub const REQUIRED_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    (
        "tekton.dev",
        "taskruns",
        &["get", "list", "watch", "patch", "delete"],
    ),
    (
        "tekton.dev",
        "pipelineruns",
        &["get", "list", "watch", "patch", "delete"],
    ),
];
