//! Pooled connections that the pool retires when they broke or hold too many statements.

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, PoisonError, RwLock};

use diesel::r2d2::{self, ConnectionManager, ManageConnection, R2D2Connection};

use crate::filter::IndexedPaths;

/// The indexed JSON paths a pool's queries may use, shared by its connections (see
/// `Database::migrate`, which makes them, and [`crate::json_indexes::active`]).
pub(crate) type SharedPaths = Arc<RwLock<IndexedPaths>>;

/// before the pool replaces it. diesel keeps every prepared statement for the life of the
/// connection (and PostgreSQL keeps them server-side), while filter shapes are chosen by
/// clients: this bounds that memory per connection.
pub const MAX_STATEMENT_SHAPES: usize = 256;

/// A diesel connection with what the pool needs to know beyond diesel's own view: the
/// user-shaped statements it has cached, and whether it broke.
pub struct Tracked<C> {
    conn: C,
    pub(super) usage: Usage,
    indexed: SharedPaths,
}

impl<C> Tracked<C> {
    /// The indexed JSON paths in use.
    pub(super) fn indexed_paths(&self) -> IndexedPaths {
        self.indexed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// See [`Tracked`].
#[derive(Default)]
pub(super) struct Usage {
    pub(super) shapes: HashSet<u64>,
    pub(super) retired: bool,
}

impl<C> Deref for Tracked<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> DerefMut for Tracked<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

/// diesel's connection manager, plus retirement of broken and over-full connections.
pub struct Manager<C: R2D2Connection + 'static>(ConnectionManager<C>, SharedPaths);

impl<C: R2D2Connection + 'static> Manager<C> {
    /// A manager connecting to `url` (a path for SQLite), whose connections use no
    /// indexed JSON paths.
    pub fn new(url: impl Into<String>) -> Self {
        Manager::sharing(url, SharedPaths::default())
    }

    /// A manager whose connections use the indexed JSON paths `indexed` holds.
    pub(crate) fn sharing(url: impl Into<String>, indexed: SharedPaths) -> Self {
        Manager(ConnectionManager::new(url), indexed)
    }
}

impl<C: R2D2Connection + 'static> ManageConnection for Manager<C> {
    type Connection = Tracked<C>;
    type Error = r2d2::Error;

    fn connect(&self) -> std::result::Result<Tracked<C>, r2d2::Error> {
        Ok(Tracked {
            conn: self.0.connect()?,
            usage: Usage::default(),
            indexed: self.1.clone(),
        })
    }

    fn is_valid(&self, conn: &mut Tracked<C>) -> std::result::Result<(), r2d2::Error> {
        self.0.is_valid(&mut conn.conn)
    }

    fn has_broken(&self, conn: &mut Tracked<C>) -> bool {
        conn.usage.retired
            || conn.usage.shapes.len() > MAX_STATEMENT_SHAPES
            || self.0.has_broken(&mut conn.conn)
    }
}
