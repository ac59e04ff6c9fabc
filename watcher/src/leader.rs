//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly
//! one reconciles. The holder renews the Lease every `renew_every_secs`; another replica
//! takes it once `renewTime + leaseDurationSeconds` has passed by its clock; a holder that
//! could not renew for `lease_duration - renew_every` stops reconciling first, so two
//! watchers never act at once (as long as the clocks agree within `renew_every_secs`).
//! Every write carries the Lease's resourceVersion: of two replicas racing, one gets 409.
//!
//! A small module rather than a crate: `kube-lease-manager` (0.12, the newest) builds on
//! kube 4 and k8s-openapi 0.28, while the workspace is on kube 5 and k8s-openapi 0.29, and
//! k8s-openapi must not be in the tree twice. What is needed is small: read, create and
//! replace one Lease, and stop reconciling at a deadline of our own.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use tokio::sync::oneshot;
use tokio::time::{sleep, sleep_until, Instant};

use crate::controller::Running;
use crate::metrics::Metrics;
use crate::settings::LeaderSettings;

/// Wall-clock time, injected so that the lease decision can be tested.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// What a replica should do about a Lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It holds the Lease: renew it.
    Renew,
    /// Nobody holds it, or its holder let it expire: take it.
    Take,
    /// Another replica holds it until `until`.
    Wait {
        /// Who.
        holder: String,
        /// When the Lease expires unless renewed.
        until: Timestamp,
    },
}

/// Decides about the Lease `spec` (none: there is no Lease) as replica `me` at `now`; a
/// Lease without a duration lasts `default_duration`.
pub fn decide(
    spec: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    default_duration: SignedDuration,
) -> Decision {
    let Some(spec) = spec else {
        return Decision::Take;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Take;
    }
    if holder == me {
        return Decision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .filter(|secs| *secs > 0)
        .map_or(default_duration, |secs| {
            SignedDuration::from_secs(secs.into())
        });
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        // Held, but never renewed or acquired: nothing says it is alive.
        return Decision::Take;
    };
    let until = renewed.0.checked_add(duration).unwrap_or(Timestamp::MAX);
    if now >= until {
        Decision::Take
    } else {
        Decision::Wait {
            holder: holder.to_owned(),
            until,
        }
    }
}

/// The outcome of an attempt to hold the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// This replica holds it now (renewed or taken).
    Held,
    /// Another replica holds it (its identity, empty when it won a race just now).
    Other(String),
}

/// One replica's handle on the Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration_secs: i32,
    clock: Arc<dyn Clock>,
    /// The Lease as this replica last wrote it while holding it.
    held: Option<Lease>,
}

impl LeaseLock {
    /// The Lease `name` in `api`'s namespace, for replica `identity`.
    pub fn new(
        api: Api<Lease>,
        name: &str,
        identity: &str,
        duration_secs: i32,
        clock: Arc<dyn Clock>,
    ) -> LeaseLock {
        LeaseLock {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration_secs,
            clock,
            held: None,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Creates, renews or takes the Lease if [`decide`] says so.
    pub async fn try_hold(&mut self) -> Result<Attempt, kube::Error> {
        // Holding it: renew from what was written last, one request (409 if it changed).
        if let Some(held) = self.held.take() {
            let spec = held.spec.clone().unwrap_or_default();
            if let Some(attempt) = self.write(held, &spec, false).await? {
                return Ok(attempt);
            }
        }
        let now = self.clock.now();
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(&LeaseSpec::default(), now, true)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.held = Some(created);
                    Ok(Attempt::Held)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    Ok(Attempt::Other(String::new()))
                }
                Err(e) => Err(e),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let default = SignedDuration::from_secs(self.duration_secs.into());
        match decide(Some(&spec), &self.identity, now, default) {
            Decision::Wait { holder, .. } => Ok(Attempt::Other(holder)),
            decision => {
                let take = decision == Decision::Take;
                let attempt = self.write(current, &spec, take).await?;
                Ok(attempt.unwrap_or(Attempt::Other(String::new())))
            }
        }
    }

    /// Writes `lease` (its resourceVersion kept) as held by this replica, taken now when
    /// `take`. `None`: someone else wrote it first (409).
    async fn write(
        &mut self,
        mut lease: Lease,
        spec: &LeaseSpec,
        take: bool,
    ) -> Result<Option<Attempt>, kube::Error> {
        lease.spec = Some(self.spec(spec, self.clock.now(), take));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.held = Some(written);
                Ok(Some(Attempt::Held))
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The spec that says this replica holds the Lease at `now`, after `old`.
    fn spec(&self, old: &LeaseSpec, now: Timestamp, take: bool) -> LeaseSpec {
        let previous = old.holder_identity.as_deref().unwrap_or_default();
        let transitions = old.lease_transitions.unwrap_or(0);
        let changed = previous != self.identity && take;
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration_secs),
            acquire_time: if take || old.acquire_time.is_none() {
                Some(MicroTime(now))
            } else {
                old.acquire_time.clone()
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if changed && !previous.is_empty() {
                transitions.saturating_add(1)
            } else {
                transitions
            }),
            ..old.clone()
        }
    }

