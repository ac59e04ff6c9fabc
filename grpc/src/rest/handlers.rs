//! REST handlers: build the protobuf request from path, query and body, call the shared
//! [`ResultsApi`], answer JSON. Errors are `{code, message, details}` with the HTTP status
//! of their gRPC code.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path, Query};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures::StreamExt;
use results_actors::auth::Credentials;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::budget::Body;
use super::json::{struct_to_json, ListRecordsJson, ListResultsJson, RecordJson, ResultJson};
use crate::convert::fields::FieldMask;
use crate::credentials;
use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;
use crate::service::ResultsApi;
use crate::status::{grpc_code, http_status, message};

/// An error answered as JSON.
#[derive(Debug)]
pub struct RestError {
    pub(super) code: tonic::Code,
    pub(super) message: String,
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ApiError> for RestError {
    fn from(e: ApiError) -> Self {
        RestError {
            code: grpc_code(e.code()),
            message: message(&e),
        }
    }
}

fn invalid(message: String) -> RestError {
    ApiError::InvalidArgument(message).into()
}

impl ResponseError for RestError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(http_status(self.code)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({
            "code": self.code as i32,
            "message": self.message,
            "details": [],
        }))
    }
}

type Answer = Result<HttpResponse, RestError>;

/// The caller's credentials (read only when the server checks them). Extracted before the
/// query and body, so that a caller without a token is answered before they are read.
pub(super) struct Caller(Credentials);

impl FromRequest for Caller {
    type Error = RestError;
    type Future = std::future::Ready<Result<Caller, RestError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let checks = req
            .app_data::<Data<ResultsApi>>()
            .is_some_and(|api| api.checks_credentials());
        std::future::ready(if checks {
            credentials::from_headers(req.headers())
                .and_then(credentials::require_token)
                .map(Caller)
                .map_err(RestError::from)
        } else {
            Ok(Caller(Credentials::default()))
        })
    }
}

/// Parses a request body, consuming it: the bytes are let go as soon as they are parsed.
/// Every body is a message: a JSON object (serde would also read an array as the
/// fields in order, which protojson refuses).
fn body<T: DeserializeOwned>(Body(bytes): Body, what: &str) -> Result<T, RestError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(invalid(format!(
            "request body is not a valid {what}: a JSON object is expected"
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("request body is not a valid {what}: {e}")))
}

fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, RestError> {
    Query::<T>::from_query(req.query_string())
        .map(Query::into_inner)
        .map_err(|e| invalid(format!("invalid query parameters: {e}")))
}

fn ok<T: serde::Serialize>(value: T) -> Answer {
    Ok(HttpResponse::Ok().json(value))
}

/// Query parameters of List calls.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListParams {
    filter: String,
    #[serde(alias = "pageSize")]
    page_size: i32,
    #[serde(alias = "pageToken")]
    page_token: String,
    #[serde(alias = "orderBy")]
    order_by: String,
    fields: String,
    /// `true`: answer a watch stream instead of a page.
    watch: String,
    /// With `watch`: replay the changes after this revision first.
    #[serde(alias = "resumeFrom")]
    resume_from: Option<String>,
}

impl ListParams {
    /// Whether a watch stream is asked for.
    fn watching(&self) -> Result<bool, RestError> {
        match self.watch.as_str() {
            "" | "false" | "0" => Ok(false),
            "true" | "1" => Ok(true),
            other => Err(invalid(format!(
                "watch must be true or false, not {:?}",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    /// The resume point of a watch: `resume_from`, else a server-sent events client's
    /// `Last-Event-ID` (the revision of the last event it got, sent when it reconnects).
    fn watch_from(&self, req: &HttpRequest) -> Result<Option<i64>, RestError> {
        let last_event = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty());
        match self.resume_from.as_deref().or(last_event) {
            None => Ok(None),
            Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                invalid(format!(
                    "resume_from must be a revision (a whole number), not {:?}",
                    text.chars().take(40).collect::<String>()
                ))
            }),
        }
    }

    /// A watch takes a filter and a resume point; paging parameters mean nothing to it.
    fn check_watch(&self) -> Result<(), RestError> {
        let extra = [
            ("page_size", self.page_size != 0),
            ("page_token", !self.page_token.is_empty()),
            ("order_by", !self.order_by.is_empty()),
            ("fields", !self.fields.is_empty()),
        ]
        .into_iter()
        .find(|(_, given)| *given);
        match extra {
            Some((name, _)) => Err(invalid(format!(
                "{name} cannot be used with watch=true (a watch stream has no pages)"
            ))),
            None => Ok(()),
        }
    }
}

/// `?fields=` of Get and POST calls: the partial-response mask.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FieldsParam {
    fields: String,
}

/// The mask of `?fields=`, parsed as gRPC parses its metadata.
fn mask(fields: &str) -> Result<FieldMask, RestError> {
    Ok(FieldMask::parse([fields])?)
}

/// The mask of a request whose only query parameter is `fields`.
fn fields_mask(req: &HttpRequest) -> Result<FieldMask, RestError> {
    let FieldsParam { fields } = query(req)?;
    mask(&fields)
}

/// `?etag=&fields=` of PATCH calls.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EtagParam {
    etag: String,
    fields: String,
}

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

