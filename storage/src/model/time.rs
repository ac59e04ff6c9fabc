//! Timestamps as stored: Unix nanoseconds in a signed 64-bit integer.

/// A point in time with nanosecond precision, as stored on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From Unix nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// From seconds and nanoseconds since the epoch, as in `google.protobuf.Timestamp`;
    /// `None` when it does not fit (years before 1678 or after 2262).
    pub fn from_parts(seconds: i64, nanos: i32) -> Option<Self> {
        seconds
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(nanos))
            .map(Timestamp)
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Unix nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Seconds and the non-negative nanosecond remainder, as `google.protobuf.Timestamp`.
    pub const fn to_parts(self) -> (i64, i32) {
        (
            self.0.div_euclid(1_000_000_000),
            self.0.rem_euclid(1_000_000_000) as i32,
        )
    }

    /// The earliest time after both `self` and `previous`: every write moves `update_time`
    /// forward, so the etag changes even when the clock stands still or steps back.
    pub fn after(self, previous: Timestamp) -> Timestamp {
        if self > previous {
            self
        } else {
            Timestamp(previous.0.saturating_add(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_including_before_epoch() {
        for nanos in [0, 1, 1_700_000_000_123_456_789, -1, -1_500_000_000] {
            let (s, n) = Timestamp::from_nanos(nanos).to_parts();
            assert!((0..1_000_000_000).contains(&n));
            assert_eq!(
                Timestamp::from_parts(s, n),
                Some(Timestamp::from_nanos(nanos))
            );
        }
        assert_eq!(Timestamp::from_parts(i64::MAX, 0), None);
    }

    #[test]
    fn after_always_moves_forward() {
        let t = Timestamp::from_nanos(10);
        assert_eq!(Timestamp::from_nanos(5).after(t), Timestamp::from_nanos(11));
        assert_eq!(
            Timestamp::from_nanos(10).after(t),
            Timestamp::from_nanos(11)
        );
        assert_eq!(
            Timestamp::from_nanos(20).after(t),
            Timestamp::from_nanos(20)
        );
    }
}
