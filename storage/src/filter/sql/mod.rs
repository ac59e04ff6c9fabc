//! Lowering the IR to SQL. [`lower`] walks the IR once; what differs between backends
//! (JSON access, string functions, casts) is asked of a [`dialect::Dialect`], implemented
//! once per backend. SQL text comes only from constants in these files; every value,
//! JSON key and path is a bound parameter.
//!
//! JSON values are read through three dialect helpers: the *kind* of the value at a path
//! ('string', 'number', 'boolean', 'null', 'object', 'array', or NULL when missing), its
//! text, and its number. Comparisons test the kind first, so that the SQL answer is
//! exactly the in-memory one (see `eval.rs`).

mod arith;
mod dialect;
mod json;
mod lower;
mod mysql;
mod path;
mod postgres;
mod sqlite;
mod text;

pub(super) use lower::{json_text, lower};
