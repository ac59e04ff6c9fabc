//! Watch streams end to end, on every backend: concurrent writes arrive once each in
//! revision order (live and replayed alike), a resumed watch gets exactly what it missed,
//! a slow reader is dropped with the revision to resume from while writers go on, REST
//! answers newline-delimited JSON and server-sent events, bad requests are refused before
//! the stream opens, a pruned revision is OUT_OF_RANGE / 410, and with auth a watch over
//! `-` sees exactly the namespaces its caller may list.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use integration::secured::{bearer, TempDir};
use integration::server::{HeaderChannel, API};
use integration::{backend_tests, Backend, TestServer};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::watch_client::WatchClient;
use results_grpc::settings::AuthMode;
use serde_json::{json, Value};
use tonic::{Code, Streaming};

backend_tests!(
    concurrent_writes_arrive_once_in_revision_order,
    a_resumed_watch_gets_exactly_what_it_missed,
    a_slow_reader_is_dropped_while_writers_go_on,
    rest_streams_ndjson_and_server_sent_events,
    bad_watches_are_refused_before_the_stream_opens,
    resuming_from_a_pruned_revision_is_out_of_range,
    a_watch_sees_only_namespaces_its_caller_may_list,
    a_shutdown_ends_streams_naming_where_to_resume,
);

/// How long a test waits for an event before it fails (a bound on waiting, not a
/// requirement on speed).
const WAIT: Duration = Duration::from_secs(120);

type Watch = WatchClient<HeaderChannel>;

const ADDED: i32 = pb::EventType::Added as i32;
const MODIFIED: i32 = pb::EventType::Modified as i32;
const DELETED: i32 = pb::EventType::Deleted as i32;
const BOOKMARK: i32 = pb::EventType::Bookmark as i32;

async fn watch_records(
    watch: &mut Watch,
    parent: &str,
    filter: &str,
    resume_from: Option<i64>,
) -> Result<Streaming<pb::RecordEvent>, tonic::Status> {
    Ok(watch
        .watch_records(pb::WatchRecordsRequest {
            parent: parent.into(),
            filter: filter.into(),
            resume_from,
        })
        .await?
        .into_inner())
}

/// A stream of `parent`'s Records from now, its opening bookmark read: the stream and the
/// revision it starts after.
async fn watch_from_now(
    watch: &mut Watch,
    parent: &str,
    filter: &str,
) -> (Streaming<pb::RecordEvent>, i64) {
    let mut stream = watch_records(watch, parent, filter, None).await.unwrap();
    let opened = next(&mut stream).await.unwrap();
    assert_eq!(opened.r#type, BOOKMARK, "a stream opens with a bookmark");
    (stream, opened.revision)
}

/// The next event of `stream`, or the status it ended with.
async fn next(stream: &mut Streaming<pb::RecordEvent>) -> Result<pb::RecordEvent, tonic::Status> {
    match tokio::time::timeout(WAIT, stream.message()).await {
        Err(_) => panic!("no event within {WAIT:?}"),
        Ok(Ok(Some(event))) => Ok(event),
        Ok(Ok(None)) => panic!("the stream ended without a status"),
        Ok(Err(status)) => Err(status),
    }
}

/// The next `n` changes of `stream` (bookmarks skipped).
async fn changes(stream: &mut Streaming<pb::RecordEvent>, n: usize) -> Vec<pb::RecordEvent> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let event = next(stream).await.expect("a change");
        if event.r#type != BOOKMARK {
            out.push(event);
        }
    }
    out
}

/// What identifies an event: revision, type and the object's name.
fn key(e: &pb::RecordEvent) -> (i64, i32, String) {
    (
        e.revision,
        e.r#type,
        e.object
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_default(),
    )
}

async fn put_record(client: &mut Client, result: &str, name: &str, type_: &str, json: &str) {
    client
        .create_record(pb::CreateRecordRequest {
            parent: result.into(),
            record: Some(record(result, name, type_, json)),
        })
        .await
        .expect("create record");
}

