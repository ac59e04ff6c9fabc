//! Leases: a named job (retention, each webhook sink) is run by one replica at a time,
//! the lease's holder, until it expires. Each step is one conditional statement, correct under concurrency
//! on every backend: a renewal or takeover is an `UPDATE … WHERE holder = me OR expired`
//! (the row lock makes a second contender re-check the condition against the first
//! one's write, so it matches nothing), and the first acquisition an `INSERT` whose
//! primary key lets exactly one contender in. No transaction is held across statements.
//!
//! Times come from the callers' clocks: replicas' clocks must agree to well within a
//! lease's length.

use std::time::Duration;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::connection::{with_conn, Conn};
use crate::model::Timestamp;
use crate::schema::leases;
use crate::{Error, Result};

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder's identity.
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires: Timestamp,
}

fn expiry(now: Timestamp, ttl: Duration) -> i64 {
    let ttl = i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX);
    now.as_nanos().saturating_add(ttl)
}

/// Takes or renews lease `name` for `holder` until `now + ttl`: answers whether `holder`
/// holds it now. Fails over to `holder` only once the current holder's lease expired.
pub fn acquire(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    now: Timestamp,
    ttl: Duration,
) -> Result<bool> {
    let expires = expiry(now, ttl);
    // Renewal or takeover. (MySQL counts matched rows here, as diesel connects with
    // CLIENT_FOUND_ROWS, so an unchanged row still counts.)
    let updated = with_conn!(conn, |c| diesel::update(
        leases::table.filter(leases::name.eq(name)).filter(
            leases::holder
                .eq(holder)
                .or(leases::expires.lt(now.as_nanos()))
        )
    )
    .set((leases::holder.eq(holder), leases::expires.eq(expires)))
    .execute(c))
    .map_err(Error::db("renewing a lease"))?;
    if updated == 1 {
        return Ok(true);
    }
    // Not there yet, or held by someone else: creating it decides the former.
    let inserted = with_conn!(conn, |c| diesel::insert_into(leases::table)
        .values((
            leases::name.eq(name),
            leases::holder.eq(holder),
            leases::expires.eq(expires),
        ))
        .execute(c));
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(Error::db("taking a lease")(e)),
    }
}

/// Gives lease `name` up if `holder` holds it (another replica may take it at once);
/// answers whether it did.
pub fn release(conn: &mut Conn, name: &str, holder: &str) -> Result<bool> {
    let deleted = with_conn!(conn, |c| diesel::delete(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder))
    )
    .execute(c))
    .map_err(Error::db("releasing a lease"))?;
    Ok(deleted == 1)
}

/// Who holds lease `name` (perhaps expired), if anyone.
pub fn read(conn: &mut Conn, name: &str) -> Result<Option<Lease>> {
    let row = with_conn!(conn, |c| leases::table
        .filter(leases::name.eq(name))
        .select((leases::holder, leases::expires))
        .first::<(String, i64)>(c)
        .optional())
    .map_err(Error::db("reading a lease"))?;
    Ok(row.map(|(holder, expires)| Lease {
        holder,
        expires: Timestamp::from_nanos(expires),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;
    use crate::Backend;

    const SEC: i64 = 1_000_000_000;
    const TTL: Duration = Duration::from_secs(10);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_nanos(1_700_000_000 * SEC + seconds * SEC)
    }

    /// Two holders, renewal, expiry, takeover and release.
    fn one_holder_at_a_time(backend: Backend) {
        let db = TestDb::migrated(backend);
        let mut conn = db.database().get().unwrap();
        let c = &mut conn;
        assert!(acquire(c, "retention", "a", at(0), TTL).unwrap());
        assert!(
            !acquire(c, "retention", "b", at(1), TTL).unwrap(),
            "a holds it"
        );
        assert!(acquire(c, "retention", "a", at(5), TTL).unwrap(), "renewal");
        // Still held (renewed until 15 s).
        assert!(!acquire(c, "retention", "b", at(12), TTL).unwrap());
        assert_eq!(read(c, "retention").unwrap().unwrap().holder, "a");
        // Other names are independent.
        assert!(acquire(c, "webhooks", "b", at(12), TTL).unwrap());
        // Expired: b takes over, and a cannot renew any more.
        assert!(
            acquire(c, "retention", "b", at(16), TTL).unwrap(),
            "takeover"
        );
        assert!(!acquire(c, "retention", "a", at(17), TTL).unwrap());
        assert_eq!(
            read(c, "retention").unwrap(),
            Some(Lease {
                holder: "b".into(),
                expires: at(26)
            })
        );
        // Only the holder releases; then anyone may take it at once.
        assert!(!release(c, "retention", "a").unwrap());
        assert!(release(c, "retention", "b").unwrap());
        assert_eq!(read(c, "retention").unwrap(), None);
        assert!(acquire(c, "retention", "a", at(18), TTL).unwrap());
    }

    /// Many contenders at once, for a fresh lease and for an expired one: exactly one
    /// wins each time.
    fn contenders_race(backend: Backend) {
        let db = TestDb::migrated(backend);
        for (round, now) in [(0, at(0)), (1, at(100))] {
            let winners: usize = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|i| {
                        let database = db.database().clone();
                        s.spawn(move || {
                            let mut conn = database.get().unwrap();
                            let holder = format!("r{round}-{i}");
                            usize::from(acquire(&mut conn, "race", &holder, now, TTL).unwrap())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(winners, 1, "{backend:?} round {round}");
        }
    }

    crate::on_every_backend!(one_holder_at_a_time, contenders_race);
}
