//! The HTTP front of the fake apiserver: one actix-web handler that routes the generic
//! resource paths and methods to [`super::requests`], the review endpoints to
//! [`super::reviews`] and pod logs to [`super::pod_logs`], answers JSON (or a watch stream) and logs every write request.

use std::collections::HashMap;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::meta::Resource;
use super::requests::{version, Call};
use super::reviews::Review;
use super::shared::Shared;
use super::status::{ApiError, ApiResult};

/// A write request received over HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRequest {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The URL path, e.g. `/apis/tekton.dev/v1/namespaces/ns/taskruns/run`.
    pub path: String,
    /// The raw query string, e.g. `fieldManager=results-watcher&force=true`.
    pub query: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `fieldManager` query parameter, if any.
    pub field_manager: Option<String>,
    /// The body, if it was JSON.
    pub body: Option<Value>,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Version,
    Discovery {
        group: String,
        version: String,
    },
    Collection {
        resource: Resource,
        namespace: Option<String>,
    },
    Object {
        resource: Resource,
        namespace: String,
        name: String,
    },
    /// A TokenReview or SubjectAccessReview, answered from the registered tokens and rules.
    Review(Review),
    /// `pods/{pod}/log`: a container's log.
    PodLog {
        namespace: String,
        pod: String,
    },
    Unknown,
}

fn route(path: &str) -> Route {
    if let Some(review) = Review::at(path) {
        return Route::Review(review);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Route::Version,
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Route::Unknown,
    };
    let resource = |plural: &str| Resource {
        group: group.to_owned(),
        version: version.to_owned(),
        plural: plural.to_owned(),
    };
    match rest {
        ["namespaces", namespace, "pods", pod, "log"] if group.is_empty() && version == "v1" => {
            Route::PodLog {
                namespace: (*namespace).to_owned(),
                pod: (*pod).to_owned(),
            }
        }
        [] => Route::Discovery {
            group: group.to_owned(),
            version: version.to_owned(),
        },
        ["namespaces", namespace, plural] => Route::Collection {
            resource: resource(plural),
            namespace: Some((*namespace).to_owned()),
        },
        ["namespaces", namespace, plural, name] => Route::Object {
            resource: resource(plural),
            namespace: (*namespace).to_owned(),
            name: (*name).to_owned(),
        },
        [plural] => Route::Collection {
            resource: resource(plural),
            namespace: None,
        },
        [plural, name] => Route::Object {
            resource: resource(plural),
            namespace: String::new(),
            name: (*name).to_owned(),
        },
        // Subresources (status, scale, …) are not modelled.
        _ => Route::Unknown,
    }
}

/// The query parameters of a request.
pub(super) struct Query(HashMap<String, String>);

