//! Two replicas of `results-api` on one database: a watcher on replica A sees every change
//! written through either replica exactly once, in strictly increasing revision order, with
//! the object GetRecord answers; a watcher that disconnects from A resumes on B from the last
//! revision it saw and gets exactly what it missed.
//!
//! Replica A reads B's commits only through the change log (its poll), its own at once.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use futures::future::join_all;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::watch_client::WatchClient;
use results_storage::Backend;
use tonic::transport::Channel;
use tonic::Streaming;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    two_replicas_one_database(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb() {
    two_replicas_one_database(Backend::Mysql).await;
}

/// Results the records spread over.
const RESULTS: usize = 5;
/// Records created through B, by this many concurrent tasks.
const ON_B: usize = 500;
const TASKS: usize = 10;
/// Records created through A (concurrently with B's).
const ON_A: usize = 50;

/// A hang guard for one event (not a timing assertion: a healthy run waits well under a
/// second).
const EVENT_WAIT: Duration = Duration::from_secs(60);

fn result_name(i: usize) -> String {
    let r = i % RESULTS;
    format!("ns{}/results/r{r}", r % 2)
}

fn record_name(i: usize) -> String {
    format!("{}/records/x{i}", result_name(i))
}

async fn connect(addr: std::net::SocketAddr) -> (Client, WatchClient<Channel>) {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect()
        .await
        .expect("connect to gRPC");
    (
        Client::new(channel.clone()).max_decoding_message_size(64 << 20),
        WatchClient::new(channel).max_decoding_message_size(64 << 20),
    )
}

/// Creates records `range` through `client`, `tasks` at a time; answers what was stored.
async fn create_many(
    client: &Client,
    range: std::ops::Range<usize>,
    tasks: usize,
) -> Vec<pb::Record> {
    let chunks: Vec<Vec<usize>> = (0..tasks)
        .map(|t| range.clone().filter(|i| i % tasks == t).collect())
        .collect();
    let work = chunks.into_iter().map(|chunk| {
        let mut client = client.clone();
        async move {
            let mut stored = Vec::new();
            for i in chunk {
                let json = format!("{{\"i\":{i}}}");
                stored.push(
                    create_record(&mut client, &result_name(i), &format!("x{i}"), &json).await,
                );
            }
            stored
        }
    });
    join_all(work).await.into_iter().flatten().collect()
}

/// The next change event (bookmarks skipped); panics if the stream ends.
async fn next_change(stream: &mut Streaming<pb::RecordEvent>, last: &mut i64) -> pb::RecordEvent {
    loop {
        let event = tokio::time::timeout(EVENT_WAIT, stream.message())
            .await
            .expect("an event within the hang guard")
            .expect("the stream stays open")
            .expect("the stream stays open");
        if event.r#type == pb::EventType::Bookmark as i32 {
            assert!(
                event.revision >= *last,
                "a bookmark went back: {} after {last}",
                event.revision
            );
            *last = event.revision;
            continue;
        }
        assert!(
            event.revision > *last,
            "revision {} of {} does not follow {last}",
            event.revision,
            event.object.as_ref().map_or("?", |r| r.name.as_str())
        );
        *last = event.revision;
        return event;
    }
}

/// What a stream delivered, per record: the event types in order and the last object.
#[derive(Default)]
struct Seen {
    kinds: BTreeMap<String, Vec<i32>>,
    last: HashMap<String, pb::Record>,
    count: usize,
}

