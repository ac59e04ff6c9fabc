//! A keyed work queue with due times: a key is queued at most once (at its earliest due
//! time), and a key being worked on is never handed out twice; scheduling it meanwhile
//! runs it again once the current run is done. Memory is one entry per distinct key.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

struct Inner<K> {
    /// Queued keys by due time.
    due: BTreeSet<(Instant, K)>,
    /// Due time of each queued key.
    queued: HashMap<K, Instant>,
    /// Keys handed out and not yet done.
    running: HashSet<K>,
    /// Keys scheduled while running: queued again when done.
    again: HashMap<K, Instant>,
    closed: bool,
}

/// See the module documentation.
pub struct WorkQueue<K> {
    inner: Mutex<Inner<K>>,
    wake: Notify,
}

impl<K: Clone + Eq + Hash + Ord> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            inner: Mutex::new(Inner {
                due: BTreeSet::new(),
                queued: HashMap::new(),
                running: HashSet::new(),
                again: HashMap::new(),
                closed: false,
            }),
            wake: Notify::new(),
        }
    }
}

impl<K: Clone + Eq + Hash + Ord> WorkQueue<K> {
    /// Queues `key` to run at `at` (or earlier, if it is already queued earlier).
    pub fn schedule(&self, key: K, at: Instant) {
        let mut inner = self.inner.lock().expect("queue lock");
        if inner.running.contains(&key) {
            let when = inner.again.entry(key).or_insert(at);
            *when = (*when).min(at);
            return;
        }
        Self::enqueue(&mut inner, key, at);
        drop(inner);
        self.wake.notify_one();
    }

    fn enqueue(inner: &mut Inner<K>, key: K, at: Instant) {
        if let Some(&current) = inner.queued.get(&key) {
            if current <= at {
                return;
            }
            inner.due.remove(&(current, key.clone()));
        }
        inner.queued.insert(key.clone(), at);
        inner.due.insert((at, key));
    }

    /// Waits for the next due key and marks it running; `None` once closed.
    pub async fn next(&self) -> Option<K> {
        loop {
            // Registered before looking, so no wake-up between the look and the wait is lost.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait_until = {
                let mut inner = self.inner.lock().expect("queue lock");
                if inner.closed {
                    return None;
                }
                match inner.due.first().cloned() {
                    Some((at, key)) if at <= Instant::now() => {
                        inner.due.remove(&(at, key.clone()));
                        inner.queued.remove(&key);
                        inner.running.insert(key.clone());
                        if !inner.due.is_empty() {
                            // Someone else may take the next one.
                            self.wake.notify_one();
                        }
                        return Some(key);
                    }
                    Some((at, _)) => Some(at),
                    None => None,
                }
            };
            match wait_until {
                Some(at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `key` done; if it was scheduled meanwhile it is queued again.
    pub fn done(&self, key: &K) {
        let mut inner = self.inner.lock().expect("queue lock");
        inner.running.remove(key);
        if let Some(at) = inner.again.remove(key) {
            Self::enqueue(&mut inner, key.clone(), at);
            drop(inner);
            self.wake.notify_one();
        }
    }

    /// Keys queued or waiting to run again.
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().expect("queue lock");
        inner.queued.len() + inner.again.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out keys: every `next` returns `None`.
    pub fn close(&self) {
        self.inner.lock().expect("queue lock").closed = true;
        self.wake.notify_waiters();
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn keys_come_out_once_in_due_order() {
        let q = WorkQueue::default();
        let now = Instant::now();
        q.schedule("b", now + Duration::from_secs(2));
        q.schedule("a", now + Duration::from_secs(5));
        q.schedule("a", now + Duration::from_secs(1)); // earlier wins
        q.schedule("b", now + Duration::from_secs(9)); // later is ignored
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some("a"));
        assert!(Instant::now() >= now + Duration::from_secs(1));
        assert_eq!(q.next().await, Some("b"));
        assert!(Instant::now() >= now + Duration::from_secs(2));
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_key_is_not_handed_out_again_until_done() {
        let q = Arc::new(WorkQueue::default());
        q.schedule("k", Instant::now());
        assert_eq!(q.next().await, Some("k"));
        q.schedule("k", Instant::now());
        q.schedule("other", Instant::now() + Duration::from_millis(10));
        // While "k" runs, only "other" comes out.
        assert_eq!(q.next().await, Some("other"));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        q.done(&"k");
        assert_eq!(waiter.await.unwrap(), Some("k"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_schedule_wakes_a_sleeping_worker() {
        let q = Arc::new(WorkQueue::default());
        let start = Instant::now();
        q.schedule("late", start + Duration::from_secs(60));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { (q.next().await, Instant::now()) }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        q.schedule("now", Instant::now());
        let (key, at) = waiter.await.unwrap();
        assert_eq!(key, Some("now"));
        assert!(at < start + Duration::from_secs(2));
    }

    #[tokio::test]
    async fn close_releases_every_worker() {
        let q = Arc::new(WorkQueue::<u32>::default());
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.next().await })
            })
            .collect();
        tokio::task::yield_now().await;
        q.close();
        for w in workers {
            assert_eq!(w.await.unwrap(), None);
        }
    }
}
