//! `coordination.k8s.io/v1` Leases, as leader election uses them: stored like any object
//! (get, create, replace with resourceVersion preconditions → 409 Conflict), checked the
//! way the apiserver validates a Lease spec.

use serde_json::Value;

use super::meta::{meta_str, Resource};
use super::status::{ApiError, ApiResult};

/// The API version of Leases.
pub const LEASE_API_VERSION: &str = "coordination.k8s.io/v1";

/// The Lease resource.
pub(crate) fn resource() -> Resource {
    Resource::new(LEASE_API_VERSION, "leases")
}

/// Refuses a Lease whose spec the apiserver would refuse (422): a duration that is not
/// positive, negative transitions, times that are not RFC 3339. Other resources pass.
pub(crate) fn validate(resource: &Resource, object: &Value) -> ApiResult<()> {
    if *resource != self::resource() {
        return Ok(());
    }
    let name = meta_str(object, "name");
    let spec = &object["spec"];
    let invalid = |why: String| Err(ApiError::invalid(resource, name, &why));
    if let Some(secs) = spec.get("leaseDurationSeconds").filter(|v| !v.is_null()) {
        if secs
            .as_i64()
            .is_none_or(|s| s <= 0 || s > i64::from(i32::MAX))
        {
            return invalid(format!(
                "spec.leaseDurationSeconds: Invalid value: {secs}: must be greater than 0"
            ));
        }
    }
    if let Some(n) = spec.get("leaseTransitions").filter(|v| !v.is_null()) {
        if n.as_i64().is_none_or(|n| n < 0) {
            return invalid(format!(
                "spec.leaseTransitions: Invalid value: {n}: must be greater than or equal to 0"
            ));
        }
    }
    for field in ["acquireTime", "renewTime"] {
        if let Some(time) = spec.get(field).filter(|v| !v.is_null()) {
            let parses = time
                .as_str()
                .is_some_and(|t| t.parse::<k8s_openapi::jiff::Timestamp>().is_ok());
            if !parses {
                return invalid(format!("spec.{field}: Invalid value: {time}: not a time"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fake_kube::store::Store;

    fn lease(spec: Value) -> Value {
        json!({"apiVersion": LEASE_API_VERSION, "kind": "Lease",
               "metadata": {"name": "l", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn a_stale_replace_conflicts_and_a_second_create_already_exists() {
        let mut store = Store::new();
        let spec = json!({"holderIdentity": "a", "leaseDurationSeconds": 15,
                          "renewTime": "2026-12-06T08:00:00.000000Z"});
        let created = store
            .create(&resource(), "ns", lease(spec.clone()), "a")
            .unwrap();
        let again = store
            .create(&resource(), "ns", lease(spec), "b")
            .unwrap_err();
        assert_eq!((again.code, again.reason), (409, "AlreadyExists"));
        let mut renewed = created.clone();
        renewed["spec"]["renewTime"] = json!("2026-12-06T08:00:05.000000Z");
        let renewed = store.replace(&resource(), "ns", "l", renewed, "a").unwrap();
        assert_ne!(
            renewed["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        let mut taken = created;
        taken["spec"]["holderIdentity"] = json!("b");
        let stale = store
            .replace(&resource(), "ns", "l", taken, "b")
            .unwrap_err();
        assert_eq!((stale.code, stale.reason), (409, "Conflict"));
        let stored = store.get(&resource(), "ns", "l").unwrap();
        assert_eq!(stored["spec"]["holderIdentity"], "a");
    }

    #[test]
    fn invalid_specs_are_refused() {
        let mut store = Store::new();
        for spec in [
            json!({"leaseDurationSeconds": 0}),
            json!({"leaseDurationSeconds": -1}),
            json!({"leaseTransitions": -1}),
            json!({"renewTime": "yesterday"}),
        ] {
            let error = store
                .create(&resource(), "ns", lease(spec.clone()), "a")
                .unwrap_err();
            assert_eq!(error.code, 422, "{spec}");
        }
        let released = json!({"holderIdentity": null, "leaseDurationSeconds": 15});
        store
            .create(&resource(), "ns", lease(released), "a")
            .unwrap();
    }
}