impl Seen {
    fn add(&mut self, event: pb::RecordEvent) {
        let record = event.object.expect("a change carries its object");
        self.kinds
            .entry(record.name.clone())
            .or_default()
            .push(event.r#type);
        self.last.insert(record.name.clone(), record);
        self.count += 1;
    }
}

async fn two_replicas_one_database(backend: Backend) {
    let a = TestServer::start(backend);
    let b = a.replica();
    let (mut client_a, mut watch_a) = connect(a.grpc_addr()).await;
    let (mut client_b, mut watch_b) = connect(b.grpc_addr()).await;
    for r in 0..RESULTS {
        let name = result_name(r);
        let (parent, result) = name.split_once("/results/").unwrap();
        create_result(&mut client_b, parent, result).await;
    }

    // Subscribed on A; the opening bookmark says the stream is registered.
    let mut stream = watch_a
        .watch_records(pb::WatchRecordsRequest {
            parent: "-/results/-".into(),
            ..Default::default()
        })
        .await
        .expect("watch on A")
        .into_inner();
    let opening = stream
        .message()
        .await
        .unwrap()
        .expect("an opening bookmark");
    assert_eq!(opening.r#type, pb::EventType::Bookmark as i32);
    let mut last = opening.revision;

    // Creates through both replicas at once, then updates and deletes across them.
    let (on_b, on_a) = tokio::join!(
        create_many(&client_b, 0..ON_B, TASKS),
        create_many(&client_a, ON_B..ON_B + ON_A, 2),
    );
    assert_eq!((on_b.len(), on_a.len()), (ON_B, ON_A));
    let updated_via_a: Vec<usize> = (0..ON_B).step_by(10).collect();
    let updated_via_b: Vec<usize> = (ON_B..ON_B + ON_A).step_by(5).collect();
    let deleted_via_b: Vec<usize> = (1..ON_B).step_by(50).collect();
    let update = |client: &Client, i: usize| {
        let mut client = client.clone();
        async move {
            let record = pb::Record {
                name: record_name(i),
                data: Some(pb::Any {
                    r#type: String::new(),
                    value: format!("{{\"i\":{i},\"updated\":true}}").into_bytes(),
                }),
                ..Default::default()
            };
            client
                .update_record(pb::UpdateRecordRequest {
                    record: Some(record),
                    update_mask: None,
                    etag: String::new(),
                })
                .await
                .expect("update record");
        }
    };
    join_all(
        updated_via_a
            .iter()
            .map(|&i| update(&client_a, i))
            .chain(updated_via_b.iter().map(|&i| update(&client_b, i))),
    )
    .await;
    for &i in &deleted_via_b {
        client_b
            .delete_record(pb::DeleteRecordRequest {
                name: record_name(i),
            })
            .await
            .expect("delete record");
    }

    let added = ON_B + ON_A;
    let expected = added + updated_via_a.len() + updated_via_b.len() + deleted_via_b.len();
    let mut seen = Seen::default();
    let mut before_delete = HashMap::new();
    while seen.count < expected {
        let event = next_change(&mut stream, &mut last).await;
        if event.r#type == pb::EventType::Deleted as i32 {
            let name = event.object.as_ref().unwrap().name.clone();
            if let Some(previous) = seen.last.get(&name) {
                before_delete.insert(name, previous.clone());
            }
        }
        seen.add(event);
    }
    let seen_on_a = last;

    // Exactly once each, in the order they happened to each record.
    assert_eq!(seen.kinds.len(), added, "every created record was seen");
    let (added_t, modified_t, deleted_t) = (
        pb::EventType::Added as i32,
        pb::EventType::Modified as i32,
        pb::EventType::Deleted as i32,
    );
    for i in 0..added {
        let name = record_name(i);
        let mut want = vec![added_t];
        if updated_via_a.contains(&i) || updated_via_b.contains(&i) {
            want.push(modified_t);
        }
        if deleted_via_b.contains(&i) {
            want.push(deleted_t);
        }
        assert_eq!(seen.kinds.get(&name), Some(&want), "events of {name}");
    }
    // The objects are what GetRecord answers (on the replica watched).
    for i in 0..added {
        let name = record_name(i);
        let got = seen.last.get(&name).unwrap();
        if deleted_via_b.contains(&i) {
            assert_code(
                get_record(&mut client_a, &name).await,
                tonic::Code::NotFound,
                "",
            );
            // DELETED carries the record's last state.
            assert_same_record(got, before_delete.get(&name).unwrap());
        } else {
            let stored = get_record(&mut client_a, &name).await.unwrap();
            assert_same_record(got, &stored);
        }
    }

    // Disconnect from A; what B writes meanwhile is replayed to a watch resumed on B.
    drop(stream);
    let missed = 100;
    let more = create_many(&client_b, 1000..1000 + missed, TASKS).await;
    assert_eq!(more.len(), missed);
    let mut resumed = watch_b
        .watch_records(pb::WatchRecordsRequest {
            parent: "-/results/-".into(),
            resume_from: Some(seen_on_a),
            ..Default::default()
        })
        .await
        .expect("resume on B")
        .into_inner();
    let mut last = seen_on_a;
    let mut replayed = Seen::default();
    while replayed.count < missed {
        replayed.add(next_change(&mut resumed, &mut last).await);
    }
    for record in &more {
        assert_eq!(replayed.kinds.get(&record.name), Some(&vec![added_t]));
        assert_same_record(replayed.last.get(&record.name).unwrap(), record);
    }
    // Nothing else follows the missed ones: the next change is the next write.
    let sentinel = create_record(&mut client_a, &result_name(0), "sentinel", "{}").await;
    let next = next_change(&mut resumed, &mut last).await;
    assert_eq!(next.r#type, added_t);
    assert_same_record(next.object.as_ref().unwrap(), &sentinel);
}
