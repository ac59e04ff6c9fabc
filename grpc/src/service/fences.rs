//! Read-your-writes with read replicas: after a caller's write, the primary's WAL position
//! is that caller's fence, and its reads go to a replica only once the replica has replayed
//! past it. Callers are told apart by their bearer token (hashed; callers without one
//! share a fence). Memory is bounded: when the table is full it is emptied and its largest
//! fence becomes the floor of every caller's, which can only send more reads to the
//! primary, never a read to a replica too far behind.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use results_actors::auth::Credentials;
use sha2::{Digest, Sha256};

/// Most callers whose fences are kept apart.
const MAX_CALLERS: usize = 10_000;

#[derive(Debug, Default)]
struct Table {
    fences: HashMap<[u8; 32], u64>,
    floor: u64,
}

/// The callers' fences.
#[derive(Debug, Default)]
pub(crate) struct Fences(Mutex<Table>);

fn key(caller: &Credentials) -> [u8; 32] {
    let token = caller.token.as_deref().unwrap_or_default();
    Sha256::digest(token.as_bytes()).into()
}

impl Fences {
    /// `caller` wrote; the primary's WAL stood at `position` after it.
    pub(crate) fn wrote(&self, caller: &Credentials, position: u64) {
        if position == 0 {
            return; // no replicas
        }
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if table.fences.len() >= MAX_CALLERS {
            let highest = table.fences.values().copied().max().unwrap_or(0);
            table.floor = table.floor.max(highest);
            table.fences.clear();
        }
        let fence = table.fences.entry(key(caller)).or_default();
        *fence = (*fence).max(position);
    }

    /// How far a replica must have replayed to serve `caller`.
    pub(crate) fn of(&self, caller: &Credentials) -> u64 {
        let table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let own = table.fences.get(&key(caller)).copied().unwrap_or(0);
        own.max(table.floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(token: &str) -> Credentials {
        Credentials {
            token: Some(token.into()),
            ..Credentials::default()
        }
    }

    #[test]
    fn a_callers_fence_is_its_last_write() {
        let fences = Fences::default();
        assert_eq!(fences.of(&caller("a")), 0);
        fences.wrote(&caller("a"), 10);
        fences.wrote(&caller("a"), 7);
        assert_eq!(fences.of(&caller("a")), 10, "never lowered");
        assert_eq!(fences.of(&caller("b")), 0, "another caller reads anywhere");
        fences.wrote(&caller("b"), 0);
        assert_eq!(fences.of(&caller("b")), 0, "no replicas: no fence");
    }

    #[test]
    fn a_full_table_raises_the_floor_instead_of_forgetting() {
        let fences = Fences::default();
        for i in 0..MAX_CALLERS {
            fences.wrote(&caller(&i.to_string()), i as u64 + 1);
        }
        fences.wrote(&caller("late"), 5);
        let table = fences.0.lock().unwrap();
        assert_eq!(table.fences.len(), 1);
        assert_eq!(table.floor, MAX_CALLERS as u64);
        drop(table);
        assert_eq!(
            fences.of(&caller("0")),
            MAX_CALLERS as u64,
            "forgotten: the floor"
        );
        assert_eq!(fences.of(&caller("late")), MAX_CALLERS as u64);
    }
}
