//! Readiness, apart from liveness: `/healthz` says the process runs; `/readyz` and gRPC
//! health say whether it can answer from its database now. A task asks the database
//! every `database.readiness_interval_ms` through the query pool (so a pool stuck on an
//! unreachable database is not ready either); an answer slower than the interval counts
//! as none. Readiness follows the database both ways, without a restart.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use results_actors::Actors;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The gRPC services whose health follows readiness ("" is the server as a whole).
const SERVICES: [&str; 4] = [
    "",
    "tekton.results.v1alpha2.Results",
    "tekton.results.v1alpha2.Logs",
    "tekton.results.v1alpha2.Watch",
];

/// What readiness knows now: `None` when ready, else why not. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<Mutex<Option<String>>>);

impl Readiness {
    /// Why the server is not ready, if it is not.
    pub fn not_ready(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the outcome of a check; answers whether readiness changed.
    fn set(&self, outcome: Option<String>) -> bool {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = now.is_some() != outcome.is_some();
        *now = outcome;
        changed
    }
}

/// Starts checking the database every `interval`, publishing the answer in the returned
/// [`Readiness`] and in `health`. Runs until the runtime stops.
pub fn start(actors: Actors, health: HealthReporter, interval: Duration) -> Readiness {
    let readiness = Readiness::default();
    let published = readiness.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let outcome = match tokio::time::timeout(interval, actors.ping()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("the database does not answer: {e}")),
                Err(_) => Some(format!(
                    "the database did not answer within {} ms",
                    interval.as_millis()
                )),
            };
            if !published.set(outcome.clone()) {
                continue;
            }
            let status = match &outcome {
                None => {
                    tracing::info!("the database answers again: ready");
                    ServingStatus::Serving
                }
                Some(reason) => {
                    tracing::warn!(reason = %reason, "not ready");
                    ServingStatus::NotServing
                }
            };
            for service in SERVICES {
                health.set_service_status(service, status).await;
            }
        }
    });
    readiness
}

/// `GET /readyz`: 200 `ok` when ready, else 503 saying why.
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.not_ready() {
        None => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {reason}")),
    }
}
