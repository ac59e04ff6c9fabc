//! The tonic `Results` service: a thin adapter over [`ResultsApi`].

use tonic::{Request, Response, Status};

use super::ResultsApi;
use crate::pb::v1alpha2 as pb;
use crate::pb::v1alpha2::results_server::Results;

/// gRPC `tekton.results.v1alpha2.Results`.
#[derive(Debug, Clone)]
pub struct ResultsService {
    api: ResultsApi,
}

impl ResultsService {
    /// Serves `api` over gRPC.
    pub fn new(api: ResultsApi) -> Self {
        ResultsService { api }
    }
}

/// Runs one API call and wraps its answer for tonic.
macro_rules! rpc {
    ($self:ident . $method:ident ($request:ident)) => {
        $self
            .api
            .$method($request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    };
}

#[tonic::async_trait]
impl Results for ResultsService {
    async fn create_result(
        &self,
        request: Request<pb::CreateResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        rpc!(self.create_result(request))
    }

    async fn update_result(
        &self,
        request: Request<pb::UpdateResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        rpc!(self.update_result(request))
    }

    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        rpc!(self.get_result(request))
    }

    async fn delete_result(
        &self,
        request: Request<pb::DeleteResultRequest>,
    ) -> Result<Response<()>, Status> {
        rpc!(self.delete_result(request))
    }

    async fn list_results(
        &self,
        request: Request<pb::ListResultsRequest>,
    ) -> Result<Response<pb::ListResultsResponse>, Status> {
        rpc!(self.list_results(request))
    }

    async fn create_record(
        &self,
        request: Request<pb::CreateRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        rpc!(self.create_record(request))
    }

    async fn update_record(
        &self,
        request: Request<pb::UpdateRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        rpc!(self.update_record(request))
    }

    async fn get_record(
        &self,
        request: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        rpc!(self.get_record(request))
    }

    async fn list_records(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        rpc!(self.list_records(request))
    }

    async fn delete_record(
        &self,
        request: Request<pb::DeleteRecordRequest>,
    ) -> Result<Response<()>, Status> {
        rpc!(self.delete_record(request))
    }

    async fn get_record_list_summary(
        &self,
        request: Request<pb::RecordListSummaryRequest>,
    ) -> Result<Response<pb::RecordListSummary>, Status> {
        rpc!(self.get_record_list_summary(request))
    }
}
