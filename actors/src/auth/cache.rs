//! A bounded map whose entries expire: review answers are reused for a while, and never
//! more of them are kept than configured.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// At most `capacity` entries, each answered for `ttl` after it was stored. When full, the
/// oldest entry goes first (expired or not).
#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<K, (Instant, V)>,
    /// Keys in the order they were stored, with the expiry they were stored with: an
    /// entry stored again leaves a stale pair behind, skipped when it comes up.
    order: VecDeque<(K, Instant)>,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of `capacity` entries kept for `ttl`; either zero keeps nothing.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The live value of `key`.
    pub(crate) fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((expires, value)) if *expires > now => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// The live value of `key`, leaving expired entries for [`TtlCache::get`] or
    /// eviction to drop (for readers holding a shared lock).
    pub(crate) fn peek(&self, key: &K, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((expires, value)) if *expires > now => Some(value.clone()),
            _ => None,
        }
    }

    /// Stores `value` for `ttl` from `now`, evicting the oldest entries beyond capacity.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let expires = now + self.ttl;
        self.entries.insert(key.clone(), (expires, value));
        self.order.push_back((key, expires));
        while self.entries.len() > self.capacity || self.order.len() > 2 * self.capacity {
            let Some((oldest, stored)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&oldest).is_some_and(|(e, _)| *e == stored) {
                self.entries.remove(&oldest);
            }
        }
    }

    /// Live and expired entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(10), 8);
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.peek(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.peek(&"a", t0 + Duration::from_secs(10)), None);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10)), None);
        assert_eq!(cache.len(), 0, "an expired entry is dropped when met");
    }

    #[test]
    fn the_oldest_entries_go_beyond_capacity() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(60), 3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            cache.insert(key, i, t0);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&"a", t0), None);
        assert_eq!(cache.get(&"d", t0), Some(3));
        // Storing a key again renews it: "b" is now younger than "c".
        cache.insert("b", 10, t0 + Duration::from_secs(1));
        cache.insert("e", 4, t0 + Duration::from_secs(1));
        assert_eq!(cache.get(&"c", t0), None);
        assert_eq!(cache.get(&"b", t0), Some(10));
    }

    #[test]
    fn a_stream_of_renewals_keeps_the_queue_bounded() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(60), 4);
        for i in 0..1000u64 {
            cache.insert(i % 2, i, t0 + Duration::from_millis(i));
        }
        assert!(cache.order.len() <= 8, "{}", cache.order.len());
        assert_eq!(cache.get(&1, t0), Some(999));
    }

    #[test]
    fn zero_ttl_or_capacity_keeps_nothing() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(Duration::ZERO, 4);
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0), None);
        let mut cache = TtlCache::new(Duration::from_secs(1), 0);
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0), None);
    }
}
