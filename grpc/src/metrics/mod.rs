//! The API's Prometheus metrics at `GET /metrics` on the REST port: requests by RPC and
//! route with their codes and latencies (this module), and what the actors and the gate
//! measure (registered from them). The registry is built once at start; label values are
//! fixed strings (method and route names, codes), never client input, so a client cannot
//! grow it.

mod grpc;
mod rest;

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;

pub use grpc::{GrpcMetrics, GrpcMetricsLayer, GRPC_METHODS};
pub use rest::{observe_rest, RestMetrics};

/// The registry every part registers in, shared with the `/metrics` handler.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    registry: Arc<Registry>,
    /// gRPC requests.
    pub grpc: GrpcMetrics,
    /// REST requests.
    pub rest: RestMetrics,
}

impl ApiMetrics {
    /// Registers the request metrics, then whatever `more` adds (the actors', the gate's).
    pub fn new(more: impl FnOnce(&mut Registry)) -> ApiMetrics {
        let mut registry = Registry::default();
        let grpc = GrpcMetrics::default();
        grpc.register(&mut registry);
        let rest = RestMetrics::default();
        rest.register(&mut registry);
        more(&mut registry);
        ApiMetrics {
            registry: Arc::new(registry),
            grpc,
            rest,
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// `GET /metrics`.
pub async fn metrics_handler(metrics: web::Data<ApiMetrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus_text::CONTENT_TYPE)
        .body(metrics.render())
}
