//! A JSON column in the backend's own JSON type (PostgreSQL `jsonb`, MySQL `JSON`,
//! SQLite text checked by `json_valid`), read and written as the document's bytes.

use std::io::Write as _;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{SqlType, Text};
use diesel::sqlite::{Sqlite, SqliteValue};

/// SQL type of a JSON column.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
#[cfg_attr(feature = "mysql", diesel(mysql_type(name = "String")))]
pub struct Json;

/// A JSON document as text, passed through without re-serialisation.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Json)]
pub struct JsonText(pub String);

/// A JSON document borrowed for a write, so a large document is not copied on its way
/// to the database.
#[derive(Debug, Clone, Copy, AsExpression)]
#[diesel(sql_type = Json)]
pub struct JsonStr<'a>(pub &'a str);

/// Version byte of PostgreSQL's binary `jsonb` format.
const JSONB_VERSION: u8 = 1;

impl ToSql<Json, Pg> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl ToSql<Json, Pg> for JsonStr<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Json, Pg> for JsonText {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            Some((&JSONB_VERSION, rest)) => Ok(JsonText(String::from_utf8(rest.to_vec())?)),
            _ => Err("unsupported jsonb encoding".into()),
        }
    }
}

impl ToSql<Json, Sqlite> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.as_str());
        Ok(IsNull::No)
    }
}

impl ToSql<Json, Sqlite> for JsonStr<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0);
        Ok(IsNull::No)
    }
}

impl FromSql<Json, Sqlite> for JsonText {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        <String as FromSql<Text, Sqlite>>::from_sql(value).map(JsonText)
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use diesel::mysql::{Mysql, MysqlValue};

    impl ToSql<Json, Mysql> for JsonText {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Mysql>) -> serialize::Result {
            <str as ToSql<Text, Mysql>>::to_sql(self.0.as_str(), out)
        }
    }

    impl ToSql<Json, Mysql> for JsonStr<'_> {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Mysql>) -> serialize::Result {
            <str as ToSql<Text, Mysql>>::to_sql(self.0, out)
        }
    }

    impl FromSql<Json, Mysql> for JsonText {
        fn from_sql(value: MysqlValue<'_>) -> deserialize::Result<Self> {
            Ok(JsonText(String::from_utf8(value.as_bytes().to_vec())?))
        }
    }
}