pub(super) async fn not_found(req: HttpRequest) -> Answer {
    Err(RestError {
        code: tonic::Code::NotFound,
        message: format!("no route for {} {}", req.method(), req.path()),
    })
}

pub(super) async fn method_not_allowed(req: HttpRequest) -> Answer {
    Err(RestError {
        code: tonic::Code::Unimplemented,
        message: format!(
            "method {} is not allowed on {} (Method Not Allowed)",
            req.method(),
            req.path()
        ),
    })
}

pub(super) async fn create_result(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<String>,
    req: HttpRequest,
    bytes: Body,
) -> Answer {
    let mask = fields_mask(&req)?;
    let result: ResultJson = body(bytes, "Result")?;
    let req = pb::CreateResultRequest {
        parent: path.into_inner(),
        result: Some(result.into()),
    };
    ok(ResultJson::from(
        api.create_result(&caller.0, req, &mask).await?,
    ))
}

/// `GET …/parents`: the namespaces holding Results that the caller may list (an addition
/// for the UI; upstream has no such listing).
pub(super) async fn list_parents(api: Data<ResultsApi>, caller: Caller) -> Answer {
    let parents = api.list_namespaces(&caller.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "parents": parents })))
}

pub(super) async fn list_results(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<String>,
    req: HttpRequest,
) -> Answer {
    let p: ListParams = query(&req)?;
    if p.watching()? {
        p.check_watch()?;
        let request = pb::WatchResultsRequest {
            parent: path.into_inner(),
            resume_from: p.watch_from(&req)?,
            filter: p.filter,
        };
        let stream = api.watch_results(&caller.0, request).await?;
        return Ok(super::watch::respond(&req, stream, |e| {
            (e.r#type, e.revision, e.object.map(ResultJson::from))
        }));
    }
    let mask = mask(&p.fields)?;
    let req = pb::ListResultsRequest {
        parent: path.into_inner(),
        filter: p.filter,
        page_size: p.page_size,
        page_token: p.page_token,
        order_by: p.order_by,
    };
    let page = api.list_results(&caller.0, req, &mask).await?;
    ok(ListResultsJson {
        results: page.results.into_iter().map(ResultJson::from).collect(),
        next_page_token: page.next_page_token,
    })
}

fn result_name(path: &(String, String)) -> String {
    format!("{}/results/{}", path.0, path.1)
}

pub(super) async fn get_result(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
    req: HttpRequest,
) -> Answer {
    let mask = fields_mask(&req)?;
    let req = pb::GetResultRequest {
        name: result_name(&path),
    };
    ok(ResultJson::from(
        api.get_result(&caller.0, req, &mask).await?,
    ))
}

pub(super) async fn update_result(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
    req: HttpRequest,
    bytes: Body,
) -> Answer {
    let EtagParam { etag, fields } = query(&req)?;
    let mask = mask(&fields)?;
    let result: ResultJson = body(bytes, "Result")?;
    let req = pb::UpdateResultRequest {
        name: result_name(&path),
        result: Some(result.into()),
        etag,
    };
    ok(ResultJson::from(
        api.update_result(&caller.0, req, &mask).await?,
    ))
}

pub(super) async fn delete_result(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
) -> Answer {
    api.delete_result(
        &caller.0,
        pb::DeleteResultRequest {
            name: result_name(&path),
        },
    )
    .await?;
    ok(serde_json::json!({}))
}

pub(super) async fn create_record(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
    req: HttpRequest,
    bytes: Body,
) -> Answer {
    let mask = fields_mask(&req)?;
    let record: RecordJson = body(bytes, "Record")?;
    let req = pb::CreateRecordRequest {
        parent: result_name(&path),
        record: Some(record.into()),
    };
    ok(RecordJson::from(
        api.create_record(&caller.0, req, &mask).await?,
    ))
}

pub(super) async fn list_records(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
    req: HttpRequest,
) -> Answer {
    let p: ListParams = query(&req)?;
    if p.watching()? {
        p.check_watch()?;
        let request = pb::WatchRecordsRequest {
            parent: result_name(&path),
            resume_from: p.watch_from(&req)?,
            filter: p.filter,
        };
        let stream = api.watch_records(&caller.0, request).await?;
        return Ok(super::watch::respond(&req, stream, |e| {
            (e.r#type, e.revision, e.object.map(RecordJson::from))
        }));
    }
    let mask = mask(&p.fields)?;
    let req = pb::ListRecordsRequest {
        parent: result_name(&path),
        filter: p.filter,
        page_size: p.page_size,
        page_token: p.page_token,
        order_by: p.order_by,
    };
    let page = api.list_records(&caller.0, req, &mask).await?;
    ok(ListRecordsJson {
        records: page.records.into_iter().map(RecordJson::from).collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn record_list_summary(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
    req: HttpRequest,
) -> Answer {
    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Params {
        summary: String,
        filter: String,
        #[serde(alias = "groupBy")]
        group_by: String,
        #[serde(alias = "orderBy")]
        order_by: String,
    }
    let p: Params = query(&req)?;
    let req = pb::RecordListSummaryRequest {
        parent: result_name(&path),
        summary: p.summary,
        filter: p.filter,
        group_by: p.group_by,
        order_by: p.order_by,
    };
    let summary = api.get_record_list_summary(&caller.0, req).await?;
    let rows: Vec<serde_json::Value> = summary.summary.into_iter().map(struct_to_json).collect();
    ok(serde_json::json!({ "summary": rows }))
}

fn record_name(path: &(String, String, String)) -> String {
    format!("{}/results/{}/records/{}", path.0, path.1, path.2)
}

pub(super) async fn get_record(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String, String)>,
    req: HttpRequest,
) -> Answer {
    let mask = fields_mask(&req)?;
    let req = pb::GetRecordRequest {
        name: record_name(&path),
    };
    ok(RecordJson::from(
        api.get_record(&caller.0, req, &mask).await?,
    ))
}

pub(super) async fn update_record(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String, String)>,
    req: HttpRequest,
    bytes: Body,
) -> Answer {
    let EtagParam { etag, fields } = query(&req)?;
    let mask = mask(&fields)?;
    let mut record: RecordJson = body(bytes, "Record")?;
    let name = record_name(&path);
    if !record.name.is_empty() && record.name != name {
        return Err(invalid(format!(
            "record.name {:?} differs from the path's {name:?}; records cannot be renamed",
            record.name
        )));
    }
    record.name = name;
    let req = pb::UpdateRecordRequest {
        record: Some(record.into()),
        update_mask: None,
        etag,
    };
    ok(RecordJson::from(
        api.update_record(&caller.0, req, &mask).await?,
    ))
}

pub(super) async fn delete_record(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String, String)>,
) -> Answer {
    api.delete_record(
        &caller.0,
        pb::DeleteRecordRequest {
            name: record_name(&path),
        },
    )
    .await?;
    ok(serde_json::json!({}))
}

/// `GET .../logs`: ListLogs, the Log Records (query parameters as ListRecords).
pub(super) async fn list_logs(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<(String, String)>,
    req: HttpRequest,
) -> Answer {
    let p: ListParams = query(&req)?;
    if p.watching()? {
        return Err(invalid(
            "logs cannot be watched: watch the records (…/records?watch=true) instead".into(),
        ));
    }
    let request = pb::ListRecordsRequest {
        parent: result_name(&path),
        filter: p.filter,
        page_size: p.page_size,
        page_token: p.page_token,
        order_by: p.order_by,
    };
    let page = api.list_logs(&caller.0, request).await?;
    ok(ListRecordsJson {
        records: page.records.into_iter().map(RecordJson::from).collect(),
        next_page_token: page.next_page_token,
    })
}

fn log_name(parent: &str, result: &str, record: &str, part: Option<&str>) -> String {
    match part {
        Some(part) => format!("{parent}/results/{result}/logs/{record}/{part}"),
        None => format!("{parent}/results/{result}/logs/{record}"),
    }
}

/// `GET .../logs/{record}[/{part}]`: GetLog, the log streamed as `text/plain`.
pub(super) async fn get_log(api: Data<ResultsApi>, caller: Caller, path: Path<LogPath>) -> Answer {
    let name = log_name(
        &path.parent,
        &path.result,
        &path.record,
        path.part.as_deref(),
    );
    let chunks = api.get_log(&caller.0, &name).await?;
    let body = chunks.map(|chunk| {
        chunk.map_err(|e| {
            let error = RestError::from(ApiError::from(e));
            actix_web::error::ErrorInternalServerError(error.message)
        })
    });
    Ok(HttpResponse::Ok()
        .content_type(crate::service::LOG_CONTENT_TYPE)
        .streaming(body))
}

/// `DELETE .../logs/{record}[/{part}]`: DeleteLog.
pub(super) async fn delete_log(
    api: Data<ResultsApi>,
    caller: Caller,
    path: Path<LogPath>,
) -> Answer {
    let name = log_name(
        &path.parent,
        &path.result,
        &path.record,
        path.part.as_deref(),
    );
    api.delete_log(&caller.0, &name).await?;
    ok(serde_json::json!({}))
}

/// The path of a log: a record and maybe a part.
#[derive(Debug, Deserialize)]
pub(super) struct LogPath {
    parent: String,
    result: String,
    record: String,
    part: Option<String>,
}
