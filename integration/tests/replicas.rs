//! Several `results-api` replicas on one PostgreSQL or MariaDB database: replicas that
//! start together on a new database take turns migrating; creates through both all land;
//! of two updates with one etag through different replicas exactly one wins; a listing is
//! paged across replicas with one shared `paging.token_key`, and a replica with another key
//! refuses the other's tokens.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};

use common::{assert_code, Client};
use futures::future::join_all;
use integration::{loopback_settings, Backend, ServerThread, TestDb, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::server::open_database;
use tonic::transport::Channel;
use tonic::Code;

async fn client(addr: SocketAddr) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    Client::new(channel)
}

async fn replicas_starting_together_take_turns_migrating(backend: Backend) {
    const REPLICAS: usize = 4;
    let db = TestDb::create(backend);
    let settings = loopback_settings(db.url(), "key");
    let barrier = Arc::new(Barrier::new(REPLICAS));
    let starts: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let (settings, barrier) = (settings.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                open_database(&settings).map(|db| db.migrate())
            })
        })
        .collect();
    let mut applied = Vec::new();
    for start in starts {
        let migrated = start.join().unwrap().expect("every replica starts");
        applied.push(migrated.expect("nothing left to migrate after the first"));
    }
    // One replica applied them all (under the lock); the later `migrate` calls found
    // nothing pending.
    assert!(applied.iter().all(Vec::is_empty), "{applied:?}");
    let server = ServerThread::start(settings).expect("serves on the migrated database");
    let mut grpc = client(server.grpc_addr()).await;
    grpc.create_result(pb::CreateResultRequest {
        parent: "ns".into(),
        result: Some(pb::Result {
            name: "ns/results/r".into(),
            ..Default::default()
        }),
    })
    .await
    .expect("the schema is whole");
}

async fn two_replicas_serve_one_database_as_one(backend: Backend) {
    const RESULTS: usize = 60;
    let a = TestServer::start(backend);
    let b = a.replica();
    let (mut to_a, mut to_b) = (a.grpc().await, client(b.grpc_addr()).await);

    // Creates through both at once all land.
    let creates = (0..RESULTS).map(|i| {
        let mut client = if i % 2 == 0 {
            to_a.clone()
        } else {
            to_b.clone()
        };
        async move {
            client
                .create_result(pb::CreateResultRequest {
                    parent: "ns".into(),
                    result: Some(pb::Result {
                        name: format!("ns/results/r{i:03}"),
                        ..Default::default()
                    }),
                })
                .await
                .map(|r| r.into_inner().name)
        }
    });
    let created: BTreeSet<String> = join_all(creates)
        .await
        .into_iter()
        .map(|r| r.expect("create"))
        .collect();
    assert_eq!(created.len(), RESULTS);

    // One etag, two replicas: exactly one update wins, the other is told the object moved.
    for round in 0..10 {
        let name = format!("ns/results/r{round:03}");
        let etag = to_a
            .get_result(pb::GetResultRequest { name: name.clone() })
            .await
            .unwrap()
            .into_inner()
            .etag;
        let update = |client: &Client, by: &'static str| {
            let (mut client, name, etag) = (client.clone(), name.clone(), etag.clone());
            async move {
                client
                    .update_result(pb::UpdateResultRequest {
                        name: name.clone(),
                        result: Some(pb::Result {
                            name,
                            annotations: [("by".to_string(), by.to_string())].into(),
                            ..Default::default()
                        }),
                        etag,
                    })
                    .await
            }
        };
        let (via_a, via_b) = tokio::join!(update(&to_a, "a"), update(&to_b, "b"));
        let (winner, loser) = match (&via_a, &via_b) {
            (Ok(_), Err(_)) => ("a", via_b),
            (Err(_), Ok(_)) => ("b", via_a),
            _ => panic!("round {round}: exactly one must win: {via_a:?} / {via_b:?}"),
        };
        assert_code(loser, Code::FailedPrecondition, "etag");
        let stored = to_b
            .get_result(pb::GetResultRequest { name })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.annotations["by"], winner, "round {round}");
    }

    // A listing paged across both replicas: each page from the other one.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    for page in 0.. {
        let client = if page % 2 == 0 { &mut to_a } else { &mut to_b };
        let answer = client
            .list_results(pb::ListResultsRequest {
                parent: "ns".into(),
                page_size: 7,
                page_token,
                order_by: "create_time asc".into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("page {page}: {e:?}"))
            .into_inner();
        listed.extend(answer.results.into_iter().map(|r| r.name));
        if answer.next_page_token.is_empty() {
            break;
        }
        page_token = answer.next_page_token;
    }
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "no Result twice: {listed:?}");
    assert_eq!(unique, created, "every Result once");

    // A replica with another key: the others' tokens are not its own.
    let mut settings = a.settings().clone();
    settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.rest_addr = "127.0.0.1:0".parse().unwrap();
    settings.paging.token_key = "another key".into();
    let stranger = ServerThread::start(settings).unwrap();
    let token = to_a
        .list_results(pb::ListResultsRequest {
            parent: "ns".into(),
            page_size: 7,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    let refused = client(stranger.grpc_addr())
        .await
        .list_results(pb::ListResultsRequest {
            parent: "ns".into(),
            page_size: 7,
            page_token: token,
            ..Default::default()
        })
        .await;
    assert_code(refused, Code::InvalidArgument, "page_token");
}

// Replicas need a database server: SQLite is one file for one process.
mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_starting_together_take_turns_migrating() {
        super::replicas_starting_together_take_turns_migrating(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_serve_one_database_as_one() {
        super::two_replicas_serve_one_database_as_one(Backend::Postgres).await;
    }
}

mod mariadb {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_starting_together_take_turns_migrating() {
        super::replicas_starting_together_take_turns_migrating(Backend::Mysql).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_serve_one_database_as_one() {
        super::two_replicas_serve_one_database_as_one(Backend::Mysql).await;
    }
}