async fn update_record(client: &mut Client, name: &str, type_: &str, json: &str) {
    client
        .update_record(pb::UpdateRecordRequest {
            record: Some(pb::Record {
                name: name.into(),
                data: Some(pb::Any {
                    r#type: type_.into(),
                    value: json.as_bytes().to_vec(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("update record");
}

async fn delete_record(client: &mut Client, name: &str) {
    client
        .delete_record(pb::DeleteRecordRequest { name: name.into() })
        .await
        .expect("delete record");
}

async fn concurrent_writes_arrive_once_in_revision_order(backend: Backend) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 1000;
    // Per writer: every record created, every 5th updated, every 20th then deleted.
    const EVENTS: usize = WRITERS * (PER_WRITER + PER_WRITER / 5 + PER_WRITER / 20);
    assert_eq!(EVENTS, 10_000);
    // ns-1 holds writers 1 and 5; "even" records are the even-numbered ones (updated when
    // i % 10 == 4, never deleted: deletes hit odd numbers).
    const EVENS_IN_NS_1: usize = 2 * (PER_WRITER / 2 + PER_WRITER / 10);

    let server = TestServer::start(backend);
    let mut watch = server.watch_with(&[]).await;
    let (mut all, start) = watch_from_now(&mut watch, "-/results/-", "").await;
    let (mut evens, _) =
        watch_from_now(&mut watch, "ns-1/results/-", r#"data_type == "even""#).await;
    // Read while the writers write: a stream that is not read falls behind and is dropped.
    let all = tokio::spawn(async move { changes(&mut all, EVENTS).await });
    let evens = tokio::spawn(async move { changes(&mut evens, EVENS_IN_NS_1).await });

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut client = server.grpc().await;
        writers.push(tokio::spawn(async move {
            let ns = format!("ns-{}", w % 4);
            let result = format!("{ns}/results/run-{w}");
            create_result(&mut client, &ns, &format!("run-{w}")).await;
            let mut done = Vec::new();
            for i in 0..PER_WRITER {
                let type_ = if i % 2 == 0 { "even" } else { "odd" };
                let name = format!("{result}/records/x{i}");
                put_record(
                    &mut client,
                    &result,
                    &format!("x{i}"),
                    type_,
                    &format!(r#"{{"i":{i}}}"#),
                )
                .await;
                done.push((name.clone(), ADDED));
                if i % 5 == 4 {
                    update_record(&mut client, &name, type_, &format!(r#"{{"i":{i},"u":1}}"#))
                        .await;
                    done.push((name.clone(), MODIFIED));
                }
                if i % 20 == 19 {
                    delete_record(&mut client, &name).await;
                    done.push((name, DELETED));
                }
            }
            done
        }));
    }
    let mut expected: HashMap<String, Vec<i32>> = HashMap::new();
    for writer in writers {
        for (name, kind) in writer.await.unwrap() {
            expected.entry(name).or_default().push(kind);
        }
    }

    let all = all.await.unwrap();
    assert_eq!(all.len(), EVENTS);
    assert!(all[0].revision > start);
    for pair in all.windows(2) {
        assert!(
            pair[0].revision < pair[1].revision,
            "revisions must increase: {:?} then {:?}",
            key(&pair[0]),
            key(&pair[1])
        );
    }
    let mut seen: HashMap<String, Vec<i32>> = HashMap::new();
    for event in &all {
        let object = event.object.as_ref().expect("a change carries its object");
        seen.entry(object.name.clone())
            .or_default()
            .push(event.r#type);
    }
    assert_eq!(
        seen, expected,
        "every write is one event, in the order it was made, and nothing else"
    );
    // Each event carries the object as it was written: the last one of each record that
    // still exists is what a Get answers now.
    let mut last: HashMap<&str, &pb::Record> = HashMap::new();
    for event in &all {
        let object = event.object.as_ref().unwrap();
        if event.r#type == DELETED {
            last.remove(object.name.as_str());
        } else {
            last.insert(&object.name, object);
        }
    }
    let mut client = server.grpc().await;
    for (i, (name, object)) in last.iter().enumerate() {
        if i % 10 == 0 {
            let stored = get_record(&mut client, name).await.unwrap();
            assert_same_record(&stored, object);
        }
    }

    // The filtered stream is exactly the matching part of the full one.
    let evens = evens.await.unwrap();
    let matching: Vec<_> = all
        .iter()
        .filter(|e| {
            let o = e.object.as_ref().unwrap();
            o.name.starts_with("ns-1/") && o.data.as_ref().is_some_and(|d| d.r#type == "even")
        })
        .map(key)
        .collect();
    assert_eq!(evens.iter().map(key).collect::<Vec<_>>(), matching);

    // A replay from the start is the live stream again, event for event.
    let mut replay = watch_records(&mut watch, "-/results/-", "", Some(start))
        .await
        .unwrap();
    let replayed = changes(&mut replay, EVENTS).await;
    assert!(replayed == all, "a replay differs from the live stream");
}

async fn a_resumed_watch_gets_exactly_what_it_missed(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let mut watch = server.watch_with(&[]).await;
    let (mut stream, _) = watch_from_now(&mut watch, "ns/results/r", "").await;
    for i in 0..5 {
        put_record(&mut client, "ns/results/r", &format!("x{i}"), "t", "{}").await;
    }
    let seen = changes(&mut stream, 5).await;
    let last = seen.last().unwrap().revision;
    drop(stream);

    // Missed while disconnected.
    for i in 5..10 {
        put_record(&mut client, "ns/results/r", &format!("x{i}"), "t", "{}").await;
    }
    update_record(&mut client, "ns/results/r/records/x0", "t", r#"{"v":2}"#).await;
    delete_record(&mut client, "ns/results/r/records/x1").await;
    // Elsewhere: not in this stream.
    create_result(&mut client, "other", "r").await;
    put_record(&mut client, "other/results/r", "y", "t", "{}").await;

    let mut resumed = watch_records(&mut watch, "ns/results/r", "", Some(last))
        .await
        .unwrap();
    let missed = changes(&mut resumed, 7).await;
    let got: Vec<(i32, String)> = missed
        .iter()
        .map(|e| (e.r#type, e.object.as_ref().unwrap().name.clone()))
        .collect();
    let mut want: Vec<(i32, String)> = (5..10)
        .map(|i| (ADDED, format!("ns/results/r/records/x{i}")))
        .collect();
    want.push((MODIFIED, "ns/results/r/records/x0".into()));
    want.push((DELETED, "ns/results/r/records/x1".into()));
    assert_eq!(got, want);
    assert!(missed[0].revision > last);
    // Then the live changes, with nothing repeated in between.
    put_record(&mut client, "ns/results/r", "x10", "t", "{}").await;
    let live = changes(&mut resumed, 1).await;
    assert_eq!(
        (
            live[0].r#type,
            live[0].object.as_ref().unwrap().name.as_str()
        ),
        (ADDED, "ns/results/r/records/x10")
    );
    assert!(live[0].revision > missed.last().unwrap().revision);
}

async fn a_slow_reader_is_dropped_while_writers_go_on(backend: Backend) {
    // Enough data that the transport's buffers cannot hide a reader that does not read.
    const RECORDS: usize = 600;
    let server = TestServer::start_with(backend, |s| s.watch.buffer = 16);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let mut watch = server.watch_with(&[]).await;
    let (mut slow, start) = watch_from_now(&mut watch, "ns/results/r", "").await;
    let (mut fast, _) = watch_from_now(&mut watch, "ns/results/r", "").await;
    let fast = tokio::spawn(async move { changes(&mut fast, RECORDS).await });

    let padding = "p".repeat(16 << 10);
    for i in 0..RECORDS {
        // Every write succeeds although one stream is not read at all.
        put_record(
            &mut client,
            "ns/results/r",
            &format!("x{i}"),
            "t",
            &format!(r#"{{"i":{i},"pad":"{padding}"}}"#),
        )
        .await;
    }
    let fast = fast.await.unwrap();
    assert_eq!(
        fast.len(),
        RECORDS,
        "a reader that keeps up gets everything"
    );

    let mut received = Vec::new();
    let status = loop {
        match next(&mut slow).await {
            Ok(event) if event.r#type == BOOKMARK => {}
            Ok(event) => received.push(event),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        received.len() < RECORDS,
        "the slow reader was dropped before the end"
    );
    let resume: i64 = status
        .message()
        .split("resume_from=")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("the status names where to resume: {}", status.message()));
    assert_eq!(resume, received.last().map_or(start, |e| e.revision));

    let mut resumed = watch_records(&mut watch, "ns/results/r", "", Some(resume))
        .await
        .unwrap();
    let rest = changes(&mut resumed, RECORDS - received.len()).await;
    received.extend(rest);
    assert_eq!(
        received.iter().map(key).collect::<Vec<_>>(),
        fast.iter().map(key).collect::<Vec<_>>(),
        "what was received before the drop and after the resume is everything, once"
    );
}

/// Reads an HTTP stream line by line.
struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Lines {
    async fn open(url: &str, headers: &[(&str, &str)]) -> Lines {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("watch request");
        assert_eq!(response.status(), 200);
        Lines {
            response,
            buffer: Vec::new(),
        }
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return String::from_utf8(line[..line.len() - 1].to_vec()).unwrap();
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("a line in time")
                .expect("the stream is readable")
                .expect("the stream is open");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// One newline-delimited JSON event.
    async fn event(&mut self) -> Value {
        serde_json::from_str(&self.line().await).expect("each line is one JSON event")
    }

    /// One server-sent event: its fields and its data as JSON.
    async fn sse(&mut self) -> (HashMap<String, String>, Value) {
        let mut fields = HashMap::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(": ").expect("field: value");
            fields.insert(name.to_owned(), value.to_owned());
        }
        let data = serde_json::from_str(&fields["data"]).expect("data is JSON");
        (fields, data)
    }
}

async fn rest_streams_ndjson_and_server_sent_events(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.watch.bookmark_interval_secs = 1);
    let rest = server.rest();
    let base = format!("http://{}{API}", server.rest_addr());

    let mut results = Lines::open(&format!("{base}/parents/ns/results?watch=true"), &[]).await;
    let opened = results.event().await;
    assert_eq!(opened["type"], "BOOKMARK");
    let (status, created) = rest
        .api(
            "POST",
            "/parents/ns/results",
            Some(&json!({"name": "ns/results/r", "annotations": {"team": "a"}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let added = results.event().await;
    assert_eq!(added["type"], "ADDED");
    let (_, got) = rest.api("GET", "/parents/ns/results/r", None).await;
    assert_eq!(added["object"], got, "the object is what a Get answers");
    assert_eq!(added["object"], created);
    let revision: i64 = added["revision"].as_str().unwrap().parse().unwrap();
    // An idle stream gets bookmarks carrying the newest revision it has seen.
    let bookmark = results.event().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert!(
        bookmark["revision"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= revision
    );
    assert!(bookmark.get("object").is_none());

    // Server-sent events: `event`, `id` (the revision) and `data`.
    let records_url = format!("{base}/parents/ns/results/r/records?watch=true");
    let sse_headers = [("accept", "text/event-stream")];
    let mut sse = Lines::open(&records_url, &sse_headers).await;
    assert_eq!(sse.sse().await.0["event"], "BOOKMARK");
    let (status, body) = rest
        .api(
            "POST",
            "/parents/ns/results/r/records",
            Some(
                &json!({"name": "ns/results/r/records/a", "data": {"type": "t", "value": "e30="}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (fields, data) = loop {
        let (fields, data) = sse.sse().await;
        if fields["event"] != "BOOKMARK" {
            break (fields, data);
        }
    };
    assert_eq!(fields["event"], "ADDED");
    assert_eq!(data["object"]["name"], "ns/results/r/records/a");
    assert_eq!(fields["id"], data["revision"].as_str().unwrap());
    drop(sse);
    // A browser reconnecting sends the last id it saw: it gets what it missed.
    rest.api(
        "POST",
        "/parents/ns/results/r/records",
        Some(&json!({"name": "ns/results/r/records/b", "data": {"type": "t", "value": "e30="}})),
    )
    .await;
    let last_id = fields["id"].clone();
    let mut again = Lines::open(
        &records_url,
        &[("accept", "text/event-stream"), ("last-event-id", &last_id)],
    )
    .await;
    let (fields, data) = again.sse().await;
    assert_eq!(fields["event"], "ADDED");
    assert_eq!(data["object"]["name"], "ns/results/r/records/b");
}

async fn bad_watches_are_refused_before_the_stream_opens(backend: Backend) {
    let server = TestServer::start(backend);
    let rest = server.rest();
    let mut watch = server.watch_with(&[]).await;
    for (parent, filter, resume_from, code, needle) in [
        (
            "ns/results/r",
            "bad(",
            None,
            Code::InvalidArgument,
            "filter",
        ),
        (
            "ns/results/r",
            "",
            Some(1_000_000),
            Code::InvalidArgument,
            "newest",
        ),
        (
            "ns/results/r",
            "",
            Some(-1),
            Code::InvalidArgument,
            "resume_from",
        ),
        (
            "ns",
            "",
            None,
            Code::InvalidArgument,
            "<parent>/results/<result>",
        ),
        ("NS/results/r", "", None, Code::InvalidArgument, "parent"),
    ] {
        let status = watch_records(&mut watch, parent, filter, resume_from)
            .await
            .expect_err(parent);
        assert_eq!(status.code(), code, "{parent} {filter}: {status:?}");
        assert!(status.message().contains(needle), "{}", status.message());
    }
    let status = watch
        .watch_results(pb::WatchResultsRequest {
            parent: "ns".into(),
            filter: "data_type == 1".into(),
            resume_from: None,
        })
        .await
        .expect_err("a Records field in a Results filter");
    assert_eq!(status.code(), Code::InvalidArgument);

    for (query, needle) in [
        ("watch=true&filter=bad(", "filter"),
        ("watch=true&page_size=5", "page_size"),
        ("watch=true&page_token=x", "page_token"),
        ("watch=true&resume_from=abc", "resume_from"),
        ("watch=true&resume_from=99999999", "newest"),
        ("watch=maybe", "watch"),
    ] {
        let (status, body) = rest
            .api("GET", &format!("/parents/ns/results?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], 3, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
    let (status, body) = rest
        .api("GET", "/parents/ns/results/r/logs?watch=true", None)
        .await;
    assert_eq!(status, 400, "{body}");
}

async fn resuming_from_a_pruned_revision_is_out_of_range(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.watch.max_changes = 5;
        s.watch.prune_interval_secs = 1;
    });
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    for i in 0..20 {
        put_record(&mut client, "ns/results/r", &format!("x{i}"), "t", "{}").await;
    }
    let mut watch = server.watch_with(&[]).await;
    // The log is pruned within a few prune intervals.
    let deadline = tokio::time::Instant::now() + WAIT;
    let status = loop {
        match watch_records(&mut watch, "ns/results/r", "", Some(1)).await {
            Err(status) => break status,
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(_) => panic!("the change log was not pruned within {WAIT:?}"),
        }
    };
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too old"), "{}", status.message());
    let (code, body) = server
        .rest()
        .api(
            "GET",
            "/parents/ns/results/r/records?watch=true&resume_from=1",
            None,
        )
        .await;
    assert_eq!(code, 410, "{body}");
    assert_eq!(body["code"], 11, "{body}");
    // The newest changes are kept: resuming from just before the last one works.
    let (_, newest) = watch_from_now(&mut watch, "ns/results/r", "").await;
    let mut resumed = watch_records(&mut watch, "ns/results/r", "", Some(newest - 1))
        .await
        .unwrap();
    let last = changes(&mut resumed, 1).await;
    assert_eq!(
        last[0].object.as_ref().unwrap().name,
        "ns/results/r/records/x19"
    );
}

async fn a_watch_sees_only_namespaces_its_caller_may_list(backend: Backend) {
    const ADMIN: &str = "admin-token-1";
    const READER: &str = "reader-token-2";
    let dir = TempDir::new("watch-auth");
    let file = dir.path().join("tokens.toml");
    std::fs::write(
        &file,
        format!(
            "[[subjects]]\nname = \"admin\"\ntoken = \"{ADMIN}\"\n\
             [[subjects.grants]]\nnamespaces = [\"*\"]\nresources = [\"*\"]\nverbs = [\"*\"]\n\n\
             [[subjects]]\nname = \"reader\"\ntoken = \"{READER}\"\n\
             [[subjects.grants]]\nnamespaces = [\"team-a\"]\nresources = [\"results\", \"records\"]\n\
             verbs = [\"get\", \"list\"]\n"
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap().to_owned();
    let server = TestServer::start_with(backend, |s| {
        s.auth.mode = AuthMode::Static;
        s.auth.tokens_file = path;
    });
    let (name, admin) = bearer(ADMIN);
    let mut client = server.grpc_with(&[(name, &admin)]).await;
    let (_, reader) = bearer(READER);
    let mut watch = server.watch_with(&[(name, &reader)]).await;

    let (mut everywhere, _) = watch_from_now(&mut watch, "-/results/-", "").await;
    for ns in ["team-b", "team-a"] {
        client
            .create_result(pb::CreateResultRequest {
                parent: ns.into(),
                result: Some(result(ns, "r", &[])),
            })
            .await
            .unwrap();
        for x in ["x", "y"] {
            client
                .create_record(pb::CreateRecordRequest {
                    parent: format!("{ns}/results/r"),
                    record: Some(record(&format!("{ns}/results/r"), x, "t", "{}")),
                })
                .await
                .unwrap();
        }
    }
    let seen = changes(&mut everywhere, 2).await;
    let names: Vec<_> = seen
        .iter()
        .map(|e| e.object.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(
        names,
        ["team-a/results/r/records/x", "team-a/results/r/records/y"]
    );

    let denied = watch_records(&mut watch, "team-b/results/-", "", None)
        .await
        .expect_err("team-b is not the reader's");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut anonymous = server.watch_with(&[]).await;
    let refused = watch_records(&mut anonymous, "-/results/-", "", None)
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let rest = server.rest();
    let (status, _) = rest
        .api("GET", "/parents/team-a/results?watch=true", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = rest
        .with_headers(&[(name, &reader)])
        .api("GET", "/parents/team-b/results?watch=true", None)
        .await;
    assert_eq!(status, 403);
}

async fn a_shutdown_ends_streams_naming_where_to_resume(backend: Backend) {
    let mut server = TestServer::start(backend);
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    let mut watch = server.watch_with(&[]).await;
    let (mut stream, _) = watch_from_now(&mut watch, "ns/results/r", "").await;
    put_record(&mut client, "ns/results/r", "x", "t", "{}").await;
    let seen = changes(&mut stream, 1).await;
    // The stream ends at once (not after the shutdown's grace period), saying where to go on.
    let stopping = std::thread::spawn(move || server.stop());
    let status = loop {
        match next(&mut stream).await {
            Ok(event) => assert_eq!(event.r#type, BOOKMARK, "no change after the last write"),
            Err(status) => break status,
        }
    };
    stopping.join().unwrap();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .ends_with(&format!("resume_from={}", seen[0].revision)),
        "{}",
        status.message()
    );
}
