//! gRPC requests, named as the go-grpc-prometheus middleware names them (dashboards for
//! it work unchanged): `grpc_server_started_total`, `grpc_server_handled_total` and
//! `grpc_server_handling_seconds` by `grpc_type`, `grpc_service`, `grpc_method` (and
//! `grpc_code`). A request ends when its answer's trailers are sent (for a server stream,
//! when the stream ends); an answer dropped before that (the client went away) is counted
//! as `Canceled`. Paths that name no method of this server count as `unknown`.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http_body::Frame;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use results_actors::metrics::latency_histogram;
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::{Bytes, Service};
use tower_layer::Layer;

/// Every method this server answers: (service, method, type).
pub const GRPC_METHODS: [(&str, &str, &str); 21] = [
    ("tekton.results.v1alpha2.Results", "CreateResult", UNARY),
    ("tekton.results.v1alpha2.Results", "UpdateResult", UNARY),
    ("tekton.results.v1alpha2.Results", "GetResult", UNARY),
    ("tekton.results.v1alpha2.Results", "DeleteResult", UNARY),
    ("tekton.results.v1alpha2.Results", "ListResults", UNARY),
    ("tekton.results.v1alpha2.Results", "CreateRecord", UNARY),
    ("tekton.results.v1alpha2.Results", "UpdateRecord", UNARY),
    ("tekton.results.v1alpha2.Results", "GetRecord", UNARY),
    ("tekton.results.v1alpha2.Results", "ListRecords", UNARY),
    ("tekton.results.v1alpha2.Results", "DeleteRecord", UNARY),
    (
        "tekton.results.v1alpha2.Results",
        "GetRecordListSummary",
        UNARY,
    ),
    ("tekton.results.v1alpha2.Logs", "GetLog", SERVER_STREAM),
    ("tekton.results.v1alpha2.Logs", "ListLogs", UNARY),
    ("tekton.results.v1alpha2.Logs", "UpdateLog", CLIENT_STREAM),
    ("tekton.results.v1alpha2.Logs", "DeleteLog", UNARY),
    (
        "tekton.results.v1alpha2.Watch",
        "WatchResults",
        SERVER_STREAM,
    ),
    (
        "tekton.results.v1alpha2.Watch",
        "WatchRecords",
        SERVER_STREAM,
    ),
    ("grpc.health.v1.Health", "Check", UNARY),
    ("grpc.health.v1.Health", "Watch", SERVER_STREAM),
    (
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        BIDI_STREAM,
    ),
    ("unknown", "unknown", "unknown"),
];

const UNARY: &str = "unary";
const CLIENT_STREAM: &str = "client_stream";
const SERVER_STREAM: &str = "server_stream";
const BIDI_STREAM: &str = "bidi_stream";

/// The labels of a method.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
}

/// The labels of a handled request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandledLabels {
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
    grpc_code: &'static str,
}

/// The method a request path names, or `unknown`.
fn method_of(path: &str) -> MethodLabels {
    let known = path.strip_prefix('/').and_then(|p| p.split_once('/'));
    let (service, method, kind) = GRPC_METHODS
        .iter()
        .find(|(s, m, _)| known == Some((s, m)))
        .copied()
        .unwrap_or(GRPC_METHODS[GRPC_METHODS.len() - 1]);
    MethodLabels {
        grpc_type: kind,
        grpc_service: service,
        grpc_method: method,
    }
}

/// gRPC status codes by number, as go-grpc-prometheus spells them.
const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The `grpc-status` in `headers`, by name.
fn code_in(headers: &HeaderMap) -> Option<&'static str> {
    let status = headers.get("grpc-status")?.to_str().ok()?;
    let code = status.parse::<usize>().ok()?;
    Some(CODES.get(code).copied().unwrap_or("Unknown"))
}

