//! Record summaries on the wire: the request's parent, filter and aggregates in; one
//! `google.protobuf.Struct` per row out.

use prost_types::value::Kind;
use results_actors::messages::SummarizeRecords;
use results_actors::model::RecordScope;
use results_actors::summary::{SummaryRow, SummarySpec, SummaryValue};

use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;

/// GetRecordListSummary request → actor message.
pub fn summarize_records(req: pb::RecordListSummaryRequest) -> Result<SummarizeRecords, ApiError> {
    Ok(SummarizeRecords {
        scope: RecordScope::parse(&req.parent)?,
        spec: SummarySpec::parse(&req.summary, &req.group_by, &req.order_by)?,
        filter: req.filter,
    })
}

/// Summary rows → the wire answer.
pub fn summary_to_pb(rows: Vec<SummaryRow>) -> pb::RecordListSummary {
    let summary = rows
        .into_iter()
        .map(|row| prost_types::Struct {
            fields: row
                .into_iter()
                .map(|(k, v)| {
                    let kind = match v {
                        SummaryValue::Number(n) => Kind::NumberValue(n),
                        SummaryValue::Text(t) => Kind::StringValue(t),
                        SummaryValue::Null => Kind::NullValue(0),
                    };
                    (k, prost_types::Value { kind: Some(kind) })
                })
                .collect(),
        })
        .collect();
    pb::RecordListSummary { summary }
}
