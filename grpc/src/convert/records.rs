//! Records on the wire.

use results_actors::limits::{check_len, MAX_ETAG_BYTES};
use results_actors::model::{
    NewRecord, RecordData, RecordName, RecordPatch, RecordScope, StoredRecord,
};
use results_actors::ListRequest;

use super::time::timestamp_to_pb;
use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;

/// A stored Record on the wire; deprecated fields mirror their successors.
pub fn record_to_pb(r: StoredRecord) -> pb::Record {
    let etag = r.etag();
    let create = timestamp_to_pb(r.create_time);
    let update = timestamp_to_pb(r.update_time);
    pb::Record {
        name: r.name.to_string(),
        id: r.uid.clone(),
        uid: r.uid,
        data: Some(pb::Any {
            r#type: r.data.type_,
            value: r.data.value,
        }),
        etag,
        created_time: Some(create),
        create_time: Some(create),
        updated_time: Some(update),
        update_time: Some(update),
    }
}

fn data_from_pb(data: Option<pb::Any>) -> Result<RecordData, ApiError> {
    let data = data.unwrap_or_default();
    Ok(RecordData::new(data.r#type, data.value)?)
}

/// CreateRecord: the name must lie under the request's parent Result.
pub fn create_record(req: pb::CreateRecordRequest) -> Result<NewRecord, ApiError> {
    let record = req
        .record
        .ok_or_else(|| ApiError::InvalidArgument("record is required".into()))?;
    let name = RecordName::parse(&record.name)?;
    if name.result_name().to_string() != req.parent {
        return Err(ApiError::InvalidArgument(format!(
            "record name {:?} is not under parent {:?}",
            record.name, req.parent
        )));
    }
    Ok(NewRecord {
        name,
        data: data_from_pb(record.data)?,
    })
}

/// UpdateRecord: `record.name` identifies the Record; fields merge.
pub fn update_record(req: pb::UpdateRecordRequest) -> Result<RecordPatch, ApiError> {
    let record = req
        .record
        .ok_or_else(|| ApiError::InvalidArgument("record is required".into()))?;
    let name = RecordName::parse(&record.name)?;
    check_len("etag", &req.etag, MAX_ETAG_BYTES)?;
    Ok(RecordPatch::new(name, req.etag, data_from_pb(record.data)?))
}

/// ListRecords: `parent` is `<parent>/results/<result>`, either may be `-`.
pub fn list_records(req: pb::ListRecordsRequest) -> Result<ListRequest<RecordScope>, ApiError> {
    Ok(ListRequest {
        scope: RecordScope::parse(&req.parent)?,
        filter: req.filter,
        page_size: req.page_size,
        page_token: req.page_token,
        order_by: req.order_by,
    })
}
