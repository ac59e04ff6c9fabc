//! CEL filters pushed down to SQL agree with the in-memory evaluation on every backend:
//! a differential test over generated Records and Results, injection attempts in every
//! string position, and rejected filters with helpful messages.

mod common;

use std::collections::BTreeSet;

use common::*;
use integration::TestServer;
use results_actors::model::{
    RecordName, RecordSummary, ResultName, Status, StoredRecord, StoredResult, Timestamp,
};
use results_actors::{Filter, FilterEnvironment};
use results_grpc::pb::v1alpha2 as pb;
use results_storage::Backend;
use serde_json::{json, Value};
use tonic::Code;

integration::backend_tests!(
    record_filters_agree_with_memory,
    indexed_record_filters_agree_with_memory,
    result_filters_agree_with_memory,
    hostile_strings_match_exactly,
    indexed_hostile_strings_match_exactly,
    filtered_paging_is_exact,
    rejected_filters_answer_invalid_argument,
);

/// Bad filters get INVALID_ARGUMENT with a message naming the problem, over gRPC and REST.
async fn rejected_filters_answer_invalid_argument(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let rest = server.rest();
    for (filter, needle) in [
        ("data.kind ==", "not valid CEL"),
        ("nope == 1", "unknown identifier `nope`"),
        ("data_type", "must be a boolean"),
        ("name == 1", "cannot compare"),
        ("data.x.matches('\\\\d')", "\\d, \\w"),
        ("data.x % 2 == 1", "only supported between constants"),
        ("data.items.map(i, i)", "only exists() and all()"),
        ("create_time > 'yesterday'", "use timestamp"),
        ("data['a\"b'] == 1", "cannot be filtered on"),
    ] {
        assert_code(
            client
                .list_records(pb::ListRecordsRequest {
                    parent: "-/results/-".into(),
                    filter: filter.into(),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            needle,
        );
        let query: String = filter.bytes().map(|b| format!("%{b:02X}")).collect();
        let (status, body) = rest
            .api(
                "GET",
                &format!("/parents/-/results/-/records?filter={query}"),
                None,
            )
            .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (400, Some(3)),
            "{filter}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{filter}: {body}"
        );
    }
    assert_code(
        client
            .list_results(pb::ListResultsRequest {
                parent: "-".into(),
                filter: "data.x == 1".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "unknown identifier `data`",
    );
}

/// A small deterministic generator (xorshift), so every run and backend sees the same data.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Strings chosen to break naive SQL building and pattern matching.
const HOSTILE: &[&str] = &[
    "plain",
    "it's",
    "say \"hi\"",
    "back\\slash",
    "100%",
    "snake_case",
    "x;--",
    "'; DROP TABLE records; --",
    "ünïcødé",
    "日本語",
    "emoji 🚀",
    "%_%",
    "a'b\"c\\d",
    "",
    " spaced ",
    "UPPER",
    "upper",
];

fn record_doc(g: &mut Gen, i: usize) -> Value {
    let mut doc = json!({});
    if g.chance(90) {
        doc["kind"] = g.pick(&[
            json!("TaskRun"),
            json!("PipelineRun"),
            json!(5),
            Value::Null,
        ]);
    }
    if g.chance(90) {
        let mut metadata = json!({"name": format!("run-{i}"), "namespace": g.pick(&["a", "b"])});
        if g.chance(70) {
            metadata["labels"] = json!({
                "app": g.pick(HOSTILE),
                "tier": g.pick(&["web", "db", "Web"]),
                "tekton.dev/pipeline": g.pick(&["build", "deploy", "build-and-deploy"]),
            });
        }
        doc["metadata"] = metadata;
    }
    if g.chance(80) {
        let reasons = [
            "Succeeded",
            "Failed",
            "Running",
            "PipelineRunTimeout",
            "Cancelled",
            "TaskRunImagePullFailed",
        ];
        let conditions = if g.chance(85) {
            json!([{"type": "Succeeded", "reason": g.pick(&reasons)}])
        } else {
            json!([])
        };
        let mut status = json!({"conditions": conditions});
        if g.chance(70) {
            status["startTime"] = json!(format!(
                "2026-0{}-1{}T0{}:00:00Z",
                1 + g.below(9),
                g.below(10),
                g.below(10)
            ));
            if g.chance(70) {
                let start = status["startTime"].as_str().unwrap().to_owned();
                let minutes = g.pick(&[0, 15, 45, 60, 61, 180]);
                let end = chrono_like_add_minutes(&start, minutes);
                status["completionTime"] = json!(end);
            }
        } else if g.chance(30) {
            // Not the Kubernetes form: timestamp comparisons treat these as unknown.
            status["startTime"] = g.pick(&[
                json!("2026-04-12T03:00:00.5Z"),
                json!("2026-04-12 03:00:00"),
                json!("yesterday"),
                json!(1_700_000_000),
                // The form, but no time.
                json!("2026-13-01T00:00:00Z"),
                json!("2026-02-30T03:00:00Z"),
                json!("2026-04-12T24:00:00Z"),
                json!("2026-04-12T03:00:00Z\n"),
            ]);
        }
        if g.chance(50) {
            status["podName"] = json!(g.pick(HOSTILE));
        }
        doc["status"] = status;
    }
    if g.chance(85) {
        doc["score"] = g.pick(&[
            json!(0),
            json!(5),
            json!(7.5),
            json!(-3),
            json!(100),
            json!("5"),
            json!(true),
            Value::Null,
        ]);
    }
    if g.chance(60) {
        doc["spec"] = json!({
            "enabled": g.pick(&[json!(true), json!(false), json!("true")]),
            "params": (0..g.below(3)).map(|j| json!({"name": format!("p{j}"), "value": g.pick(HOSTILE)})).collect::<Vec<_>>(),
        });
    }
    if g.chance(40) {
        doc["weird"] = json!({"a.b": g.below(3), "sp ace": g.pick(HOSTILE), "ünï": "ü", "it's": g.pick(&["x", "y"]), "%_": 1});
    }
    doc
}

/// `YYYY-MM-DDTHH:MM:00Z` plus whole minutes (hours stay below 24 in the generated data).
fn chrono_like_add_minutes(start: &str, minutes: u32) -> String {
    let hour: u32 = start[11..13].parse().unwrap();
    let total = hour * 60 + minutes;
    format!("{}T{:02}:{:02}:00Z", &start[..10], total / 60, total % 60)
}

fn record_filters() -> Vec<String> {
    let mut filters: Vec<String> = [
        "true",
        "false",
        "!true",
        "data_type == TASK_RUN",
        "data_type == PIPELINE_RUN",
        "data_type != TASK_RUN",
        "data_type in [TASK_RUN, PIPELINE_RUN]",
        "data_type in []",
        "parent == 'a'",
        "parent != 'a'",
        "result_name == 'r1'",
        "name.startsWith('x1')",
        "name.endsWith('7')",
        "name.contains('2')",
        "name > 'x1'",
        "name <= 'x15'",
        "parent == 'a' && result_name == 'r2'",
        "data.kind == 'TaskRun'",
        "data.kind != 'TaskRun'",
        "data['kind'] == 'PipelineRun'",
        "data.kind == 5",
        "data.kind == null",
        "data.kind != null",
        "has(data.kind)",
        "!has(data.kind)",
        "data.metadata.name == 'run-3'",
        "data.metadata.name.startsWith('run-1')",
        "data.metadata.name.endsWith('0')",
        "data.metadata.name.contains('-2')",
        "data.metadata.name > 'run-5'",
        "data.metadata.name <= 'run-15'",
        "data.metadata.labels.app == 'UPPER'",
        "data.metadata.labels.app == 'upper'",
        "data.metadata.labels.tier in ['web', 'db']",
        "data.metadata.labels['tekton.dev/pipeline'] == 'build'",
        "data.metadata.labels['tekton.dev/pipeline'].startsWith('build')",
        "has(data.metadata.labels)",
        "has(data.metadata.labels.app)",
        "!has(data.metadata.labels.app)",
        "data.status.conditions[0].reason == 'Succeeded'",
        // Equalities on parts PostgreSQL's document index leaves out (spec) and above them.
        "data.spec.enabled == true",
        "data.spec.enabled == 'true'",
        "data.spec.params[0].name == 'p0'",
        "data.spec.params[1].value == 'plain'",
        "data.weird['sp ace'] == 'plain'",
        "data.status.conditions[0].reason != 'Succeeded'",
        "data.status.conditions[0].reason in ['Failed', 'TaskRunImagePullFailed']",
        "data.status.conditions[0].reason.startsWith('Cancel')",
        "data.status.conditions[0].reason.endsWith('Timeout')",
        "has(data.status.conditions)",
        "has(data.status.conditions[0].type)",
        "has(data.status.conditions[0].reason)",
        "data.status.conditions[1].reason == 'Succeeded'",
        "data.status.conditions[0]['reason'] == 'Running'",
        "data.status.startTime > '2026-05-01T00:00:00Z'",
        "data.status.startTime <= '2026-03-15T05:00:00Z'",
        "data.status.startTime.startsWith('2026-0')",
        "data.status.startTime > timestamp('2026-05-01T00:00:00Z')",
        "data.status.startTime <= timestamp('2026-03-15T05:00:00Z')",
        "data.status.startTime == timestamp('2026-01-10T00:00:00Z')",
        "data.status.startTime != timestamp('2026-01-10T00:00:00Z')",
        "data.status.startTime >= timestamp('2026-04-12T03:00:00.5Z')",
        "data.status.startTime < timestamp('2026-04-12T03:00:00.5Z')",
        "data.status.startTime == timestamp('2026-04-12T03:00:00.5Z')",
        "data.status.startTime > timestamp('2026-04-12T05:00:00+02:00') - duration('30m')",
        "data.status.podName < timestamp('2026-01-01T00:00:00Z')",
        "data.score > timestamp('2026-01-01T00:00:00Z')",
        "!(data.status.startTime > timestamp('2026-05-01T00:00:00Z'))",
        "size(data.spec.params) == 2",
        "size(data.spec.params) > 0",
        "data.spec.params.size() < 2",
        "size(data.metadata.labels) == 3",
        "size(data.metadata.labels.app) > 5",
        "size(data.metadata.labels.app) == 0",
        "size(data.score) > 0",
        "size(name) == 3",
        "size(data) >= 5",
        "name + '/' + data.metadata.name == 'x3/run-3'",
        "data.kind + '-' + data_type == 'TaskRun-tekton.dev/v1.TaskRun'",
        "(parent + ':' + data.metadata.labels.app).startsWith('a:UP')",
        "data.metadata.labels.app + '!' > 'p'",
        "'[' + data.status.podName + ']' == '[plain]'",
        "(data.metadata.labels.tier + '' + data.metadata.labels.app).contains('web')",
        "data.score + 1 > 6",
        "data.score * 2 == 15.0",
        "data.score / 2 >= 2.5",
        "data.score / 0 == 1",
        "-data.score == 3",
        "data.score - data.weird['a.b'] > 4",
        "(data.score + data.score) / 4 < 2",
        "data.score * -1 <= -7.5",
        "data.status.completionTime - data.status.startTime > 0",
        "data.weird['%_'] - 1 == 0",
        "create_time + duration('1h') > timestamp('2000-01-01T00:00:00Z')",
        "update_time - duration('87600h') < timestamp('2000-01-01T00:00:00Z')",
        "data.status.startTime.getFullYear() == 2026",
        "data.status.startTime.getMonth() == 3",
        "data.status.startTime.getDate() > 14",
        "data.status.startTime.getDayOfMonth() < 12",
        "data.status.startTime.getDayOfWeek() == 0",
        "data.status.startTime.getHours() >= 5",
        "data.status.startTime.getMinutes() == 0",
        "data.status.startTime.getSeconds('UTC') == 0",
        "data.status.startTime.getMilliseconds() == 0",
        "!(data.status.podName.getMilliseconds() == 0)",
        "data.nothing.getMilliseconds() >= 0",
        "create_time.getFullYear() >= 2026",
        "create_time.getHours() < 24 && create_time.getMilliseconds() >= 0",
        "create_time.getDayOfWeek() != 9",
        "data.status.completionTime - data.status.startTime > duration('30m')",
        "data.status.completionTime - data.status.startTime <= duration('1h')",
        "data.status.completionTime - data.status.startTime == duration('45m')",
        "data.status.completionTime - data.status.startTime != duration('45m30.5s')",
        "duration('2h') < data.status.completionTime - data.status.startTime",
        "!(data.status.completionTime - data.status.startTime >= duration('59m59.5s'))",
        "data.status.conditions.exists(c, c.reason == 'Failed')",
        "data.status.conditions.all(c, c.reason == 'Succeeded')",
        "!data.status.conditions.exists(c, c.reason == 'Failed')",
        "!data.status.conditions.all(c, has(c.reason))",
        "data.spec.params.exists(p, p.value.startsWith('p') || p.name == 'p1')",
        "data.spec.params.all(p, p.name.matches('^p[0-9]$'))",
        "data.spec.params.exists(p, p.value == 'it\\'s' || parent == 'a')",
        "data.spec.params.exists(p, p.value == 'plain' && data_type == TASK_RUN)",
        "data.spec.params.all(p, size(p.value) > 3)",
        "data.metadata.exists(m, m == 'x')",
        "data.spec.params.exists(p, p == 'x')",
        "data.spec.params.exists(p, !(p.value == 'plain'))",
        "data.spec.params.all(p, p.missing == 1)",
        "data.metadata.name.matches('^run-1[0-9]$')",
        "data.metadata.labels.app.matches('[A-Z]')",
        "data.metadata.labels.app.matches('^$')",
        "name.matches('x(1|2)0')",
        "data.status.conditions[0].reason.matches('Run|Fail')",
        "data.metadata.labels.app.matches('.')",
        "data.spec.params[0].value.matches('\\\\.')",
        "data.metadata.labels.app.matches('^ün')",
        "data.metadata.labels.app.matches('s$')",
        "!(data.metadata.labels.app.matches('e'))",
        "data.score.matches('5')",
        "data.metadata.labels.app.matches('^[^a-z]+$')",
        "data.metadata.labels.app.matches('(?:DROP|drop) +TABLE')",
        "data.status.podName.matches('\\\\\\\\')",
        "data.status.podName.matches('%|_')",
        "!(size(data.weird) == 5)",
        "size(data.status.conditions) == 0",
        "has(data.status.startTime) && data.status.startTime < '2026-02'",
        "data.score == 5",
        "data.score == 5.0",
        "data.score != 5",
        "data.score > 0",
        "data.score >= 5",
        "data.score < 7.5",
        "data.score <= -3",
        "data.score == '5'",
        "data.score > '4'",
        "data.score == true",
        "data.score == null",
        "data.score != null",
        "data.score in [0, 100]",
        "data.score in [5, '5']",
        "data.score == -3",
        "data.spec.enabled == true",
        "data.spec.enabled",
        "!data.spec.enabled",
        "data.spec.enabled == 'true'",
        "data.spec.enabled != false",
        "data.spec.params[0].name == 'p0'",
        "data.spec.params[1].value == 'it\\'s'",
        "has(data.spec.params[1].value)",
        "data.spec.params[0].value.contains('%')",
        "data.spec.params[0].value.contains('_')",
        "data.weird['a.b'] == 1",
        "data.weird['sp ace'] == 'plain'",
        "data.weird['ünï'] == 'ü'",
        "data.weird[\"it's\"] == 'x'",
        "data.weird['%_'] == 1",
        "has(data.weird.it)",
        "data.kind == 'TaskRun' && data.score > 0",
        "data.kind == 'TaskRun' || data.score > 0",
        "!(data.kind == 'TaskRun' || data.score > 0)",
        "!(data.kind == 'TaskRun') && !(data.score > 0)",
        "data.kind == 'TaskRun' || !has(data.kind)",
        "(data.score > 0 || data.score < 0) && data.kind != 5",
        "data.metadata.labels.app == TASK_RUN",
        "data.nope.deeper == 1",
        "!(data.nope.deeper == 1)",
        "data.metadata == 'x'",
        "data.metadata != 'x'",
        "data.status.conditions == 1",
        "data == 1",
        "create_time > timestamp('2000-01-01T00:00:00Z')",
        "create_time < timestamp('2000-01-01T00:00:00Z')",
        "update_time >= timestamp('2000-01-01T00:00:00Z') + duration('1h')",
        "data.metadata.labels.app.contains('\\'')",
        "data.metadata.labels.app.contains('\"')",
        "data.metadata.labels.app.contains('\\\\')",
        "data.metadata.labels.app == ''",
        "data.metadata.labels.app.startsWith('')",
        "data.metadata.labels.app.endsWith(' ')",
        "data.metadata.labels.app > 'a'",
        "data.metadata.labels.app < 'Z'",
        "data.metadata.labels.app >= 'ü'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every hostile string in the common positions.
    for s in HOSTILE {
        let lit = cel_string(s);
        filters.push(format!("data.metadata.labels.app == {lit}"));
        filters.push(format!("data.status.podName.contains({lit})"));
        filters.push(format!("data.spec.params[0].value.startsWith({lit})"));
        filters.push(format!("data.weird['sp ace'].endsWith({lit})"));
        filters.push(format!("data.status.podName in [{lit}, 'plain']"));
    }
    filters
}

/// A CEL string literal for `s`, escaping what needs it.
fn cel_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\x00"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_model_record(r: &pb::Record) -> StoredRecord {
    let data = r.data.clone().unwrap_or_default();
    StoredRecord {
        name: RecordName::parse(&r.name).unwrap(),
        uid: r.uid.clone(),
        data: results_actors::model::RecordData {
            type_: data.r#type,
            value: data.value,
        },
        create_time: Timestamp::from_nanos(nanos(&r.create_time) as i64),
        update_time: Timestamp::from_nanos(nanos(&r.update_time) as i64),
    }
}

async fn all_records(
    client: &mut Client,
    parent: &str,
    filter: &str,
) -> Result<Vec<pb::Record>, tonic::Status> {
    let (mut out, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_records(pb::ListRecordsRequest {
                parent: parent.into(),
                filter: filter.into(),
                page_size: 37,
                page_token: token,
                order_by: String::new(),
            })
            .await?
            .into_inner();
        out.extend(page.records);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

async fn seed_records(client: &mut Client, count: usize) {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    for (ns, r) in [("a", "r1"), ("a", "r2"), ("b", "r1")] {
        create_result(client, ns, r).await;
    }
    for i in 0..count {
        let (ns, r) = [("a", "r1"), ("a", "r2"), ("b", "r1")][i % 3];
        let result = format!("{ns}/results/{r}");
        let type_ = g.pick(&[
            "tekton.dev/v1.TaskRun",
            "tekton.dev/v1.PipelineRun",
            "other",
        ]);
        let doc = record_doc(&mut g, i);
        let mut rec = record(&result, &format!("x{i}"), type_, &doc.to_string());
        if g.chance(3) {
            rec.data.as_mut().unwrap().value.clear();
        }
        client
            .create_record(pb::CreateRecordRequest {
                parent: result,
                record: Some(rec),
            })
            .await
            .unwrap();
    }
}

/// Paths of the generated documents to index (`[database] indexed_json_paths`): strings,
/// mixed kinds, hostile strings, an element of a list that may be missing.
const INDEXED: &[&str] = &[
    "data.kind",
    "data.metadata.name",
    "data.metadata.labels.app",
    "data.metadata.labels['tekton.dev/pipeline']",
    "data.status.conditions[0].reason",
    "data.status.podName",
    "data.spec.enabled",
    "data.score",
];

/// A server whose database indexes [`INDEXED`].
fn indexed_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.database.indexed_json_paths = INDEXED.iter().map(|p| p.to_string()).collect()
    })
}

async fn record_filters_agree_with_memory(backend: Backend) {
    check_record_filters(TestServer::start(backend)).await
}

/// The same filters give the same Records when equalities on their paths use indexes.
async fn indexed_record_filters_agree_with_memory(backend: Backend) {
    check_record_filters(indexed_server(backend)).await
}

async fn check_record_filters(server: TestServer) {
    let mut client = server.grpc().await;
    seed_records(&mut client, 240).await;
    let everything: Vec<StoredRecord> = all_records(&mut client, "-/results/-", "")
        .await
        .unwrap()
        .iter()
        .map(to_model_record)
        .collect();
    assert_eq!(everything.len(), 240);

    let filters = record_filters();
    assert!(filters.len() >= 100, "{} filters", filters.len());
    let mut non_trivial = 0;
    for filter in &filters {
        let compiled = Filter::compile(filter, FilterEnvironment::Records)
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let expected: BTreeSet<String> = everything
            .iter()
            .filter(|r| compiled.matches_record(r))
            .map(|r| r.name.to_string())
            .collect();
        let got: BTreeSet<String> = all_records(&mut client, "-/results/-", filter)
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(got, expected, "filter {filter:?}: SQL and memory disagree");
        if !expected.is_empty() && expected.len() < everything.len() {
            non_trivial += 1;
        }
    }
    // The corpus must discriminate: most filters select some but not all records.
    assert!(
        non_trivial * 2 > filters.len(),
        "only {non_trivial} of {} filters were selective",
        filters.len()
    );

    // Filters combine with the parent's wildcards.
    let compiled = Filter::compile("data.kind == 'TaskRun'", FilterEnvironment::Records).unwrap();
    let expected: BTreeSet<String> = everything
        .iter()
        .filter(|r| r.name.parent == "a" && compiled.matches_record(r))
        .map(|r| r.name.to_string())
        .collect();
    let got: BTreeSet<String> = all_records(&mut client, "a/results/-", "data.kind == 'TaskRun'")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(got, expected);
}

async fn seed_results(client: &mut Client, count: usize) -> Vec<StoredResult> {
    let mut g = Gen(0xD1B5_4A32_D192_ED03);
    let mut out = Vec::new();
    for i in 0..count {
        let ns = g.pick(&["a", "b"]);
        let name = format!("r{i}");
        let mut r = result(ns, &name, &[]);
        for key in ["repo", "branch", "tekton.dev/pipeline"] {
            if g.chance(70) {
                r.annotations
                    .insert(key.into(), g.pick(HOSTILE).to_string());
            }
        }
        if g.chance(75) {
            let mut s = summary(
                &format!("{ns}/results/{name}/records/x{i}"),
                g.below(5) as i32,
                if g.chance(70) {
                    Some(1_700_000_000 + g.below(1000) as i64)
                } else {
                    None
                },
            );
            s.r#type = g
                .pick(&["tekton.dev/v1.PipelineRun", "tekton.dev/v1.TaskRun"])
                .into();
            if g.chance(50) {
                s.end_time = Some(prost_types::Timestamp {
                    seconds: 1_700_001_000 + g.below(1000) as i64,
                    nanos: 0,
                });
            }
            s.annotations.insert("note".into(), g.pick(HOSTILE).into());
            r.summary = Some(s);
        }
        let created = client
            .create_result(pb::CreateResultRequest {
                parent: ns.into(),
                result: Some(r),
            })
            .await
            .unwrap()
            .into_inner();
        out.push(to_model_result(&created));
    }
    out
}

fn to_model_result(r: &pb::Result) -> StoredResult {
    let time =
        |t: &Option<prost_types::Timestamp>| t.map(|_| Timestamp::from_nanos(nanos(t) as i64));
    StoredResult {
        name: ResultName::parse(&r.name).unwrap(),
        uid: r.uid.clone(),
        create_time: time(&r.create_time).unwrap(),
        update_time: time(&r.update_time).unwrap(),
        annotations: r.annotations.clone().into_iter().collect(),
        summary: r.summary.as_ref().map(|s| RecordSummary {
            record: s.record.clone(),
            type_: s.r#type.clone(),
            start_time: time(&s.start_time),
            end_time: time(&s.end_time),
            status: Status::from_i32(s.status),
            annotations: s.annotations.clone().into_iter().collect(),
        }),
    }
}

async fn result_filters_agree_with_memory(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    let everything = seed_results(&mut client, 80).await;
    let mut filters: Vec<String> = [
        "summary.status == SUCCESS",
        "summary.status != SUCCESS",
        "summary.status in [FAILURE, TIMEOUT, CANCELLED]",
        "summary.status == UNKNOWN",
        "!(summary.status == SUCCESS)",
        "summary.type == PIPELINE_RUN",
        "summary.record.startsWith('a/')",
        "summary.record.endsWith('/x7')",
        "has(summary.annotations.note)",
        "summary.start_time > timestamp('2023-11-14T22:20:00Z')",
        "summary.start_time <= timestamp('2023-11-14T22:20:00Z') + duration('5m')",
        "summary.end_time >= timestamp('2023-11-14T22:30:00Z')",
        "summary.end_time < timestamp('2023-11-14T22:30:00Z')",
        "annotations.repo == 'plain'",
        "annotations['repo'] != 'plain'",
        "has(annotations.repo)",
        "!has(annotations.branch)",
        "annotations['tekton.dev/pipeline'].contains('%')",
        "annotations.branch.startsWith('')",
        "annotations.repo > 'p'",
        "parent == 'a' && summary.status == FAILURE",
        "parent == 'b' || has(annotations.repo)",
        "uid != ''",
        "summary.annotations.note == 'it\\'s'",
        "summary.annotations['note'].contains('\"')",
        "create_time > timestamp('2020-01-01T00:00:00Z')",
        "update_time < timestamp('2020-01-01T00:00:00Z')",
        "annotations.repo.matches('^p')",
        "annotations.repo.matches('[A-Z]')",
        "size(annotations) == 2",
        "size(annotations) >= 1",
        "size(summary.annotations) == 1",
        "size(summary.record) > 14",
        // summary.status is an int in CEL, as upstream declares it.
        "summary.status == 1",
        "summary.status > 0",
        "summary.status in [1, 2]",
        "summary.status + 1 == 2",
        "summary.status + 1 in [2, 3]",
        "summary.status - 1 >= TIMEOUT - 1",
        "summary.status % 2 == 0",
        "-summary.status < -2",
        "summary.status * 2 > summary.status + 2",
        "summary.status == summary.status",
        "10 / summary.status == 5",
        "!(10 / summary.status == 5)",
        "10 / summary.status == 5 || summary.status == UNKNOWN",
        "summary.status / 0 == 0",
        "!(summary.status / 0 == 0)",
        "summary.status + 9223372036854775807 > 0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for s in HOSTILE {
        let lit = cel_string(s);
        filters.push(format!("annotations.repo == {lit}"));
        filters.push(format!("summary.annotations.note.contains({lit})"));
        filters.push(format!("annotations['tekton.dev/pipeline'] in [{lit}]"));
    }
    for filter in &filters {
        let compiled = Filter::compile(filter, FilterEnvironment::Results)
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let expected: BTreeSet<String> = everything
            .iter()
            .filter(|r| compiled.matches_result(r))
            .map(|r| r.name.to_string())
            .collect();
        let got = result_names(&mut client, filter).await;
        assert_eq!(got, expected, "filter {filter:?}: SQL and memory disagree");
    }
    // The answers CEL computes from the status number (upstream's), without summary none.
    let upstream: &[StatusCase] = &[
        ("summary.status == 1", |s| s == 1),
        ("summary.status > 0", |s| s > 0),
        ("summary.status in [1, 2]", |s| s == 1 || s == 2),
        ("summary.status + 1 == 2", |s| s + 1 == 2),
        ("summary.status % 2 == 0", |s| s % 2 == 0),
        ("-summary.status < -2", |s| -s < -2),
        ("summary.status * 2 > summary.status + 2", |s| s * 2 > s + 2),
        ("10 / summary.status == 5", |s| s != 0 && 10 / s == 5),
    ];
    for (filter, holds) in upstream {
        let expected: BTreeSet<String> = everything
            .iter()
            .filter(|r| r.summary.as_ref().is_some_and(|s| holds(s.status as i64)))
            .map(|r| r.name.to_string())
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < everything.len(),
            "{filter}: the data should tell matches from the rest"
        );
        let got = result_names(&mut client, filter).await;
        assert_eq!(got, expected, "filter {filter:?}: not CEL's answer");
    }
}

/// A filter on `summary.status` and CEL's answer for a status number.
type StatusCase = (&'static str, fn(i64) -> bool);

/// The names of the Results a filter lists.
async fn result_names(client: &mut Client, filter: &str) -> BTreeSet<String> {
    let page = client
        .list_results(pb::ListResultsRequest {
            parent: "-".into(),
            filter: filter.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .into_inner();
    page.results.into_iter().map(|r| r.name).collect()
}

/// Injection attempts: the exact rows holding the hostile string match, nothing else leaks,
/// and nothing errors — including NUL, which PostgreSQL text cannot even hold.
async fn hostile_strings_match_exactly(backend: Backend) {
    check_hostile_strings(TestServer::start(backend)).await
}

/// The same with the names (`data.metadata.name`) indexed.
async fn indexed_hostile_strings_match_exactly(backend: Backend) {
    check_hostile_strings(indexed_server(backend)).await
}

async fn check_hostile_strings(server: TestServer) {
    let mut client = server.grpc().await;
    create_result(&mut client, "ns", "r").await;
    for (i, s) in HOSTILE.iter().enumerate() {
        let doc = json!({"metadata": {"name": s, "labels": {*s: "v"}}});
        create_record(
            &mut client,
            "ns/results/r",
            &format!("x{i}"),
            &doc.to_string(),
        )
        .await;
    }
    let mut probes: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    probes.extend(["a\0b", "\0", "plain\0"].map(String::from));
    for s in &probes {
        let lit = cel_string(s);
        let exact: BTreeSet<String> = HOSTILE
            .iter()
            .enumerate()
            .filter(|(_, h)| *h == s)
            .map(|(i, _)| format!("ns/results/r/records/x{i}"))
            .collect();
        let starts: BTreeSet<String> = HOSTILE
            .iter()
            .enumerate()
            .filter(|(_, h)| h.starts_with(s.as_str()))
            .map(|(i, _)| format!("ns/results/r/records/x{i}"))
            .collect();
        let contains: BTreeSet<String> = HOSTILE
            .iter()
            .enumerate()
            .filter(|(_, h)| h.contains(s.as_str()))
            .map(|(i, _)| format!("ns/results/r/records/x{i}"))
            .collect();
        for (filter, expected) in [
            (format!("data.metadata.name == {lit}"), &exact),
            (format!("data.metadata.name in [{lit}]"), &exact),
            (format!("data.metadata.name.startsWith({lit})"), &starts),
            (format!("data.metadata.name.contains({lit})"), &contains),
        ] {
            let got: BTreeSet<String> = all_records(&mut client, "ns/results/r", &filter)
                .await
                .unwrap_or_else(|e| panic!("{filter:?}: {e}"))
                .into_iter()
                .map(|r| r.name)
                .collect();
            assert_eq!(&got, expected, "{filter:?}");
        }
        // As a JSON key (quotes and backslashes in keys are refused, see below).
        if !s.contains(['"', '\\', '\0']) && !s.is_empty() {
            let filter = format!("data.metadata.labels[{lit}] == 'v'");
            let got: BTreeSet<String> = all_records(&mut client, "ns/results/r", &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.name)
                .collect();
            assert_eq!(&got, &exact, "{filter:?}");
        }
    }
    // The records table is intact after all that.
    assert_eq!(
        all_records(&mut client, "-/results/-", "")
            .await
            .unwrap()
            .len(),
        HOSTILE.len()
    );
    assert_code(
        client
            .list_records(pb::ListRecordsRequest {
                parent: "-/results/-".into(),
                filter: "data.metadata.labels['a\"b'] == 'v'".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "cannot be filtered on",
    );
}

async fn filtered_paging_is_exact(backend: Backend) {
    let server = TestServer::start(backend);
    let mut client = server.grpc().await;
    seed_records(&mut client, 90).await;
    // Touch every fourth record, newest first, so update order differs from create order.
    let seeded = all_records(&mut client, "-/results/-", "").await.unwrap();
    for r in seeded.iter().rev().step_by(4) {
        let patch = pb::Record {
            name: r.name.clone(),
            data: Some(pb::Any {
                r#type: "touched".into(),
                value: vec![],
            }),
            ..Default::default()
        };
        client
            .update_record(pb::UpdateRecordRequest {
                record: Some(patch),
                update_mask: None,
                etag: String::new(),
            })
            .await
            .unwrap();
    }
    let everything: Vec<StoredRecord> = all_records(&mut client, "-/results/-", "")
        .await
        .unwrap()
        .iter()
        .map(to_model_record)
        .collect();
    let filter = "data.kind == 'TaskRun' || data.score > 0";
    let compiled = Filter::compile(filter, FilterEnvironment::Records).unwrap();
    for order_by in [
        "",
        "create_time asc",
        "create_time desc",
        "update_time asc",
        "update_time desc",
        "update_time desc, create_time asc",
        "update_time asc, create_time desc",
    ] {
        let mut expected: Vec<&StoredRecord> = everything
            .iter()
            .filter(|r| compiled.matches_record(r))
            .collect();
        // The order computed here from order_by, independently of the server.
        let keys: Vec<(&str, bool)> = order_by
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                let mut words = c.split_whitespace();
                (words.next().unwrap(), words.next() == Some("desc"))
            })
            .collect();
        let keys = if keys.is_empty() {
            vec![("create_time", false)]
        } else {
            keys
        };
        let tie_desc = keys.last().unwrap().1;
        expected.sort_by(|a, b| {
            for (field, desc) in &keys {
                let o = match *field {
                    "create_time" => a.create_time.cmp(&b.create_time),
                    _ => a.update_time.cmp(&b.update_time),
                };
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            let o = a.uid.as_bytes().cmp(b.uid.as_bytes());
            if tie_desc {
                o.reverse()
            } else {
                o
            }
        });
        let expected: Vec<String> = expected.into_iter().map(|r| r.name.to_string()).collect();
        let (mut got, mut token) = (Vec::new(), String::new());
        loop {
            let page = client
                .list_records(pb::ListRecordsRequest {
                    parent: "-/results/-".into(),
                    filter: filter.into(),
                    page_size: 7,
                    page_token: token,
                    order_by: order_by.into(),
                })
                .await
                .unwrap()
                .into_inner();
            got.extend(page.records.into_iter().map(|r| r.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(got, expected, "{order_by}");
        assert!(
            got.len() > 14,
            "the filter keeps several pages: {}",
            got.len()
        );
    }
    // A token is bound to its filter.
    let first = client
        .list_records(pb::ListRecordsRequest {
            parent: "-/results/-".into(),
            filter: filter.into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_code(
        client
            .list_records(pb::ListRecordsRequest {
                parent: "-/results/-".into(),
                filter: "true".into(),
                page_size: 2,
                page_token: first.next_page_token,
                order_by: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "another filter",
    );
}
