//! The tonic `Logs` service. Log storage is not offered yet: every RPC answers
//! Unimplemented with a message saying so, rather than pretending to succeed.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::pb::google::api::HttpBody;
use crate::pb::v1alpha2 as pb;
use crate::pb::v1alpha2::logs_server::Logs;

/// gRPC `tekton.results.v1alpha2.Logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsService;

fn unimplemented() -> Status {
    Status::unimplemented("log storage is not supported by this server yet")
}

#[tonic::async_trait]
impl Logs for LogsService {
    type GetLogStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

    async fn get_log(
        &self,
        _: Request<pb::GetLogRequest>,
    ) -> Result<Response<Self::GetLogStream>, Status> {
        Err(unimplemented())
    }

    async fn list_logs(
        &self,
        _: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        Err(unimplemented())
    }

    async fn update_log(
        &self,
        _: Request<Streaming<pb::Log>>,
    ) -> Result<Response<pb::LogSummary>, Status> {
        Err(unimplemented())
    }

    async fn delete_log(&self, _: Request<pb::DeleteLogRequest>) -> Result<Response<()>, Status> {
        Err(unimplemented())
    }
}
