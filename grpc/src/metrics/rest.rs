//! REST requests: counted by method, route pattern and status, timed until the answer's
//! head is ready (a watch stream's or a log's body may flow much longer).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use results_actors::metrics::latency_histogram;

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The route's pattern (`/apis/…/parents/{parent}/results`), `unmatched` for none.
    route: String,
}

/// Labels of an answered request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnsweredLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The REST request metrics. Cloning shares them.
#[derive(Debug, Clone)]
pub struct RestMetrics {
    requests: Family<AnsweredLabels, Counter>,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl Default for RestMetrics {
    fn default() -> Self {
        RestMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl RestMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "results_api_http_requests",
            "REST requests answered, by method, route and HTTP status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "results_api_http_request_duration",
            "Time until a REST answer's head was ready, by method and route",
            Unit::Seconds,
            self.duration.clone(),
        );
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware counting and timing every REST request.
pub async fn observe_rest(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = request.app_data::<web::Data<RestMetrics>>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let answer = next.call(request).await;
    let Some(metrics) = metrics else {
        return answer;
    };
    let (route, status) = match &answer {
        Ok(response) => (
            response.request().match_pattern(),
            response.status().as_u16(),
        ),
        Err(error) => (None, error.as_response_error().status_code().as_u16()),
    };
    let route = route.unwrap_or_else(|| "unmatched".into());
    metrics
        .duration
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&AnsweredLabels {
            method,
            route,
            status,
        })
        .inc();
    answer
}
