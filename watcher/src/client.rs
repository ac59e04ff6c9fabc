//! The watcher's side of the results API: lazily connected gRPC channels (the watcher
//! starts and keeps reconciling while the API is down), a per-call timeout (log uploads,
//! as long as their logs, are watched for progress by their caller instead), and an
//! optional bearer token read from a file (re-read as it rotates: every minute, and at once
//! after the API refused it).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};

use crate::error::{Error, Result};
use crate::logs::{Upload, UploadCodec};
use crate::pb::results_client::ResultsClient;
use crate::pb::{self};
use crate::settings::ApiSettings;

/// How long a token read from the file is used before reading it again (sooner when the
/// API answers UNAUTHENTICATED).
const TOKEN_REFRESH: Duration = Duration::from_secs(60);

/// A results API client.
#[derive(Debug)]
pub struct ApiClient {
    results: ResultsClient<Channel>,
    logs: Channel,
    token_file: Option<String>,
    token: Mutex<Option<(Instant, String)>>,
}

/// A failed call.
pub type CallResult<T> = Result<T, Status>;

impl ApiClient {
    /// A client of the API at `settings.url`; nothing is connected until the first call.
    pub fn new(settings: &ApiSettings) -> Result<ApiClient> {
        let mut endpoint = Endpoint::from_shared(settings.url.clone())
            .map_err(|source| Error::ApiUrl {
                url: settings.url.clone(),
                source,
            })?
            .connect_timeout(Duration::from_secs(settings.timeout_secs))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if settings.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if !settings.ca_file.is_empty() {
                let pem = std::fs::read(&settings.ca_file).map_err(|source| Error::ReadCaFile {
                    path: settings.ca_file.clone(),
                    source,
                })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(|source| Error::ApiTls {
                url: settings.url.clone(),
                source,
            })?;
        }
        // Uploading a log takes as long as the log is large: its calls have no overall
        // timeout (the uploader stops one that makes no progress), so they get a channel
        // of their own.
        let logs = endpoint.connect_lazy();
        let endpoint = endpoint.timeout(Duration::from_secs(settings.timeout_secs));
        Ok(ApiClient {
            logs,
            results: ResultsClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
            token_file: Some(settings.token_file.clone()).filter(|f| !f.is_empty()),
            token: Mutex::new(None),
        })
    }

    fn request<T>(&self, message: T) -> CallResult<Request<T>> {
        let mut request = Request::new(message);
        if let Some(token) = self.token()? {
            let value = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| Status::unauthenticated("the API token is not valid header text"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }

    fn token(&self) -> CallResult<Option<String>> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let mut cached = self.token.lock().expect("token lock");
        if let Some((read_at, token)) = cached.as_ref() {
            if read_at.elapsed() < TOKEN_REFRESH {
                return Ok(Some(token.clone()));
            }
        }
        let token = std::fs::read_to_string(path)
            .map_err(|e| {
                Status::unauthenticated(format!("cannot read api.token_file {path}: {e}"))
            })?
            .trim()
            .to_owned();
        *cached = Some((Instant::now(), token.clone()));
        Ok(Some(token))
    }

    /// The answer of a call. An UNAUTHENTICATED answer drops the token read last, so that
    /// the next call (the watcher retries) reads the file again: a rotated token whose
    /// predecessor was revoked is picked up at once, not after [`TOKEN_REFRESH`].
    fn answer<T>(&self, outcome: Result<Response<T>, Status>) -> CallResult<T> {
        match outcome {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => {
                if status.code() == Code::Unauthenticated {
                    *self.token.lock().expect("token lock") = None;
                }
                Err(status)
            }
        }
    }

    /// `CreateResult`.
    pub async fn create_result(&self, parent: &str, result: pb::Result) -> CallResult<pb::Result> {
        let message = pb::CreateResultRequest {
            parent: parent.to_owned(),
            result: Some(result),
        };
        let request = self.request(message)?;
        self.answer(self.results.clone().create_result(request).await)
    }

    /// `UpdateResult` without an etag (the watcher's view is the latest).
    pub async fn update_result(&self, result: pb::Result) -> CallResult<pb::Result> {
        let message = pb::UpdateResultRequest {
            name: result.name.clone(),
            result: Some(result),
            etag: String::new(),
        };
        let request = self.request(message)?;
        self.answer(self.results.clone().update_result(request).await)
    }

    /// `CreateRecord`.
    pub async fn create_record(&self, parent: &str, record: pb::Record) -> CallResult<pb::Record> {
        let message = pb::CreateRecordRequest {
            parent: parent.to_owned(),
            record: Some(record),
        };
        let request = self.request(message)?;
        self.answer(self.results.clone().create_record(request).await)
    }

    /// `UpdateRecord` without an etag.
    pub async fn update_record(&self, record: pb::Record) -> CallResult<pb::Record> {
        let message = pb::UpdateRecordRequest {
            record: Some(record),
            update_mask: None,
            etag: String::new(),
        };
        let request = self.request(message)?;
        self.answer(self.results.clone().update_record(request).await)
    }

    /// `UpdateLog`: `uploads` are the chunks of one log, or an abort (see
    /// [`crate::logs::Upload`]). No timeout of its own: the caller decides how long a log
    /// may take, and aborts rather than drops an upload it gives up on.
    pub fn update_log<S>(&self, uploads: S) -> BoxFuture<'_, CallResult<pb::LogSummary>>
    where
        S: futures::Stream<Item = Upload> + Send + 'static,
    {
        // Boxed: awaited in place, tonic's client-streaming future is not provably `Send`
        // for every lifetime of `&self` (a compiler limitation), which workers need.
        let request = self.request(uploads);
        let mut grpc = tonic::client::Grpc::new(self.logs.clone());
        Box::pin(async move {
            let request = request?;
            grpc.ready()
                .await
                .map_err(|e| Status::unavailable(format!("the results API is not ready: {e}")))?;
            let path =
                http::uri::PathAndQuery::from_static("/tekton.results.v1alpha2.Logs/UpdateLog");
            let answer = grpc.client_streaming(request, path, UploadCodec).await;
            self.answer(answer)
        })
    }
}

/// Whether `status` says the thing already exists.
pub fn already_exists(status: &Status) -> bool {
    status.code() == Code::AlreadyExists
}

/// Whether `status` says the thing does not exist.
pub fn not_found(status: &Status) -> bool {
    status.code() == Code::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, ca_file: &str, token_file: &str) -> ApiSettings {
        ApiSettings {
            url: url.into(),
            ca_file: ca_file.into(),
            token_file: token_file.into(),
            timeout_secs: 1,
        }
    }