/// The gRPC request metrics. Cloning shares them.
#[derive(Debug, Clone)]
pub struct GrpcMetrics {
    started: Family<MethodLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    handling: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

impl Default for GrpcMetrics {
    fn default() -> Self {
        GrpcMetrics {
            started: Family::default(),
            handled: Family::default(),
            handling: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl GrpcMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "grpc_server_started",
            "gRPC requests started, by method",
            self.started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "gRPC requests completed, by method and code",
            self.handled.clone(),
        );
        registry.register_with_unit(
            "grpc_server_handling",
            "Time from a gRPC request's start to its end (a stream's: until it ends)",
            Unit::Seconds,
            self.handling.clone(),
        );
    }

    fn finish(&self, method: MethodLabels, code: &'static str, started: Instant) {
        self.handling
            .get_or_create(&method)
            .observe(started.elapsed().as_secs_f64());
        self.handled
            .get_or_create(&HandledLabels {
                grpc_type: method.grpc_type,
                grpc_service: method.grpc_service,
                grpc_method: method.grpc_method,
                grpc_code: code,
            })
            .inc();
    }
}

/// Counts and times the gRPC requests of the services it wraps.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer(pub GrpcMetrics);

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service behind a [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct Observed<S> {
    inner: S,
    metrics: GrpcMetrics,
}

impl<S, B> Service<Request<Body>> for Observed<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = method_of(request.uri().path());
        let metrics = self.metrics.clone();
        metrics.started.get_or_create(&method).inc();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(e) => {
                    metrics.finish(method, "Unknown", started);
                    return Err(e);
                }
            };
            // A trailers-only answer (most errors) has its status in the headers.
            let early = code_in(response.headers());
            let pending = Pending {
                metrics,
                method,
                started,
            };
            Ok(response.map(|body| {
                Body::new(Finishing {
                    inner: body,
                    early,
                    pending: Some(pending),
                })
            }))
        })
    }
}

/// A request not yet counted as handled.
struct Pending {
    metrics: GrpcMetrics,
    method: MethodLabels,
    started: Instant,
}

/// An answer body that counts its request when its trailers go out (or it is dropped).
struct Finishing<B> {
    inner: B,
    early: Option<&'static str>,
    pending: Option<Pending>,
}

impl<B> Finishing<B> {
    fn finish(&mut self, code: &'static str) {
        if let Some(p) = self.pending.take() {
            p.metrics.finish(p.method, code, p.started);
        }
    }
}

impl<B> Drop for Finishing<B> {
    fn drop(&mut self) {
        let code = self.early.unwrap_or("Canceled");
        self.finish(code);
    }
}

impl<B> http_body::Body for Finishing<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = code_in(trailers).unwrap_or("Unknown");
                    this.finish(code);
                }
            }
            Some(Err(_)) => this.finish("Unknown"),
            None => {
                let code = this.early.unwrap_or("Unknown");
                this.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_known_methods_or_unknown() {
        let m = method_of("/tekton.results.v1alpha2.Results/GetRecord");
        assert_eq!(
            (m.grpc_service, m.grpc_method, m.grpc_type),
            ("tekton.results.v1alpha2.Results", "GetRecord", "unary")
        );
        let m = method_of("/tekton.results.v1alpha2.Watch/WatchRecords");
        assert_eq!(m.grpc_type, "server_stream");
        for odd in [
            "/tekton.results.v1alpha2.Results/Nope",
            "/x/GetRecord",
            "",
            "/",
            "/tekton.results.v1alpha2.Results/GetRecord/extra",
        ] {
            let m = method_of(odd);
            assert_eq!(
                (m.grpc_service, m.grpc_method),
                ("unknown", "unknown"),
                "{odd}"
            );
        }
    }

    #[test]
    fn status_codes_are_named() {
        let mut headers = HeaderMap::new();
        assert_eq!(code_in(&headers), None);
        headers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(code_in(&headers), Some("NotFound"));
        headers.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(code_in(&headers), Some("Unknown"));
    }
}
