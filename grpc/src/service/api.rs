//! One function per RPC: convert the request, one actor call, convert the answer. gRPC and
//! REST both call these, so they give the same results and errors.

use results_actors::model::{RecordName, ResultName};
use results_actors::Actors;

use crate::convert;
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

    /// CreateResult.
    pub async fn create_result(
        &self,
        req: pb::CreateResultRequest,
    ) -> Result<pb::Result, ApiError> {
        let new = convert::create_result(req)?;
        Ok(convert::result_to_pb(self.actors.create_result(new).await?))
    }

    /// GetResult.
    pub async fn get_result(&self, req: pb::GetResultRequest) -> Result<pb::Result, ApiError> {
        let name = ResultName::parse(&req.name)?;
        Ok(convert::result_to_pb(self.actors.get_result(name).await?))
    }

    /// UpdateResult.
    pub async fn update_result(
        &self,
        req: pb::UpdateResultRequest,
    ) -> Result<pb::Result, ApiError> {
        let replacement = convert::update_result(req)?;
        Ok(convert::result_to_pb(
            self.actors.update_result(replacement).await?,
        ))
    }

    /// DeleteResult.
    pub async fn delete_result(&self, req: pb::DeleteResultRequest) -> Result<(), ApiError> {
        let name = ResultName::parse(&req.name)?;
        Ok(self.actors.delete_result(name).await?)
    }

    /// ListResults.
    pub async fn list_results(
        &self,
        req: pb::ListResultsRequest,
    ) -> Result<pb::ListResultsResponse, ApiError> {
        let page = self
            .actors
            .list_results(convert::list_results(req)?)
            .await?;
        Ok(pb::ListResultsResponse {
            results: page.items.into_iter().map(convert::result_to_pb).collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// CreateRecord.
    pub async fn create_record(
        &self,
        req: pb::CreateRecordRequest,
    ) -> Result<pb::Record, ApiError> {
        let new = convert::create_record(req)?;
        Ok(convert::record_to_pb(self.actors.create_record(new).await?))
    }

    /// GetRecord.
    pub async fn get_record(&self, req: pb::GetRecordRequest) -> Result<pb::Record, ApiError> {
        let name = RecordName::parse(&req.name)?;
        Ok(convert::record_to_pb(self.actors.get_record(name).await?))
    }

    /// UpdateRecord.
    pub async fn update_record(
        &self,
        req: pb::UpdateRecordRequest,
    ) -> Result<pb::Record, ApiError> {
        let patch = convert::update_record(req)?;
        Ok(convert::record_to_pb(
            self.actors.update_record(patch).await?,
        ))
    }

    /// DeleteRecord.
    pub async fn delete_record(&self, req: pb::DeleteRecordRequest) -> Result<(), ApiError> {
        let name = RecordName::parse(&req.name)?;
        Ok(self.actors.delete_record(name).await?)
    }

    /// ListRecords.
    pub async fn list_records(
        &self,
        req: pb::ListRecordsRequest,
    ) -> Result<pb::ListRecordsResponse, ApiError> {
        let page = self
            .actors
            .list_records(convert::list_records(req)?)
            .await?;
        Ok(pb::ListRecordsResponse {
            records: page.items.into_iter().map(convert::record_to_pb).collect(),
            next_page_token: page.next_page_token,
        })
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
