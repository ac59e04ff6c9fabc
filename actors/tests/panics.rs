//! A panic while handling one request fails that request alone: the pools keep serving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use results_actors::model::{NewResult, ResultName, Timestamp};
use results_actors::{ActorSettings, Actors, Backend, Clock, ErrorCode, TokenSigner, UuidGen};
use results_storage::testing::TestDb;

/// Panics on its first use, then tells the time.
struct FaultyClock(AtomicBool);

impl Clock for FaultyClock {
    fn now(&self) -> Timestamp {
        if self.0.swap(false, Ordering::SeqCst) {
            panic!("clock failure (injected by the test)");
        }
        Timestamp::now()
    }
}

fn new_result(name: &str) -> NewResult {
    NewResult {
        name: ResultName::parse(name).unwrap(),
        annotations: Default::default(),
        summary: None,
    }
}

#[actix_rt::test]
async fn a_panicking_write_fails_alone() {
    let db = TestDb::migrated(Backend::Sqlite);
    let actors = Actors::start(
        db.database().clone(),
        None,
        TokenSigner::random(),
        Arc::new(FaultyClock(AtomicBool::new(true))),
        Arc::new(UuidGen),
        ActorSettings::default(),
    );

    let err = actors
        .create_result(new_result("ns/results/a"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "{err}");
    // The writer thread survived, and nothing half-done was stored.
    let created = actors
        .create_result(new_result("ns/results/b"))
        .await
        .unwrap();
    assert_eq!(created.name.to_string(), "ns/results/b");
    let missing = actors
        .get_result(ResultName::parse("ns/results/a").unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
}
