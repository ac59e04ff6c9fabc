//! Results on the wire.

use results_actors::limits::{check_annotations, check_len, MAX_ETAG_BYTES, MAX_NAME_BYTES};
use results_actors::model::{
    ListScope, NewResult, RecordSummary, ResultName, ResultReplacement, Status, StoredResult,
};
use results_actors::ListRequest;

use super::time::{timestamp_from_pb, timestamp_to_pb};
use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;

/// A stored Result on the wire; deprecated fields mirror their successors.
pub fn result_to_pb(r: StoredResult) -> pb::Result {
    let etag = r.etag();
    let create = timestamp_to_pb(r.create_time);
    let update = timestamp_to_pb(r.update_time);
    pb::Result {
        name: r.name.to_string(),
        id: r.uid.clone(),
        uid: r.uid,
        created_time: Some(create),
        create_time: Some(create),
        updated_time: Some(update),
        update_time: Some(update),
        annotations: r.annotations.into_iter().collect(),
        etag,
        summary: r.summary.map(summary_to_pb),
    }
}

fn summary_to_pb(s: RecordSummary) -> pb::RecordSummary {
    pb::RecordSummary {
        record: s.record,
        r#type: s.type_,
        start_time: s.start_time.map(timestamp_to_pb),
        end_time: s.end_time.map(timestamp_to_pb),
        status: s.status as i32,
        annotations: s.annotations.into_iter().collect(),
    }
}

fn summary_from_pb(s: pb::RecordSummary) -> Result<RecordSummary, ApiError> {
    let summary = RecordSummary {
        start_time: s
            .start_time
            .as_ref()
            .map(|t| timestamp_from_pb(t, "summary.start_time"))
            .transpose()?,
        end_time: s
            .end_time
            .as_ref()
            .map(|t| timestamp_from_pb(t, "summary.end_time"))
            .transpose()?,
        record: s.record,
        type_: s.r#type,
        status: Status::parse(s.status)?,
        annotations: s.annotations.into_iter().collect(),
    };
    summary.validate()?;
    Ok(summary)
}

/// CreateResult: the name must lie under the request's parent.
pub fn create_result(req: pb::CreateResultRequest) -> Result<NewResult, ApiError> {
    let result = req
        .result
        .ok_or_else(|| ApiError::InvalidArgument("result is required".into()))?;
    let name = ResultName::parse(&result.name)?;
    check_annotations("annotations", result.annotations.iter())?;
    if name.parent != req.parent {
        return Err(ApiError::InvalidArgument(format!(
            "result name {:?} is not under parent {:?}",
            result.name, req.parent
        )));
    }
    Ok(NewResult {
        name,
        annotations: result.annotations.into_iter().collect(),
        summary: result.summary.map(summary_from_pb).transpose()?,
    })
}

/// UpdateResult: `name` identifies the Result; a differing `result.name` is an error.
pub fn update_result(req: pb::UpdateResultRequest) -> Result<ResultReplacement, ApiError> {
    let name = ResultName::parse(&req.name)?;
    check_len("etag", &req.etag, MAX_ETAG_BYTES)?;
    let result = req.result.unwrap_or_default();
    check_len("result.name", &result.name, MAX_NAME_BYTES)?;
    check_annotations("annotations", result.annotations.iter())?;
    if !result.name.is_empty() && result.name != req.name {
        return Err(ApiError::InvalidArgument(format!(
            "result.name {:?} differs from name {:?}; results cannot be renamed",
            result.name, req.name
        )));
    }
    Ok(ResultReplacement {
        name,
        etag: Some(req.etag).filter(|e| !e.is_empty()),
        annotations: result.annotations.into_iter().collect(),
        summary: result.summary.map(summary_from_pb).transpose()?,
    })
}

/// ListResults: `parent` is a namespace or `-`.
pub fn list_results(req: pb::ListResultsRequest) -> Result<ListRequest<ListScope>, ApiError> {
    Ok(ListRequest {
        scope: ListScope::parse(&req.parent, "parent", &req.parent)?,
        filter: req.filter,
        page_size: req.page_size,
        page_token: req.page_token,
        order_by: req.order_by,
    })
}