    /// Gives the Lease up (clears its holder), if this replica still holds it, so that
    /// another takes it at once. Says whether it did.
    pub async fn release(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.held.take() else {
            return Ok(false);
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(self.clock.now()));
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// How often to renew and retry, and how long a holder may go without renewing.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between renewals.
    pub renew_every: Duration,
    /// Between attempts to take the Lease, and retries of a failed renewal.
    pub retry_every: Duration,
    /// How long after the last renewal was sent the holder stops reconciling:
    /// `lease_duration - renew_every`, one renewal period before anyone may take over.
    pub hold_for: Duration,
}

impl Timing {
    /// From the settings.
    pub fn new(settings: &LeaderSettings) -> Timing {
        let renew_every = Duration::from_secs(settings.renew_every_secs);
        Timing {
            renew_every,
            retry_every: Duration::from_secs(settings.retry_every_secs),
            hold_for: Duration::from_secs(settings.lease_duration_secs).saturating_sub(renew_every),
        }
    }
}

/// This replica's name in the Lease: `base` (or `results-watcher`) and a random suffix, so
/// that a restarted pod of the same name is a new holder.
pub fn identity(base: &str) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Timestamp::now().as_nanosecond() as u128);
    let suffix = hasher.finish() & 0xff_ffff;
    let base = if base.is_empty() {
        "results-watcher"
    } else {
        base
    };
    format!("{base}-{suffix:06x}")
}

/// How a term of leadership ended.
enum End {
    Shutdown,
    Expired,
    Taken(String),
    Failed,
}

/// Follows the Lease, reconciles (what `start` starts) while holding it, and stops at once
/// when it is lost; on `shutdown` stops reconciling and releases the Lease.
pub(crate) async fn elect(
    mut lock: LeaseLock,
    timing: Timing,
    metrics: Arc<Metrics>,
    mut start: impl FnMut() -> Option<Running>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        // Follow until this replica holds the Lease.
        let held_at = loop {
            let sent = Instant::now();
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                attempt = lock.try_hold() => match attempt {
                    Ok(Attempt::Held) => break sent,
                    Ok(Attempt::Other(holder)) => {
                        tracing::debug!(holder, "the lease is held by another replica");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read or take the lease"),
                },
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                () = sleep(timing.retry_every) => {}
            }
        };
        let Some(running) = start() else {
            // Cannot reconcile now: let another replica try.
            if let Err(e) = lock.release().await {
                tracing::warn!(error = %e, "cannot release the lease");
            }
            sleep(timing.retry_every).await;
            continue;
        };
        metrics.leader.store(1, Relaxed);
        tracing::info!(
            identity = lock.identity(),
            "acquired the lease: reconciling"
        );
        let mut deadline = held_at + timing.hold_for;
        let end = hold(&mut lock, timing, &mut deadline, held_at, &mut shutdown).await;
        match end {
            End::Shutdown => {
                // Let the workers finish the run in hand, but not past the deadline.
                running.stop_by(deadline).await;
                metrics.leader.store(0, Relaxed);
                match lock.release().await {
                    Ok(true) => tracing::info!("released the lease"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot release the lease"),
                }
                return;
            }
            End::Expired | End::Taken(_) | End::Failed => {
                running.abort().await;
                metrics.leader.store(0, Relaxed);
                match end {
                    End::Taken(holder) => tracing::warn!(
                        holder,
                        "lost the lease to another replica: stopped reconciling"
                    ),
                    _ => tracing::warn!("could not renew the lease in time: stopped reconciling"),
                }
            }
        }
    }
}

