//! The SELECT a chunk of a listing page runs: `SELECT <columns> FROM <table> [FORCE INDEX
//! (<index>)] WHERE <condition> ORDER BY <order> LIMIT ?`. It is what diesel's query
//! builder writes for the same query, with one addition diesel has no place for: the
//! MySQL/MariaDB index hint a [`PageQuery`] may carry (see `Plan` in [`super::list`]).
//! The table and index names come from `&'static str` constants of this crate; every
//! value is a bound parameter, as in the fragments of the condition and order.

use diesel::backend::Backend;
use diesel::expression::Expression;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType};
use diesel::{QueryResult, RunQueryDsl};

use crate::fragment::Fragment;
use crate::store::list::PageQuery;

/// One chunk's query: `columns` of `table`, the rows and order `page` says.
pub(crate) struct PageSelect<C> {
    table: &'static str,
    columns: C,
    page: PageQuery,
}

impl<C> PageSelect<C> {
    /// The query of `page`'s rows of `table` (a table of [`crate::schema`]).
    pub(super) fn new(table: &'static str, columns: C, page: PageQuery) -> Self {
        PageSelect {
            table,
            columns,
            page,
        }
    }
}

impl<C: Expression> Query for PageSelect<C> {
    type SqlType = C::SqlType;
}

impl<C> QueryId for PageSelect<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, Conn> RunQueryDsl<Conn> for PageSelect<C> {}

impl<C, DB> QueryFragment<DB> for PageSelect<C>
where
    DB: Backend + HasSqlType<BigInt>,
    C: QueryFragment<DB>,
    Fragment<Bool>: QueryFragment<DB>,
    Fragment<BigInt>: QueryFragment<DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        self.columns.walk_ast(out.reborrow())?;
        out.push_sql(" FROM ");
        out.push_identifier(self.table)?;
        if let Some(index) = self.page.index {
            // MySQL/MariaDB syntax; only plans for that backend name an index.
            out.push_sql(" FORCE INDEX (");
            out.push_sql(index);
            out.push_sql(")");
        }
        out.push_sql(" WHERE ");
        self.page.condition.walk_ast(out.reborrow())?;
        out.push_sql(" ORDER BY ");
        self.page.order.walk_ast(out.reborrow())?;
        out.push_sql(" LIMIT ");
        out.push_bind_param::<BigInt, i64>(&self.page.limit)
    }
}
