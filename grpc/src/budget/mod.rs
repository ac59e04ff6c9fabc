//! The budget of request bytes in flight, shared by gRPC and REST: memory is bounded by
//! bytes, not only by request counts. A request reserves its size before its body is
//! buffered and holds the reservation until its answer is written; when the budget is
//! spent, it waits (up to the actors' timeout) and is then refused with RESOURCE_EXHAUSTED.
//!
//! - [`grpc`]: a tower layer that reads each gRPC message's length prefix and reserves it.
//! - The REST side reserves in its body extractor (`crate::rest`).

pub mod grpc;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Reservations are counted in KiB, so budgets up to 4 TiB fit a semaphore's `u32`.
const UNIT: usize = 1024;

/// A request with a body is charged this many times its size: the body, and the answer
/// that echoes what was stored (Creates and Updates answer with the object).
pub const CHARGE_PER_REQUEST_BYTE: usize = 2;

/// Request bytes that may be in flight at once.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    permits: Arc<Semaphore>,
    bytes: usize,
    wait: Duration,
}

/// Bytes reserved from a [`ByteBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl ByteBudget {
    /// A budget of `bytes`; a request waits at most `wait` for its share.
    pub fn new(bytes: usize, wait: Duration) -> Self {
        ByteBudget {
            permits: Arc::new(Semaphore::new(units(bytes) as usize)),
            bytes,
            wait,
        }
    }

    /// Reserves `bytes`, waiting while other requests hold the budget. Fails with
    /// RESOURCE_EXHAUSTED when more than the whole budget is asked for, or when the wait
    /// runs out.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, ApiError> {
        let wanted = units(bytes);
        if wanted as usize > units(self.bytes) as usize {
            return Err(ApiError::ResourceExhausted(format!(
                "a request of {bytes} bytes exceeds the server's budget for requests in \
                 flight (server.max_inflight_bytes = {})",
                self.bytes
            )));
        }
        let acquire = self.permits.clone().acquire_many_owned(wanted);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation { _permit: permit }),
            // The semaphore is never closed; treat it like a spent budget all the same.
            Ok(Err(_)) | Err(_) => Err(ApiError::ResourceExhausted(format!(
                "the server is busy: requests in flight hold its budget of {} bytes \
                 (server.max_inflight_bytes) and {bytes} more did not fit within {:?}; retry later",
                self.bytes, self.wait
            ))),
        }
    }

    /// Bytes not reserved at the moment.
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }
}

/// `bytes` in whole units, rounded up; at least one, so empty requests count too.
fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_the_budget_then_give_up() {
        let budget = ByteBudget::new(10 * UNIT, Duration::from_millis(50));
        let held = budget.reserve(6 * UNIT).await.unwrap();
        assert_eq!(budget.available(), 4 * UNIT);
        let err = budget.reserve(5 * UNIT).await.unwrap_err();
        assert!(err.to_string().contains("the server is busy"), "{err}");
        assert_eq!(err.code(), results_actors::ErrorCode::ResourceExhausted);
        // Waiting ends as soon as the budget is given back.
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(5 * UNIT).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(budget.available(), 10 * UNIT);
    }

    #[tokio::test]
    async fn more_than_the_whole_budget_is_refused_at_once() {
        let budget = ByteBudget::new(10 * UNIT, Duration::from_secs(60));
        let err = budget.reserve(10 * UNIT + 1).await.unwrap_err();
        assert!(
            err.to_string().contains("exceeds the server's budget"),
            "{err}"
        );
        // An empty request still counts as one unit.
        let _held = budget.reserve(0).await.unwrap();
        assert_eq!(budget.available(), 9 * UNIT);
    }
}
