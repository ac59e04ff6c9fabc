//! SQL fragments with bound parameters, usable in diesel queries on every backend.
//!
//! SQL text can only come from `&'static str` (column names, operators, keywords written
//! in this crate); every value goes through [`Fragment::text`], [`Fragment::bigint`] or [`Fragment::double`] as a
//! bind parameter. User input therefore never becomes SQL text.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, Double, HasSqlType, Text};
use diesel::QueryResult;

#[derive(Debug, Clone)]
enum Part {
    Sql(&'static str),
    Text(String),
    BigInt(i64),
    Double(f64),
}

/// A piece of SQL of type `ST` with its bind parameters.
#[derive(Debug, Clone)]
pub(crate) struct Fragment<ST = Bool> {
    parts: Vec<Part>,
    _type: PhantomData<ST>,
}

impl<ST> Default for Fragment<ST> {
    fn default() -> Self {
        Fragment {
            parts: Vec::new(),
            _type: PhantomData,
        }
    }
}

impl<ST> Fragment<ST> {
    /// An empty fragment.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends SQL text written in this crate.
    pub(crate) fn sql(&mut self, sql: &'static str) -> &mut Self {
        self.parts.push(Part::Sql(sql));
        self
    }

    /// Appends a text bind parameter.
    pub(crate) fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.parts.push(Part::Text(value.into()));
        self
    }

    /// Appends a BIGINT bind parameter.
    pub(crate) fn bigint(&mut self, value: i64) -> &mut Self {
        self.parts.push(Part::BigInt(value));
        self
    }

    /// Appends a DOUBLE bind parameter.
    pub(crate) fn double(&mut self, value: f64) -> &mut Self {
        self.parts.push(Part::Double(value));
        self
    }

    /// Appends another fragment.
    pub(crate) fn append<T>(&mut self, other: Fragment<T>) -> &mut Self {
        self.parts.extend(other.parts);
        self
    }

    /// The same SQL, typed as `T`.
    pub(crate) fn cast<T>(self) -> Fragment<T> {
        Fragment {
            parts: self.parts,
            _type: PhantomData,
        }
    }

    /// Whether nothing was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Identifies the SQL text this fragment renders (its bind values left out): equal
    /// shapes prepare the same statement.
    pub(crate) fn shape(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        for part in &self.parts {
            match part {
                Part::Sql(sql) => sql.hash(&mut hasher),
                Part::Text(_) => 1u8.hash(&mut hasher),
                Part::BigInt(_) => 2u8.hash(&mut hasher),
                Part::Double(_) => 3u8.hash(&mut hasher),
            }
        }
        hasher.finish()
    }
}

impl Fragment<Bool> {
    /// The condition itself, or `TRUE` when empty (a WHERE clause needs something).
    pub(crate) fn or_true(self) -> Self {
        if !self.is_empty() {
            return self;
        }
        let mut f = Self::new();
        f.sql("1 = 1");
        f
    }

    /// `(self) AND (other)`; an empty side is left out.
    pub(crate) fn and(self, other: Fragment<Bool>) -> Self {
        if other.is_empty() {
            return self;
        }
        if self.is_empty() {
            return other;
        }
        let mut f = Self::new();
        f.sql("(")
            .append(self)
            .sql(") AND (")
            .append(other)
            .sql(")");
        f
    }
}

impl<ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType> Expression
    for Fragment<ST>
{
    type SqlType = ST;
}

impl<ST, DB> QueryFragment<DB> for Fragment<ST>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Double>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    f64: ToSql<Double, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Sql(sql) => out.push_sql(sql),
                Part::Text(value) => out.push_bind_param::<Text, String>(value)?,
                Part::BigInt(value) => out.push_bind_param::<BigInt, i64>(value)?,
                Part::Double(value) => out.push_bind_param::<Double, f64>(value)?,
            }
        }
        Ok(())
    }
}

impl<ST> QueryId for Fragment<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> AppearsOnTable<QS> for Fragment<ST> where Fragment<ST>: Expression {}
impl<ST, QS> SelectableExpression<QS> for Fragment<ST> where Fragment<ST>: Expression {}
impl<ST, GB> ValidGrouping<GB> for Fragment<ST> {
    type IsAggregate = is_aggregate::Never;
}