impl Query {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(super) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub(super) fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// Serves every request.
pub(crate) async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let shared = shared.into_inner();
    let method = request.method().clone();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query = match web::Query::<HashMap<String, String>>::from_query(request.query_string()) {
        Ok(query) => Query(query.into_inner()),
        Err(e) => return answer(Err(ApiError::bad_request(format!("invalid query: {e}")))),
    };
    let manager = query
        .get("fieldManager")
        .map(str::to_owned)
        .or_else(|| user_agent_prefix(&request))
        .unwrap_or_else(|| "unknown".into());
    let call = Call {
        shared: &shared,
        query: &query,
        manager: &manager,
    };
    let route = route(request.path());
    // Reviews are logged apart (`FakeKube::token_reviews`), they write nothing.
    let is_write = !matches!(route, Route::Review(_))
        && [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(&method);
    let response = match route {
        Route::Version if method == Method::GET => answer(Ok((200, version()))),
        Route::Discovery { group, version } if method == Method::GET => {
            answer(Ok((200, call.discovery(&group, &version))))
        }
        Route::Collection {
            resource,
            namespace,
        } => match method {
            Method::GET if query.flag("watch") => call.watch(resource, namespace),
            Method::GET => answer(call.list(&resource, namespace.as_deref())),
            Method::POST => answer(call.create(&resource, namespace.as_deref(), &body)),
            _ => answer(Err(ApiError::method_not_allowed(method.as_str()))),
        },
        Route::Object {
            resource,
            namespace,
            name,
        } => {
            let object = (&resource, namespace.as_str(), name.as_str());
            match method {
                Method::GET => answer(
                    shared
                        .read(|s| s.get(object.0, object.1, object.2))
                        .map(|o| (200, (*o).clone())),
                ),
                Method::PUT => answer(call.replace(object, &body)),
                Method::PATCH => answer(call.patch(object, content_type.as_deref(), &body)),
                Method::DELETE => answer(call.delete(object, &body)),
                _ => answer(Err(ApiError::method_not_allowed(method.as_str()))),
            }
        }
        Route::PodLog { namespace, pod } if method == Method::GET => {
            shared
                .pod_logs()
                .serve(&namespace, &pod, &query, request.query_string())
        }
        Route::PodLog { .. } => answer(Err(ApiError::method_not_allowed(method.as_str()))),
        Route::Review(review) if method == Method::POST => {
            answer(shared.reviews().answer(review, &body))
        }
        Route::Version | Route::Discovery { .. } | Route::Review(_) => {
            answer(Err(ApiError::method_not_allowed(method.as_str())))
        }
        Route::Unknown => answer(Err(ApiError::unknown_path())),
    };
    if is_write {
        shared.record(WriteRequest {
            method: method.to_string(),
            path: request.path().to_owned(),
            query: request.query_string().to_owned(),
            content_type,
            field_manager: query.get("fieldManager").map(str::to_owned),
            body: serde_json::from_slice(&body).ok(),
            status: response.status().as_u16(),
        });
    }
    response
}

/// The field manager the apiserver derives when none is given: the User-Agent up to `/`.
fn user_agent_prefix(request: &HttpRequest) -> Option<String> {
    let agent = request.headers().get(header::USER_AGENT)?.to_str().ok()?;
    agent
        .split('/')
        .next()
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

pub(super) fn answer(outcome: ApiResult<(u16, Value)>) -> HttpResponse {
    let (code, body) = match outcome {
        Ok(ok) => ok,
        Err(error) => (error.code, error.to_status()),
    };
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_resource_paths() {
        let taskruns = Resource::new("tekton.dev/v1", "taskruns");
        assert_eq!(
            route("/apis/tekton.dev/v1/taskruns"),
            Route::Collection {
                resource: taskruns.clone(),
                namespace: None
            }
        );
        assert_eq!(
            route("/apis/tekton.dev/v1/namespaces/ns/taskruns"),
            Route::Collection {
                resource: taskruns.clone(),
                namespace: Some("ns".into())
            }
        );
        assert_eq!(
            route("/apis/tekton.dev/v1/namespaces/ns/taskruns/a"),
            Route::Object {
                resource: taskruns,
                namespace: "ns".into(),
                name: "a".into()
            }
        );
        assert_eq!(
            route("/api/v1/namespaces/ns/configmaps/c"),
            Route::Object {
                resource: Resource::new("v1", "configmaps"),
                namespace: "ns".into(),
                name: "c".into()
            }
        );
        assert_eq!(
            route("/apis/tekton.dev/v1/namespaces/ns/taskruns/a/status"),
            Route::Unknown
        );
        assert_eq!(
            route("/apis/authorization.k8s.io/v1/subjectaccessreviews"),
            Route::Review(Review::Access)
        );
        assert_eq!(
            route("/api/v1/namespaces/ns/pods/p/log"),
            Route::PodLog {
                namespace: "ns".into(),
                pod: "p".into()
            }
        );
        assert_eq!(route("/api/v1/namespaces/ns/pods/p/exec"), Route::Unknown);
        assert_eq!(route("/healthz"), Route::Unknown);
        assert_eq!(route("/version"), Route::Version);
    }
}
