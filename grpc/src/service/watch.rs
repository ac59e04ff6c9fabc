//! The tonic `Watch` service: WatchResults and WatchRecords, server streams over
//! [`ResultsApi`]. A stream the server ends (a slow reader, the log pruned under a resume)
//! ends with that status; a client that goes away ends its subscription.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use results_actors::auth::Credentials;
use tonic::{Request, Response, Status};

use super::ResultsApi;
use crate::credentials;
use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;
use crate::pb::v1alpha2::watch_server::Watch;

/// gRPC `tekton.results.v1alpha2.Watch`.
#[derive(Debug, Clone)]
pub struct WatchService {
    api: ResultsApi,
}

impl WatchService {
    /// Serves `api`'s watch streams over gRPC.
    pub fn new(api: ResultsApi) -> Self {
        WatchService { api }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Credentials, ApiError> {
        if !self.api.checks_credentials() {
            return Ok(Credentials::default());
        }
        credentials::from_metadata(request.metadata())
    }
}

type Events<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchResultsStream = Events<pb::ResultEvent>;
    type WatchRecordsStream = Events<pb::RecordEvent>;

    async fn watch_results(
        &self,
        request: Request<pb::WatchResultsRequest>,
    ) -> Result<Response<Self::WatchResultsStream>, Status> {
        let caller = self.caller(&request)?;
        let stream = self
            .api
            .watch_results(&caller, request.into_inner())
            .await?;
        Ok(Response::new(Box::pin(
            stream.into_stream().map(|e| e.map_err(Status::from)),
        )))
    }

    async fn watch_records(
        &self,
        request: Request<pb::WatchRecordsRequest>,
    ) -> Result<Response<Self::WatchRecordsStream>, Status> {
        let caller = self.caller(&request)?;
        let stream = self
            .api
            .watch_records(&caller, request.into_inner())
            .await?;
        Ok(Response::new(Box::pin(
            stream.into_stream().map(|e| e.map_err(Status::from)),
        )))
    }
}
