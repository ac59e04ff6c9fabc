//! The operations behind the HTTP routes: parse a request's query and body, call the store
//! (or start a watch stream) and shape the answer as the apiserver does.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::delete::{DeleteOptions, Propagation};
use super::http::{answer, Query};
use super::meta::Resource;
use super::selector::Selector;
use super::shared::Shared;
use super::status::{ApiError, ApiResult};
use super::store::Store;
use super::watch::{self, WatchRequest};
use super::writes::Patch;

/// One request's context.
pub(super) struct Call<'a> {
    pub shared: &'a Arc<Shared>,
    pub query: &'a Query,
    pub manager: &'a str,
}

pub(super) type ObjectRef<'a> = (&'a Resource, &'a str, &'a str);

impl Call<'_> {
    /// Runs a write, or only pretends to for `dryRun=All`.
    fn write<T>(&self, dry_run: bool, op: impl FnOnce(&mut Store) -> ApiResult<T>) -> ApiResult<T> {
        if dry_run {
            self.shared.write(|s| s.dry_run(op))
        } else {
            self.shared.write(op)
        }
    }

    pub(super) fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
    ) -> ApiResult<(u16, Value)> {
        let selector = self.selector()?;
        let limit = match self.query.get("limit") {
            Some(limit) => Some(
                limit
                    .parse()
                    .map_err(|_| ApiError::bad_request("invalid limit"))?,
            ),
            None => None,
        };
        let continue_token = self.query.get("continue").filter(|c| !c.is_empty());
        let (page, kind) = self.shared.read(|s| {
            let page = s.list(resource, namespace, &selector, limit, continue_token);
            (page, s.kind(resource))
        });
        let page = page?;
        let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
        if let Some(token) = page.continue_token {
            metadata["continue"] = token.into();
            metadata["remainingItemCount"] = page.remaining.into();
        }
        let items: Vec<&Value> = page.items.iter().map(|o| &**o).collect();
        let list = json!({
            "apiVersion": resource.api_version(),
            "kind": format!("{kind}List"),
            "metadata": metadata,
            "items": items,
        });
        Ok((200, list))
    }

    pub(super) fn watch(&self, resource: Resource, namespace: Option<String>) -> HttpResponse {
        let request = match self.watch_request(resource, namespace) {
            Ok(request) => request,
            Err(error) => return answer(Err(error)),
        };
        HttpResponse::Ok()
            .content_type("application/json")
            .streaming(watch::stream(self.shared.clone(), request))
    }

    fn watch_request(
        &self,
        resource: Resource,
        namespace: Option<String>,
    ) -> ApiResult<WatchRequest> {
        let since =
            match self.query.get("resourceVersion") {
                None | Some("" | "0") => None,
                Some(rv) => Some(rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?),
            };
        let timeout = match self.query.get("timeoutSeconds") {
            Some(secs) => {
                Some(Duration::from_secs(secs.parse().map_err(|_| {
                    ApiError::bad_request("invalid timeoutSeconds")
                })?))
            }
            None => None,
        };
        Ok(WatchRequest {
            resource,
            namespace,
            selector: self.selector()?,
            since,
            initial_events: self.query.flag("sendInitialEvents"),
            bookmarks: self.query.flag("allowWatchBookmarks"),
            timeout,
        })
    }

    fn selector(&self) -> ApiResult<Selector> {
        Selector::parse(
            self.query.get("labelSelector"),
            self.query.get("fieldSelector"),
        )
        .map_err(ApiError::bad_request)
    }

    pub(super) fn create(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        body: &[u8],
    ) -> ApiResult<(u16, Value)> {
        let body = parse_json(body)?;
        let namespace = namespace.unwrap_or_default();
        let created = self.write(self.query.dry_run(), |s| {
            s.create(resource, namespace, body, self.manager)
        })?;
        Ok((201, created))
    }

    pub(super) fn replace(
        &self,
        (resource, namespace, name): ObjectRef<'_>,
        body: &[u8],
    ) -> ApiResult<(u16, Value)> {
        let body = parse_json(body)?;
        let replaced = self.write(self.query.dry_run(), |s| {
            s.replace(resource, namespace, name, body, self.manager)
        })?;
        Ok((200, replaced))
    }

    pub(super) fn patch(
        &self,
        (resource, namespace, name): ObjectRef<'_>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> ApiResult<(u16, Value)> {
        let content_type = content_type.unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        let dry_run = self.query.dry_run();
        let patch = match media_type {
            "application/apply-patch+yaml" => {
                let Some(manager) = self.query.get("fieldManager").filter(|m| !m.is_empty()) else {
                    return Err(ApiError::bad_request(
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: \
                         is required for apply patch",
                    ));
                };
                let body = serde_json::from_slice(body).map_err(|e| {
                    ApiError::bad_request(format!(
                        "the fake apiserver takes apply patches as JSON only: {e}"
                    ))
                })?;
                let force = self.query.flag("force");
                let (object, created) = self.write(dry_run, |s| {
                    s.apply(resource, namespace, name, &body, manager, force)
                })?;
                return Ok((if created { 201 } else { 200 }, object));
            }
            "application/merge-patch+json" => Patch::Merge(parse_json(body)?),
            "application/json-patch+json" => Patch::Json(
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?,
            ),
            // Strategic merge patches are refused for custom resources by the real apiserver.
            _ => return Err(ApiError::unsupported_media_type(content_type)),
        };
        let patched = self.write(dry_run, |s| {
            s.patch(resource, namespace, name, &patch, self.manager)
        })?;
        Ok((200, patched))
    }

    pub(super) fn delete(
        &self,
        (resource, namespace, name): ObjectRef<'_>,
        body: &[u8],
    ) -> ApiResult<(u16, Value)> {
        let options = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            parse_json(body)?
        };
        let policy = options["propagationPolicy"]
            .as_str()
            .or_else(|| self.query.get("propagationPolicy"));
        let propagation = match policy {
            Some("Orphan") => Propagation::Orphan,
            None | Some("Background" | "Foreground") => Propagation::Background,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unknown propagationPolicy {other:?}"
                )))
            }
        };
        let propagation = if options["orphanDependents"] == true {
            Propagation::Orphan
        } else {
            propagation
        };
        let delete = DeleteOptions {
            uid: options["preconditions"]["uid"].as_str().map(str::to_owned),
            resource_version: options["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
            propagation,
        };
        let dry_run = self.query.dry_run() || options["dryRun"] == json!(["All"]);
        let deleted = self.write(dry_run, |s| s.delete(resource, namespace, name, &delete))?;
        Ok((200, deleted))
    }

    /// `APIResourceList` of the resources the store knows in `group/version`.
    pub(super) fn discovery(&self, group: &str, version: &str) -> Value {
        let resources: Vec<Value> = self
            .shared
            .read(|s| s.resources_of(group, version))
            .into_iter()
            .map(|(resource, kind)| {
                json!({
                    "name": resource.plural,
                    "singularName": kind.to_lowercase(),
                    "namespaced": true,
                    "kind": kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                })
            })
            .collect();
        let group_version = Resource {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: String::new(),
        }
        .api_version();
        json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        })
    }
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

pub(super) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "gitVersion": "v1.34.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-08-27T00:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
