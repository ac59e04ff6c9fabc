//! The tonic `Logs` service: UpdateLog (a client stream of `Log{name, data}` chunks),
//! GetLog (a server stream of `google.api.HttpBody` chunks), ListLogs and DeleteLog, over
//! [`ResultsApi`]. Memory per call is bounded by a chunk, whatever the log's size.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use results_actors::auth::{Credentials, Verb};
use tonic::{Request, Response, Status, Streaming};

use super::ResultsApi;
use crate::budget::grpc::BodyEnd;
use crate::credentials;
use crate::error::ApiError;
use crate::pb::google::api::HttpBody;
use crate::pb::v1alpha2 as pb;
use crate::pb::v1alpha2::logs_server::Logs;

/// The content type of answered logs.
pub const LOG_CONTENT_TYPE: &str = "text/plain";

/// gRPC `tekton.results.v1alpha2.Logs`.
#[derive(Debug, Clone)]
pub struct LogsService {
    api: ResultsApi,
}

impl LogsService {
    /// Serves `api`'s logs over gRPC.
    pub fn new(api: ResultsApi) -> Self {
        LogsService { api }
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
        let caller = self.caller(&request)?;
        let chunks = self.api.get_log(&caller, &request.get_ref().name).await?;
        let answer = chunks.map(|chunk| match chunk {
            Ok(data) => Ok(HttpBody {
                content_type: LOG_CONTENT_TYPE.into(),
                data: data.to_vec(),
                extensions: Vec::new(),
            }),
            Err(e) => Err(Status::from(ApiError::from(e))),
        });
        Ok(Response::new(Box::pin(answer)))
    }

    async fn list_logs(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(
            self.api.list_logs(&caller, request.into_inner()).await?,
        ))
    }

    async fn update_log(
        &self,
        request: Request<Streaming<pb::Log>>,
    ) -> Result<Response<pb::LogSummary>, Status> {
        let caller = self.caller(&request)?;
        // Without the budget layer (never in the server) the end cannot be told apart.
        let end = request.extensions().get::<BodyEnd>().cloned();
        let mut messages = request.into_inner();
        // The log's name comes with the first message; every later one names the same log
        // (or leaves the name empty).
        let first = messages
            .next()
            .await
            .transpose()?
            .ok_or_else(|| Status::invalid_argument("UpdateLog received no message"))?;
        let name = ResultsApi::log_name(&first.name)?;
        self.api.allow_log(&caller, Verb::Update, &name).await?;
        let expected = first.name.clone();
        let rest = messages.map(move |message| match message {
            Ok(log) if log.name.is_empty() || log.name == expected => Ok(log.data.into()),
            Ok(log) => Err(results_actors::Error::Storage(
                results_actors::StorageError::InvalidArgument(format!(
                    "one UpdateLog call stores one log: {:?} after {:?}",
                    log.name, expected
                )),
            )),
            Err(status) => Err(results_actors::Error::Storage(
                results_actors::StorageError::Pool(format!(
                    "the upload stopped: {}",
                    status.message()
                )),
            )),
        });
        // A stream the client cut off ends like a finished one: refuse to keep it.
        let cut_off = futures::stream::once(async move {
            match end {
                Some(end) if !end.reached() => Some(Err(results_actors::Error::Storage(
                    results_actors::StorageError::Pool(
                        "the upload was cancelled before its end; nothing was stored".into(),
                    ),
                ))),
                _ => None,
            }
        })
        .filter_map(std::future::ready);
        let chunks = futures::stream::once(async move { Ok(first.data.into()) })
            .chain(rest)
            .chain(cut_off);
        Ok(Response::new(self.api.update_log(&name, chunks).await?))
    }

    async fn delete_log(
        &self,
        request: Request<pb::DeleteLogRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = self.caller(&request)?;
        self.api
            .delete_log(&caller, &request.get_ref().name)
            .await?;
        Ok(Response::new(()))
    }
}
