//! Read replicas: PostgreSQL hot standbys (streaming replication) that serve reads in the
//! primary's place. Each is checked on a schedule — is it reachable, a standby, how far
//! behind (time since its last replayed commit while it has WAL left to replay), and up
//! to which WAL position it has replayed — and is picked for a read only when it is
//! within `max_lag` and, for a caller who wrote, has replayed past that caller's last
//! write (read-your-writes: see [`ReadReplicas::written`]). Otherwise the read goes to
//! the primary. Writes, and the reads an update needs, never come here.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::RunQueryDsl;

use crate::connection::{redact, with_conn, Conn};
use crate::{Backend, Database, Error, PoolSettings, Result};

/// What the last check found of one replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaState {
    /// Reachable and a standby.
    pub healthy: bool,
    /// How far behind the primary it was.
    pub lag: Duration,
    /// The WAL position it had replayed.
    pub replayed: u64,
}

struct Replica {
    /// Its URL without the password, for logs.
    name: String,
    url: String,
    pool: PoolSettings,
    db: Mutex<Option<Database>>,
    state: Mutex<ReplicaState>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("Replica").field("name", &self.name).finish()
    }
}

/// The read replicas of a primary. Cloning an `Arc` of it shares it.
#[derive(Debug)]
pub struct ReadReplicas {
    replicas: Vec<Replica>,
    max_lag: Duration,
    next: AtomicUsize,
    /// The primary's WAL position after the newest write this process committed.
    written: AtomicU64,
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = Text)]
    lsn: String,
}

#[derive(diesel::QueryableByName)]
struct Standby {
    #[diesel(sql_type = Bool)]
    standby: bool,
    #[diesel(sql_type = Text)]
    replayed: String,
    #[diesel(sql_type = BigInt)]
    lag_ms: i64,
}

/// A WAL position (`16/B374D848`) as a number; `None` if it is not one.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    (high <= u32::MAX.into() && low <= u32::MAX.into()).then_some(high << 32 | low)
}

impl ReadReplicas {
    /// The replicas at `urls` (PostgreSQL only; connected at their first check), each with
    /// a pool of `pool`, used while no more than `max_lag` behind.
    pub fn new(urls: &[String], pool: PoolSettings, max_lag: Duration) -> Result<ReadReplicas> {
        let replicas = urls
            .iter()
            .map(|url| {
                if Backend::from_url(url)? != Backend::Postgres {
                    return Err(Error::Connect(format!(
                        "{}: read replicas are PostgreSQL standbys",
                        redact(url)
                    )));
                }
                Ok(Replica {
                    name: redact(url),
                    url: url.clone(),
                    pool: pool.clone(),
                    db: Mutex::new(None),
                    state: Mutex::new(ReplicaState::default()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ReadReplicas {
            replicas,
            max_lag,
            next: AtomicUsize::new(0),
            written: AtomicU64::new(0),
        })
    }

    /// Checks every replica at once, then every `every`, on a thread of its own, for as
    /// long as the replicas are in use. Until a check has found a replica well, reads go
    /// to the primary.
    pub fn start_checking(self: &Arc<Self>, every: Duration) {
        let replicas: Weak<ReadReplicas> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("read-replica-check".into())
            .spawn(move || loop {
                let Some(checked) = replicas.upgrade() else {
                    return;
                };
                checked.check();
                drop(checked);
                std::thread::sleep(every);
            })
            .expect("start the read replica checks");
    }

    /// Checks every replica once.
    pub fn check(&self) {
        for replica in &self.replicas {
            let found = replica.check();
            let mut state = replica.state.lock().unwrap_or_else(PoisonError::into_inner);
            let was = *state;
            match found {
                Ok(now) => {
                    if !was.healthy {
                        tracing::info!(replica = %replica.name, "read replica in use");
                    }
                    *state = now;
                }
                Err(e) => {
                    if was.healthy {
                        tracing::warn!(replica = %replica.name, error = %e, "read replica left out");
                    }
                    state.healthy = false;
                }
            }
        }
    }

    /// What the last check found, per replica, in the configured order.
    pub fn states(&self) -> Vec<ReplicaState> {
        (self.replicas.iter())
            .map(|r| *r.state.lock().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// A replica to read from that is within the lag bound and has replayed `after`; none
    /// when no replica qualifies (then read from the primary). Round robin among them.
    pub fn pick(&self, after: u64) -> Option<Database> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| {
            let replica = &self.replicas[(start + i) % n];
            let state = *replica.state.lock().unwrap_or_else(PoisonError::into_inner);
            let usable = state.healthy && state.lag <= self.max_lag && state.replayed >= after;
            usable
                .then(|| {
                    replica
                        .db
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                })
                .flatten()
        })
    }

    /// Notes the primary's WAL position after a committed write (on `primary`, a
    /// connection to it): a read that must see that write waits for a replica that has
    /// replayed it, or goes to the primary.
    pub fn note_write(&self, primary: &mut Conn) -> Result<()> {
        let position: Position = with_conn!(primary, |c| diesel::sql_query(
            "SELECT pg_current_wal_flush_lsn()::text AS lsn"
        )
        .get_result(c))
        .map_err(Error::db("reading the primary's WAL position"))?;
        let lsn = parse_lsn(&position.lsn).unwrap_or(0);
        self.written.fetch_max(lsn, Ordering::AcqRel);
        Ok(())
    }

    /// The primary's WAL position after the newest write this process committed.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }
}

impl Replica {
    fn check(&self) -> Result<ReplicaState> {
        let db = {
            let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
            if db.is_none() {
                *db = Some(Database::connect(&self.url, self.pool.clone())?);
            }
            db.clone().expect("connected above")
        };
        let standby: Standby = db.read(|conn| {
            with_conn!(conn, |c| diesel::sql_query(
                "SELECT pg_is_in_recovery() AS standby, \
                 COALESCE(pg_last_wal_replay_lsn()::text, '0/0') AS replayed, \
                 CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() \
                 THEN 0 ELSE COALESCE((EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) \
                 * 1000)::bigint, 0) END AS lag_ms"
            )
            .get_result(c))
            .map_err(Error::db("checking a read replica"))
        })?;
        if !standby.standby {
            return Err(Error::Connect(format!(
                "{} is not a standby: read_urls name PostgreSQL hot standbys",
                self.name
            )));
        }
        Ok(ReplicaState {
            healthy: true,
            lag: Duration::from_millis(standby.lag_ms.max(0) as u64),
            replayed: parse_lsn(&standby.replayed).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions_are_numbers() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert!(parse_lsn("1/0") > parse_lsn("0/FFFFFFFF"));
        for bad in ["", "12", "x/1", "1/", "100000000/0"] {
            assert_eq!(parse_lsn(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_postgresql_replicas() {
        let pool = PoolSettings {
            max_size: 1,
            connect_timeout: Duration::from_millis(100),
            ..PoolSettings::default()
        };
        let refused = ReadReplicas::new(&["sqlite://x.db".into()], pool.clone(), Duration::ZERO);
        assert!(refused.unwrap_err().to_string().contains("PostgreSQL"));
        let unchecked = ReadReplicas::new(
            &["postgres://u:secret@127.0.0.1:1/db".into()],
            pool,
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(
            unchecked.pick(0).is_none(),
            "never picked before a check found it well"
        );
        unchecked.check();
        assert!(!unchecked.states()[0].healthy);
        assert!(!format!("{unchecked:?}").contains("secret"));
    }
}
