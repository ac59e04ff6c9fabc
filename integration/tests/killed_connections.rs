//! The database connection dies in the middle of group-committed writes: every caller
//! still gets an answer that matches what is stored (success = stored, error = not stored).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::future::join_all;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use tonic::Code;

/// Reads a record, retrying while the reader's own connection is being re-established.
async fn read(client: &mut Client, name: &str) -> Option<pb::Record> {
    for _ in 0..50 {
        let request = pb::GetRecordRequest { name: name.into() };
        match client.get_record(request).await {
            Ok(r) => return Some(r.into_inner()),
            Err(s) if s.code() == Code::NotFound => return None,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("{name} could not be read");
}

async fn killed_connections_leave_every_answer_true(backend: Backend) {
    let server = Arc::new(TestServer::start(backend));
    let mut client = server.grpc().await;
    for r in ["r0", "r1", "r2", "r3"] {
        create_result(&mut client, "ns", r).await;
    }
    let mut failed = 0;
    let mut round = 0;
    while failed == 0 {
        round += 1;
        assert!(round <= 20, "20 rounds of kills never hit a write");
        let writing = Arc::new(AtomicBool::new(true));
        let killer = tokio::task::spawn_blocking({
            let (server, writing) = (server.clone(), writing.clone());
            move || {
                let mut kills = 0;
                while writing.load(Ordering::Relaxed) {
                    kills += server.db().kill_connections().expect("kill connections");
                    std::thread::sleep(Duration::from_millis(3));
                }
                kills
            }
        });
        let calls = (0..300).map(|i| {
            let mut client = client.clone();
            let result = format!("ns/results/r{}", i % 4);
            let name = format!("k{round}-{i}");
            let request = pb::CreateRecordRequest {
                parent: result.clone(),
                record: Some(record(&result, &name, "t", &format!("{{\"i\":{i}}}"))),
            };
            async move { client.create_record(request).await.map(|r| r.into_inner()) }
        });
        let outcomes: Vec<_> = join_all(calls).await;
        writing.store(false, Ordering::Relaxed);
        let kills = killer.await.unwrap();
        assert!(kills > 0, "no connection was killed");
        for (i, outcome) in outcomes.iter().enumerate() {
            let name = format!("ns/results/r{}/records/k{round}-{i}", i % 4);
            let stored = read(&mut client, &name).await;
            match (outcome, stored) {
                (Ok(acked), Some(stored)) => {
                    assert_eq!(
                        (&acked.uid, &acked.etag),
                        (&stored.uid, &stored.etag),
                        "{name}"
                    );
                }
                (Ok(_), None) => panic!("{name}: acknowledged but not stored"),
                (Err(status), None) => {
                    assert_eq!(status.code(), Code::Unavailable, "{name}: {status:?}");
                    failed += 1;
                }
                // "Could not be checked" is true either way: the database stayed away for
                // the writer's whole read-back window (the killer is still at work), and the
                // answer tells the caller to read before retrying.
                (Err(status), Some(_)) => assert!(
                    status.code() == Code::Unavailable
                        && status.message().contains("outcome could not be checked"),
                    "{name}: stored, but the caller got {status:?}"
                ),
            }
        }
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_connections_leave_every_answer_true() {
        super::killed_connections_leave_every_answer_true(results_storage::Backend::Postgres).await
    }
}

mod mariadb {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_connections_leave_every_answer_true() {
        super::killed_connections_leave_every_answer_true(results_storage::Backend::Mysql).await
    }
}
