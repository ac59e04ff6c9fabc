//! A fake Kubernetes API server for end-to-end tests of controllers and API servers: generic
//! resources (`/apis/{group}/{version}/…`, objects as JSON) with list, watch, get, create,
//! replace, patch, server-side apply, delete, finalizers and garbage collection, and
//! TokenReview and SubjectAccessReview answered from registered tokens and RBAC-like rules,
//! container logs (`pods/{pod}/log`, streamed), and `coordination.k8s.io/v1` Leases (validated,
//! with resourceVersion conflicts) for leader election, in the wire format kube-rs consumes.

mod delete;
mod handle;
mod http;
mod leases;
mod managed;
mod meta;
mod pod_logs;
mod rbac;
mod requests;
mod reviews;
mod selector;
mod shared;
mod status;
mod store;
mod watch;
mod writes;

pub use handle::{FakeKube, CREATE_MANAGER, UPDATE_MANAGER};
pub use http::WriteRequest;
pub use leases::LEASE_API_VERSION;
pub use pod_logs::{GeneratedLog, PodLogRequest};
pub use rbac::{AccessRule, Subject};
pub use reviews::ReviewedUser;

/// Fixtures of the unit tests of these modules.
#[cfg(test)]
mod test_support {
    use serde_json::{json, Value};

    use super::meta::Resource;

    /// The TaskRun resource.
    pub(super) fn tekton() -> Resource {
        Resource::new("tekton.dev/v1", "taskruns")
    }

    /// A minimal TaskRun named `name` in namespace `ns`.
    pub(super) fn task_run(name: &str) -> Value {
        json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": name, "namespace": "ns"}, "spec": {}})
    }
}
