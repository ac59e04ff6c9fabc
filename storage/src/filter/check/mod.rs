//! Checking a parsed CEL expression against the fields of Results or Records, producing
//! the typed IR. Everything outside the allow-list is rejected with a message that names
//! the problem and where it is.
//!
//! [`checker`] holds the entry point and the boolean structure of a filter; the other
//! files check one kind of expression each: [`terms`] (identifiers, selections,
//! literals), [`calls`] (functions and methods), [`arith`] (`+ - * /`), [`compare`]
//! (comparisons and `in`), [`comprehension`] (`exists`/`all`), [`status`] (integer arithmetic on `summary.status`), with the fields each
//! [`Environment`] offers in [`environment`] and time literals in [`time`].

mod arith;
mod calls;
mod checker;
mod compare;
mod comprehension;
mod environment;
mod status;
mod terms;
mod time;

pub(super) use checker::check;
pub use environment::Environment;
