//! Failures as the apiserver reports them: a `Status` object with a reason and an HTTP code,
//! which kube-rs turns into `kube::Error::Api`.

use std::fmt;

use serde_json::{json, Value};

use super::meta::Resource;

/// A failed request, rendered as a `meta/v1` `Status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> ApiError {
        ApiError {
            code,
            reason,
            message,
            details: None,
        }
    }

    fn about(mut self, resource: &Resource, name: &str) -> ApiError {
        self.details = Some(json!({
            "name": name,
            "group": resource.group,
            "kind": resource.plural,
        }));
        self
    }

    pub fn not_found(resource: &Resource, name: &str) -> ApiError {
        let message = format!("{} \"{name}\" not found", resource.group_resource());
        Self::new(404, "NotFound", message).about(resource, name)
    }

    pub fn already_exists(resource: &Resource, name: &str) -> ApiError {
        let message = format!("{} \"{name}\" already exists", resource.group_resource());
        Self::new(409, "AlreadyExists", message).about(resource, name)
    }

    /// An optimistic-concurrency failure ("Operation cannot be fulfilled on …").
    pub fn conflict(resource: &Resource, name: &str, why: &str) -> ApiError {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            resource.group_resource()
        );
        Self::new(409, "Conflict", message).about(resource, name)
    }

    /// A failed delete precondition (the apiserver reports it as a plain Conflict).
    pub fn precondition_failed(resource: &Resource, name: &str, why: String) -> ApiError {
        Self::new(409, "Conflict", format!("Precondition failed: {why}")).about(resource, name)
    }

    /// A server-side apply that would take fields owned by other managers, without `force`.
    pub fn apply_conflicts(
        resource: &Resource,
        name: &str,
        conflicts: &[ApplyConflict],
    ) -> ApiError {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                    "field": c.field,
                })
            })
            .collect();
        let list: Vec<String> = conflicts
            .iter()
            .map(|c| {
                format!(
                    "conflict with \"{}\" using {}: {}",
                    c.manager, c.api_version, c.field
                )
            })
            .collect();
        let noun = if conflicts.len() == 1 {
            "conflict"
        } else {
            "conflicts"
        };
        let message = format!(
            "Apply failed with {} {noun}: {}",
            conflicts.len(),
            list.join("\n")
        );
        let mut error = Self::new(409, "Conflict", message).about(resource, name);
        if let Some(details) = error.details.as_mut() {
            details["causes"] = Value::Array(causes);
        }
        error
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(400, "BadRequest", message.into())
    }

    /// A validation failure (422).
    pub fn invalid(resource: &Resource, name: &str, why: &str) -> ApiError {
        let message = format!("{} \"{name}\" is invalid: {why}", resource.group_resource());
        Self::new(422, "Invalid", message).about(resource, name)
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        let message = format!(
            "the body of the request was in an unknown format ({content_type}) - accepted media \
             types include: application/json-patch+json, application/merge-patch+json, \
             application/apply-patch+yaml"
        );
        Self::new(415, "UnsupportedMediaType", message)
    }

    pub fn method_not_allowed(method: &str) -> ApiError {
        let message = format!("{method} is not supported by the fake apiserver on this path");
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unknown_path() -> ApiError {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        )
    }

    /// The watch asked for history that was compacted away (410).
    pub fn expired(requested: u64, oldest: u64) -> ApiError {
        let message = format!("too old resource version: {requested} ({oldest})");
        Self::new(410, "Expired", message)
    }

    /// A failure with `code` and the reason the apiserver gives it, as an outage or a
    /// rejecting proxy would answer (`fail_reviews`).
    pub fn failure(code: u16) -> ApiError {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "",
        };
        Self::new(
            code,
            reason,
            format!("the fake apiserver fails reviews with {code}"),
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

/// A field that a server-side apply wants but another manager owns with another value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApplyConflict {
    pub manager: String,
    pub api_version: String,
    /// The field path, e.g. `.metadata.annotations.foo`.
    pub field: String,
}

/// Shorthand for results of the fake apiserver's operations.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
