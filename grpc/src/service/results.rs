//! The tonic `Results` service: a thin adapter over [`ResultsApi`].

use tonic::{Request, Response, Status};

use results_actors::auth::Credentials;

use super::ResultsApi;
use crate::convert::fields::{FieldMask, FIELDS_KEY};
use crate::credentials;
use crate::error::ApiError;
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

/// Runs one API call and wraps its answer for tonic; calls `with fields` also get the
/// `fields` mask of the request's metadata.
macro_rules! rpc {
    ($self:ident . $method:ident ($request:ident)) => {
        match $self.caller(&$request) {
            Ok(caller) => $self
                .api
                .$method(&caller, $request.into_inner())
                .await
                .map(Response::new)
                .map_err(Status::from),
            Err(e) => Err(Status::from(e)),
        }
    };
    ($self:ident . $method:ident ($request:ident) with fields) => {
        match $self
            .caller(&$request)
            .and_then(|caller| Ok((caller, metadata_fields(&$request)?)))
        {
            Ok((caller, mask)) => $self
                .api
                .$method(&caller, $request.into_inner(), &mask)
                .await
                .map(Response::new)
                .map_err(Status::from),
            Err(e) => Err(Status::from(e)),
        }
    };
}

impl ResultsService {
    /// The caller's credentials, read only when the server checks them.
    fn caller<T>(&self, request: &Request<T>) -> Result<Credentials, ApiError> {
        if !self.api.checks_credentials() {
            return Ok(Credentials::default());
        }
        credentials::from_metadata(request.metadata())
    }
}

/// The `fields` mask of a request: every value of the metadata key, as upstream.
fn metadata_fields<T>(request: &Request<T>) -> Result<FieldMask, ApiError> {
    let values = request
        .metadata()
        .get_all(FIELDS_KEY)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::InvalidArgument("fields metadata is not ASCII text".into()))
        })
        .collect::<Result<Vec<&str>, ApiError>>()?;
    FieldMask::parse(values)
}

#[tonic::async_trait]
impl Results for ResultsService {
    async fn create_result(
        &self,
        request: Request<pb::CreateResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        rpc!(self.create_result(request) with fields)
    }

    async fn update_result(
        &self,
        request: Request<pb::UpdateResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        rpc!(self.update_result(request) with fields)
    }

    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::Result>, Status> {
        rpc!(self.get_result(request) with fields)
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
        rpc!(self.list_results(request) with fields)
    }

    async fn create_record(
        &self,
        request: Request<pb::CreateRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        rpc!(self.create_record(request) with fields)
    }

    async fn update_record(
        &self,
        request: Request<pb::UpdateRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        rpc!(self.update_record(request) with fields)
    }

    async fn get_record(
        &self,
        request: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::Record>, Status> {
        rpc!(self.get_record(request) with fields)
    }

    async fn list_records(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        rpc!(self.list_records(request) with fields)
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
