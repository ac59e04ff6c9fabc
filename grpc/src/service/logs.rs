//! The tonic `Logs` service. Log storage is not offered yet: every RPC checks the caller's
//! access as it will once logs are stored, then answers Unimplemented with a message saying
//! so, rather than pretending to succeed.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use results_actors::auth::{Credentials, Verb};
use results_actors::model::{ListScope, RecordName, RecordScope};
use tonic::{Request, Response, Status, Streaming};

use super::ResultsApi;
use crate::credentials;
use crate::error::ApiError;
use crate::pb::google::api::HttpBody;
use crate::pb::v1alpha2 as pb;
use crate::pb::v1alpha2::logs_server::Logs;

/// gRPC `tekton.results.v1alpha2.Logs`.
#[derive(Debug, Clone)]
pub struct LogsService {
    api: ResultsApi,
}

impl LogsService {
    /// Serves `api`'s access checks over gRPC.
    pub fn new(api: ResultsApi) -> Self {
        LogsService { api }
    }

    /// The answer to a Logs call that would `verb` the log `name` (a listing's parent for
    /// List): why the caller may not, or that logs are not offered.
    async fn refusal<T>(&self, request: &Request<T>, verb: Verb, name: &str) -> Status {
        self.check(request, verb, name)
            .await
            .err()
            .unwrap_or_else(|| ApiError::Unimplemented("log storage is not supported".into()))
            .into()
    }

    async fn check<T>(&self, request: &Request<T>, verb: Verb, name: &str) -> Result<(), ApiError> {
        let namespace = match verb {
            Verb::List => RecordScope::parse(name)?.parent,
            _ => ListScope::Exactly(RecordName::parse_kind(name, "logs")?.parent),
        };
        self.api.logs(&self.caller(request)?, verb, namespace).await
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Credentials, ApiError> {
        if !self.api.checks_credentials() {
            return Ok(Credentials::default());
        }
        credentials::from_metadata(request.metadata())
    }
}

#[tonic::async_trait]
impl Logs for LogsService {
    type GetLogStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

    async fn get_log(
        &self,
        request: Request<pb::GetLogRequest>,
    ) -> Result<Response<Self::GetLogStream>, Status> {
        let name = request.get_ref().name.clone();
        Err(self.refusal(&request, Verb::Get, &name).await)
    }

    async fn list_logs(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        let parent = request.get_ref().parent.clone();
        Err(self.refusal(&request, Verb::List, &parent).await)
    }

    async fn update_log(
        &self,
        mut request: Request<Streaming<pb::Log>>,
    ) -> Result<Response<pb::LogSummary>, Status> {
        // The log's name comes with the first message.
        let first = request.get_mut().next().await.transpose()?;
        let name = first.map(|log| log.name).unwrap_or_default();
        Err(self.refusal(&request, Verb::Update, &name).await)
    }

    async fn delete_log(
        &self,
        request: Request<pb::DeleteLogRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.get_ref().name.clone();
        Err(self.refusal(&request, Verb::Delete, &name).await)
    }
}
