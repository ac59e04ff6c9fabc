//! Synchronous queries on one pooled connection, one module per concern. They never
//! spawn or block on async work; callers run them on threads made for blocking I/O.

mod explain;
mod list;
#[cfg(test)]
mod plan_shapes;
mod projection;
mod query_plan;
mod records;
mod results;
mod summary;

pub use explain::{explain_list_records, explain_list_results};
pub use list::{list_records, list_records_projected, list_results, ListRequest, Page};
pub use query_plan::{PlanStep, QueryPlan, StepKind};
pub use records::{create_record, delete_record, get_record, get_record_projected, update_record};
pub use results::{create_result, delete_result, get_result, update_result};
pub use summary::record_list_summary;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::connection::{Backend, Conn};
use crate::Error;

/// How often an update without etag is retried after losing a race to another writer.
const UPDATE_RETRIES: usize = 16;

/// Optimistic concurrency shared by every update: `read` the stored object, check the
/// caller's etag against it, then `write` conditionally on what was read (returning
/// `None` when a concurrent writer got there first). With an etag, losing the race is an
/// etag mismatch; without one, the update is retried on the newer state, so no write is
/// ever lost silently.
fn update_optimistically<S, T>(
    conn: &mut Conn,
    name: &dyn std::fmt::Display,
    given_etag: Option<&str>,
    read: impl Fn(&mut Conn) -> Result<S, Error>,
    etag: impl Fn(&S) -> String,
    write: impl Fn(&mut Conn, S) -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    for _ in 0..UPDATE_RETRIES {
        let stored = read(conn)?;
        let stored_etag = etag(&stored);
        if given_etag.is_some_and(|given| given != stored_etag) {
            return Err(Error::EtagMismatch {
                name: name.to_string(),
                stored: stored_etag,
            });
        }
        if let Some(written) = write(conn, stored)? {
            return Ok(written);
        }
        if given_etag.is_some() {
            return Err(Error::EtagMismatch {
                name: name.to_string(),
                stored: stored_etag,
            });
        }
    }
    Err(Error::EtagMismatch {
        name: name.to_string(),
        stored: "(changing too often to update without an etag; retry)".into(),
    })
}

/// Maps an INSERT failure: a unique violation means the name is taken.
fn insert_error<'a>(name: &'a str, step: &'static str) -> impl FnOnce(DieselError) -> Error + 'a {
    move |e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::AlreadyExists(name.to_owned())
        }
        other => Error::db(step)(other),
    }
}

/// PostgreSQL's `jsonb` cannot hold the NUL character; say so instead of failing late.
fn check_storable_json(backend: Backend, value: &[u8]) -> Result<(), Error> {
    if backend == Backend::Postgres && contains_nul_escape(value) {
        return Err(Error::InvalidArgument(
            "data.value contains the escape \\u0000, which PostgreSQL cannot store in jsonb".into(),
        ));
    }
    Ok(())
}

/// Whether `value` holds an unescaped `\u0000` (looking only at runs of backslashes: in a
/// run of n, pairs are escaped backslashes and an odd one escapes what follows).
fn contains_nul_escape(value: &[u8]) -> bool {
    let mut at = 0;
    while let Some(offset) = value[at..].iter().position(|&b| b == b'\\') {
        let start = at + offset;
        let run = value[start..].iter().take_while(|&&b| b == b'\\').count();
        let after = start + run;
        if run % 2 == 1
            && value
                .get(after..after + 5)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"u0000"))
        {
            return true;
        }
        at = after;
    }
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_nul_escapes_only_when_not_escaped() {
        assert!(super::contains_nul_escape(br#"{"a":"\u0000"}"#));
        assert!(super::contains_nul_escape(br#"{"a":"x\U0000"}"#));
        assert!(!super::contains_nul_escape(br#"{"a":"\\u0000"}"#));
        assert!(!super::contains_nul_escape(br#"{"a":"u0000"}"#));
        assert!(super::contains_nul_escape(br#"{"a":"\\\u0000"}"#));
        assert!(!super::contains_nul_escape(br#"{"a":"\\\\u0000"}"#));
        assert!(!super::contains_nul_escape(br#"{"a":"\u000"}"#));
        assert!(!super::contains_nul_escape(br#"\"#));
        assert!(!super::contains_nul_escape(b""));
    }
}
