//! A round trip to the database, for readiness checks.

use diesel::RunQueryDsl;

use crate::connection::{with_conn, Conn};
use crate::{Error, Result};

/// Asks the database a trivial question: fails when it cannot answer.
pub fn ping(conn: &mut Conn) -> Result<()> {
    with_conn!(conn, |c| diesel::sql_query("SELECT 1").execute(c))
        .map(drop)
        .map_err(Error::db("checking that the database answers"))
}
