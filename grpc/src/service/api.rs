//! One function per RPC: convert the request, one actor call, convert the answer. gRPC and
//! REST both call these, so they give the same results and errors.

use results_actors::model::{RecordName, ResultName};
use results_actors::Actors;

use crate::convert;
use crate::convert::fields::{self, FieldMask};
use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;

/// The Results API over the actors.
#[derive(Debug, Clone)]
pub struct ResultsApi {
    actors: Actors,
}

impl ResultsApi {
    /// Serves requests through `actors`.
    pub fn new(actors: Actors) -> Self {
        ResultsApi { actors }
    }

    /// CreateResult, answering the fields `mask` keeps.
    pub async fn create_result(
        &self,
        req: pb::CreateResultRequest,
        mask: &FieldMask,
    ) -> Result<pb::Result, ApiError> {
        let new = convert::create_result(req)?;
        let mut result = convert::result_to_pb(self.actors.create_result(new).await?);
        fields::trim_result(mask, &mut result);
        Ok(result)
    }

    /// GetResult, answering the fields `mask` keeps.
    pub async fn get_result(
        &self,
        req: pb::GetResultRequest,
        mask: &FieldMask,
    ) -> Result<pb::Result, ApiError> {
        let name = ResultName::parse(&req.name)?;
        let mut result = convert::result_to_pb(self.actors.get_result(name).await?);
        fields::trim_result(mask, &mut result);
        Ok(result)
    }

    /// UpdateResult, answering the fields `mask` keeps.
    pub async fn update_result(
        &self,
        req: pb::UpdateResultRequest,
        mask: &FieldMask,
    ) -> Result<pb::Result, ApiError> {
        let replacement = convert::update_result(req)?;
        let mut result = convert::result_to_pb(self.actors.update_result(replacement).await?);
        fields::trim_result(mask, &mut result);
        Ok(result)
    }

    /// DeleteResult.
    pub async fn delete_result(&self, req: pb::DeleteResultRequest) -> Result<(), ApiError> {
        let name = ResultName::parse(&req.name)?;
        Ok(self.actors.delete_result(name).await?)
    }

    /// ListResults, answering the fields `mask` keeps.
    pub async fn list_results(
        &self,
        req: pb::ListResultsRequest,
        mask: &FieldMask,
    ) -> Result<pb::ListResultsResponse, ApiError> {
        let page = self
            .actors
            .list_results(convert::list_results(req)?)
            .await?;
        let mut answer = pb::ListResultsResponse {
            results: page.items.into_iter().map(convert::result_to_pb).collect(),
            next_page_token: page.next_page_token,
        };
        fields::trim_results_page(mask, &mut answer);
        Ok(answer)
    }

    /// CreateRecord, answering the fields `mask` keeps (checked before the write).
    pub async fn create_record(
        &self,
        req: pb::CreateRecordRequest,
        mask: &FieldMask,
    ) -> Result<pb::Record, ApiError> {
        let new = convert::create_record(req)?;
        let projection = fields::record_projection(Some(mask))?;
        let mut record = convert::record_to_pb(self.actors.create_record(new).await?);
        fields::trim_written_record(mask, &projection, &mut record);
        Ok(record)
    }

    /// GetRecord, answering the fields `mask` keeps (and reading no more of the
    /// document than they need).
    pub async fn get_record(
        &self,
        req: pb::GetRecordRequest,
        mask: &FieldMask,
    ) -> Result<pb::Record, ApiError> {
        let name = RecordName::parse(&req.name)?;
        let projection = fields::record_projection(Some(mask))?;
        let mut record = convert::record_to_pb(self.actors.get_record(name, projection).await?);
        fields::trim_record(mask, &mut record);
        Ok(record)
    }

    /// UpdateRecord, answering the fields `mask` keeps (checked before the write).
    pub async fn update_record(
        &self,
        req: pb::UpdateRecordRequest,
        mask: &FieldMask,
    ) -> Result<pb::Record, ApiError> {
        let patch = convert::update_record(req)?;
        let projection = fields::record_projection(Some(mask))?;
        let mut record = convert::record_to_pb(self.actors.update_record(patch).await?);
        fields::trim_written_record(mask, &projection, &mut record);
        Ok(record)
    }

    /// DeleteRecord.
    pub async fn delete_record(&self, req: pb::DeleteRecordRequest) -> Result<(), ApiError> {
        let name = RecordName::parse(&req.name)?;
        Ok(self.actors.delete_record(name).await?)
    }

    /// ListRecords, answering the fields `mask` keeps (and reading no more of each
    /// document than they need).
    pub async fn list_records(
        &self,
        req: pb::ListRecordsRequest,
        mask: &FieldMask,
    ) -> Result<pb::ListRecordsResponse, ApiError> {
        let request = convert::list_records(req)?;
        let projection = fields::record_projection(fields::listed_records(mask))?;
        let page = self.actors.list_records(request, projection).await?;
        let mut answer = pb::ListRecordsResponse {
            records: page.items.into_iter().map(convert::record_to_pb).collect(),
            next_page_token: page.next_page_token,
        };
        fields::trim_records_page(mask, &mut answer);
        Ok(answer)
    }

    /// GetRecordListSummary.
    pub async fn get_record_list_summary(
        &self,
        req: pb::RecordListSummaryRequest,
    ) -> Result<pb::RecordListSummary, ApiError> {
        let request = convert::summarize_records(req)?;
        Ok(convert::summary_to_pb(
            self.actors.summarize_records(request).await?,
        ))
    }
}