    #[tokio::test]
    async fn tls_clients_build_and_a_missing_ca_file_is_named() {
        assert!(ApiClient::new(&settings("https://results.example:8080", "", "")).is_ok());
        let err = ApiClient::new(&settings(
            "https://results.example:8080",
            "/nonexistent/ca.pem",
            "",
        ))
        .unwrap_err();
        assert!(matches!(err, Error::ReadCaFile { .. }), "{err:?}");
        let source = std::error::Error::source(&err).expect("the io error is kept");
        assert!(
            source.downcast_ref::<std::io::Error>().is_some(),
            "{source:?}"
        );
        let err = err.to_string();
        assert!(err.contains("api.ca_file"), "{err}");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[tokio::test]
    async fn the_token_file_is_sent_as_a_bearer_token_and_its_absence_is_unauthenticated() {
        let dir = std::env::temp_dir().join(format!("watcher-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let client =
            ApiClient::new(&settings("http://127.0.0.1:1", "", path.to_str().unwrap())).unwrap();
        let request = client.request(()).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer s3cret"
        );
        let missing =
            ApiClient::new(&settings("http://127.0.0.1:1", "", "/nonexistent/token")).unwrap();
        let status = missing.request(()).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(status.message().contains("api.token_file"));
        let plain = ApiClient::new(&settings("http://127.0.0.1:1", "", "")).unwrap();
        assert!(plain
            .request(())
            .unwrap()
            .metadata()
            .get("authorization")
            .is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_refused_token_is_read_again_at_once_and_a_denial_keeps_it() {
        let dir = std::env::temp_dir().join(format!("watcher-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let sent = |client: &ApiClient| {
            let request = client.request(()).unwrap();
            request.metadata().get("authorization").unwrap().to_owned()
        };
        std::fs::write(&path, "first\n").unwrap();
        let client =
            ApiClient::new(&settings("http://127.0.0.1:1", "", path.to_str().unwrap())).unwrap();
        assert_eq!(sent(&client), "Bearer first");
        std::fs::write(&path, "second\n").unwrap();
        assert_eq!(sent(&client), "Bearer first", "kept until refused or stale");
        let denied = client.answer::<()>(Err(Status::permission_denied("no")));
        assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);
        assert_eq!(
            sent(&client),
            "Bearer first",
            "a denial is not about the token"
        );
        let refused = client.answer::<()>(Err(Status::unauthenticated("revoked")));
        assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
        assert_eq!(sent(&client), "Bearer second");
        let _ = std::fs::remove_dir_all(dir);
    }
}