/// Renews the Lease until it is lost or `shutdown` fires; `deadline` follows each renewal.
async fn hold(
    lock: &mut LeaseLock,
    timing: Timing,
    deadline: &mut Instant,
    held_at: Instant,
    shutdown: &mut oneshot::Receiver<()>,
) -> End {
    let mut next = held_at + timing.renew_every;
    loop {
        tokio::select! {
            biased;
            _ = &mut *shutdown => return End::Shutdown,
            () = sleep_until(*deadline) => return End::Expired,
            () = sleep_until(next) => {}
        }
        let sent = Instant::now();
        let attempt = tokio::select! {
            biased;
            _ = &mut *shutdown => return End::Shutdown,
            () = sleep_until(*deadline) => return End::Expired,
            attempt = lock.try_hold() => attempt,
        };
        match attempt {
            Ok(Attempt::Held) => {
                *deadline = sent + timing.hold_for;
                next = sent + timing.renew_every;
            }
            Ok(Attempt::Other(holder)) if holder.is_empty() => return End::Failed,
            Ok(Attempt::Other(holder)) => return End::Taken(holder),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the lease, retrying");
                next = Instant::now() + timing.retry_every;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "watcher-a-000001";

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn lease(holder: Option<&str>, renewed: Option<&str>, secs: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            renew_time: renewed.map(|t| MicroTime(at(t))),
            lease_duration_seconds: secs,
            ..LeaseSpec::default()
        }
    }

    fn decide_at(spec: Option<&LeaseSpec>, now: &str) -> Decision {
        decide(spec, ME, at(now), SignedDuration::from_secs(15))
    }

    #[test]
    fn no_lease_or_no_holder_is_taken() {
        assert_eq!(decide_at(None, "2026-12-06T08:00:00Z"), Decision::Take);
        let released = lease(None, Some("2026-12-06T08:00:00Z"), Some(15));
        assert_eq!(
            decide_at(Some(&released), "2026-12-06T08:00:01Z"),
            Decision::Take
        );
        let empty = lease(Some(""), Some("2026-12-06T08:00:00Z"), Some(15));
        assert_eq!(
            decide_at(Some(&empty), "2026-12-06T08:00:01Z"),
            Decision::Take
        );
    }

    #[test]
    fn an_own_lease_is_renewed_even_when_expired() {
        let own = lease(Some(ME), Some("2026-12-06T08:00:00Z"), Some(15));
        assert_eq!(
            decide_at(Some(&own), "2026-12-06T08:00:01Z"),
            Decision::Renew
        );
        assert_eq!(
            decide_at(Some(&own), "2026-12-06T09:00:00Z"),
            Decision::Renew
        );
    }

    #[test]
    fn another_holder_is_waited_for_until_renew_time_plus_duration() {
        let other = lease(Some("b"), Some("2026-12-06T08:00:00.5Z"), Some(15));
        let wait = Decision::Wait {
            holder: "b".into(),
            until: at("2026-12-06T08:00:15.5Z"),
        };
        assert_eq!(decide_at(Some(&other), "2026-12-06T08:00:00Z"), wait);
        assert_eq!(decide_at(Some(&other), "2026-12-06T08:00:15.499Z"), wait);
        assert_eq!(
            decide_at(Some(&other), "2026-12-06T08:00:15.5Z"),
            Decision::Take
        );
        assert_eq!(
            decide_at(Some(&other), "2026-12-06T08:01:00Z"),
            Decision::Take
        );
    }

    #[test]
    fn the_lease_duration_comes_from_the_lease_else_our_own() {
        let short = lease(Some("b"), Some("2026-12-06T08:00:00Z"), Some(2));
        assert_eq!(
            decide_at(Some(&short), "2026-12-06T08:00:02Z"),
            Decision::Take
        );
        for missing in [None, Some(0), Some(-5)] {
            let unset = lease(Some("b"), Some("2026-12-06T08:00:00Z"), missing);
            assert!(matches!(
                decide_at(Some(&unset), "2026-12-06T08:00:14Z"),
                Decision::Wait { .. }
            ));
            assert_eq!(
                decide_at(Some(&unset), "2026-12-06T08:00:15Z"),
                Decision::Take
            );
        }
    }

    #[test]
    fn the_acquire_time_stands_in_for_a_missing_renew_time() {
        let mut acquired = lease(Some("b"), None, Some(15));
        acquired.acquire_time = Some(MicroTime(at("2026-12-06T08:00:00Z")));
        assert!(matches!(
            decide_at(Some(&acquired), "2026-12-06T08:00:10Z"),
            Decision::Wait { .. }
        ));
        let never = lease(Some("b"), None, Some(15));
        assert_eq!(
            decide_at(Some(&never), "2026-12-06T08:00:10Z"),
            Decision::Take
        );
    }

    #[test]
    fn the_holder_stops_one_renewal_before_the_lease_can_be_taken() {
        let settings = LeaderSettings::default();
        let timing = Timing::new(&settings);
        assert_eq!(timing.hold_for, Duration::from_secs(10));
        assert!(timing.renew_every < timing.hold_for);
        assert!(timing.hold_for + timing.renew_every <= Duration::from_secs(15));
    }

    #[test]
    fn identities_differ_per_start() {
        let a = identity("watcher-7f9c");
        let b = identity("watcher-7f9c");
        assert!(a.starts_with("watcher-7f9c-"), "{a}");
        assert_ne!(a, b);
        assert!(identity("").starts_with("results-watcher-"));
    }
}
