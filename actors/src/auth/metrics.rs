//! What the gate counts: decisions by outcome, and (kubernetes mode) whether a decision
//! came from the cache or needed a review.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::{AuthError, User};
use crate::metrics::Label;

/// The gate's counters. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthMetrics {
    decisions: Family<Label, Counter>,
    cache: Family<Label, Counter>,
}

impl AuthMetrics {
    /// Counts a decision.
    pub(crate) fn decided(&self, decision: &Result<std::sync::Arc<User>, AuthError>) {
        let outcome = match decision {
            Ok(_) => "allowed",
            Err(AuthError::PermissionDenied { .. }) => "denied",
            Err(AuthError::Unauthenticated(_)) => "unauthenticated",
            Err(AuthError::Unavailable(_)) => "unavailable",
        };
        self.decisions.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Counts a lookup in the decision cache.
    pub(crate) fn looked_up(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&[("result", result)]).inc();
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "results_api_auth_decisions",
            "Authorization decisions by outcome (one request may need several)",
            self.decisions.clone(),
        );
        registry.register(
            "results_api_auth_cache_lookups",
            "Decision cache lookups (auth.mode = kubernetes): a miss asks the cluster",
            self.cache.clone(),
        );
    }
}
