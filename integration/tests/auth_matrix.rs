//! The auth matrix: every RPC of the Results, Logs and Watch services and every REST route, called
//! without a token, with a bad one, with malformed credentials, by forbidden users and by an
//! allowed one, in both checking modes (kubernetes against a fake cluster, static with a
//! token file) on every backend.
//!
//! Unauthenticated callers get UNAUTHENTICATED / 401, forbidden ones PERMISSION_DENIED / 403
//! naming the user and the verb, allowed ones what the call does. A denied call changes
//! nothing an admin can see. Listings over `-`
//! show only the namespaces the caller may list in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use integration::fake_kube::{AccessRule, ReviewedUser, Subject};
use integration::secured::{bearer, KubeAuthServer, StaticAuthServer};
use integration::server::HeaderChannel;
use integration::TestServer;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::logs_client::LogsClient;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_grpc::pb::v1alpha2::watch_client::WatchClient;
use results_storage::Backend;
use serde_json::{json, Value};
use tonic::{Code, Status};

integration::backend_tests!(
    kubernetes_matrix,
    static_matrix,
    kubernetes_listings_over_any_namespace,
    static_listings_over_any_namespace,
    kubernetes_refusals_come_before_reading_the_request,
    static_refusals_come_before_reading_the_request,
);

async fn kubernetes_matrix(backend: Backend) {
    matrix(&Checked::start(Mode::Kubernetes, backend)).await;
}

async fn static_matrix(backend: Backend) {
    matrix(&Checked::start(Mode::Static, backend)).await;
}

async fn kubernetes_listings_over_any_namespace(backend: Backend) {
    listings_over_any_namespace(&Checked::start(Mode::Kubernetes, backend)).await;
}

async fn static_listings_over_any_namespace(backend: Backend) {
    listings_over_any_namespace(&Checked::start(Mode::Static, backend)).await;
}

async fn kubernetes_refusals_come_before_reading_the_request(backend: Backend) {
    refusals_come_before_reading_the_request(&Checked::start(Mode::Kubernetes, backend)).await;
}

async fn static_refusals_come_before_reading_the_request(backend: Backend) {
    refusals_come_before_reading_the_request(&Checked::start(Mode::Static, backend)).await;
}

// ---------------------------------------------------------------------------------------
// The operations: one row per RPC, with its REST route where there is one.
// ---------------------------------------------------------------------------------------

/// One operation of the API.
struct Op {
    /// The RPC's name.
    rpc: &'static str,
    /// The verb and resource the server must check.
    verb: &'static str,
    resource: &'static str,
    /// What must be stored before the call.
    needs: Needs,
    /// What an allowed call does to the stored object of `resource`.
    effect: Effect,
    /// What an allowed call answers.
    shows: Shows,
    /// The call over gRPC.
    grpc: GrpcCall,
    /// The REST route, if the upstream gateway has one.
    rest: Option<RestRoute>,
}

/// The names of the objects a watch stream shows (its replay from revision 0 holds
/// everything created so far), up to and including `name`, this op's own object.
async fn shown_until<E>(
    mut events: tonic::Streaming<E>,
    name: String,
    object_name: fn(E) -> Option<String>,
) -> Result<Vec<String>, Status> {
    let mut shown = Vec::new();
    while !shown.contains(&name) {
        let event = events.message().await?.expect("the stream stays open");
        shown.extend(object_name(event));
    }
    Ok(shown)
}

/// A call over gRPC, answering what it shows (names, or `total=<n>` of a summary).
type GrpcCall = fn(Grpc, Names) -> BoxFuture<'static, Result<Vec<String>, Status>>;

/// A REST route: method, path under the API prefix, and body.
type RestRoute = fn(&Names) -> (&'static str, String, Option<Value>);

enum Needs {
    Nothing,
    Result,
    Record,
    /// The Record, with a log stored for it.
    Log,
}

enum Effect {
    Reads,
    Creates,
    Updates,
    Deletes,
}

enum Shows {
    Nothing,
    TheResult,
    TheRecord,
    /// A summary totalling this many records.
    Total(usize),
}

fn ops() -> Vec<Op> {
    vec![
        Op {
            rpc: "CreateResult",
            verb: "create",
            resource: "results",
            needs: Needs::Nothing,
            effect: Effect::Creates,
            shows: Shows::TheResult,
            grpc: |mut c, n| {
                async move {
                    let request = pb::CreateResultRequest {
                        parent: n.ns.clone(),
                        result: Some(result(&n)),
                    };
                    Ok(vec![
                        c.results.create_result(request).await?.into_inner().name,
                    ])
                }
                .boxed()
            },
            rest: Some(|n| {
                let path = format!("/parents/{}/results", n.ns);
                ("POST", path, Some(json!({"name": n.result_name()})))
            }),
        },
        Op {
            rpc: "GetResult",
            verb: "get",
            resource: "results",
            needs: Needs::Result,
            effect: Effect::Reads,
            shows: Shows::TheResult,
            grpc: |mut c, n| {
                async move {
                    let request = pb::GetResultRequest {
                        name: n.result_name(),
                    };
                    Ok(vec![c.results.get_result(request).await?.into_inner().name])
                }
                .boxed()
            },
            rest: Some(|n| ("GET", n.result_path(), None)),
        },
        Op {
            rpc: "UpdateResult",
            verb: "update",
            resource: "results",
            needs: Needs::Result,
            effect: Effect::Updates,
            shows: Shows::TheResult,
            grpc: |mut c, n| {
                async move {
                    let mut changed = result(&n);
                    changed.annotations.insert("changed".into(), "yes".into());
                    let request = pb::UpdateResultRequest {
                        name: n.result_name(),
                        result: Some(changed),
                        etag: String::new(),
                    };
                    Ok(vec![
                        c.results.update_result(request).await?.into_inner().name,
                    ])
                }
                .boxed()
            },
            rest: Some(|n| {
                let body = json!({"annotations": {"changed": "yes"}});
                ("PATCH", n.result_path(), Some(body))
            }),
        },
        Op {
            rpc: "DeleteResult",
            verb: "delete",
            resource: "results",
            needs: Needs::Result,
            effect: Effect::Deletes,
            shows: Shows::Nothing,
            grpc: |mut c, n| {
                async move {
                    let request = pb::DeleteResultRequest {
                        name: n.result_name(),
                    };
                    c.results.delete_result(request).await?;
                    Ok(vec![])
                }
                .boxed()
            },
            rest: Some(|n| ("DELETE", n.result_path(), None)),
        },
        Op {
            rpc: "ListResults",
            verb: "list",
            resource: "results",
            needs: Needs::Result,
            effect: Effect::Reads,
            shows: Shows::TheResult,
            grpc: |mut c, n| {
                async move {
                    let request = pb::ListResultsRequest {
                        parent: n.ns.clone(),
                        ..Default::default()
                    };
                    let page = c.results.list_results(request).await?.into_inner();
                    Ok(page.results.into_iter().map(|r| r.name).collect())
                }
                .boxed()
            },
            rest: Some(|n| ("GET", format!("/parents/{}/results", n.ns), None)),
        },
        Op {
            rpc: "CreateRecord",
            verb: "create",
            resource: "records",
            needs: Needs::Result,
            effect: Effect::Creates,
            shows: Shows::TheRecord,
            grpc: |mut c, n| {
                async move {
                    let request = pb::CreateRecordRequest {
                        parent: n.result_name(),
                        record: Some(record(&n, TASK_RUN)),
                    };
                    Ok(vec![
                        c.results.create_record(request).await?.into_inner().name,
                    ])
                }
                .boxed()
            },
            rest: Some(|n| {
                let body = json!({"name": n.record_name(), "data": data_json(TASK_RUN)});
                ("POST", n.records_path(), Some(body))
            }),
        },
        Op {
            rpc: "GetRecord",
            verb: "get",
            resource: "records",
            needs: Needs::Record,
            effect: Effect::Reads,
            shows: Shows::TheRecord,
            grpc: |mut c, n| {
                async move {
                    let request = pb::GetRecordRequest {
                        name: n.record_name(),
                    };
                    Ok(vec![c.results.get_record(request).await?.into_inner().name])
                }
                .boxed()
            },
            rest: Some(|n| ("GET", n.record_path(), None)),
        },
        Op {
            rpc: "UpdateRecord",
            verb: "update",
            resource: "records",
            needs: Needs::Record,
            effect: Effect::Updates,
            shows: Shows::TheRecord,
            grpc: |mut c, n| {
                async move {
                    let request = pb::UpdateRecordRequest {
                        record: Some(record(&n, CHANGED_TASK_RUN)),
                        update_mask: None,
                        etag: String::new(),
                    };
                    Ok(vec![
                        c.results.update_record(request).await?.into_inner().name,
                    ])
                }
                .boxed()
            },
            rest: Some(|n| {
                let body = json!({"data": data_json(CHANGED_TASK_RUN)});
                ("PATCH", n.record_path(), Some(body))
            }),
        },
        Op {
            rpc: "DeleteRecord",
            verb: "delete",
            resource: "records",
            needs: Needs::Record,
            effect: Effect::Deletes,
            shows: Shows::Nothing,
            grpc: |mut c, n| {
                async move {
                    let request = pb::DeleteRecordRequest {
                        name: n.record_name(),
                    };
                    c.results.delete_record(request).await?;
                    Ok(vec![])
                }
                .boxed()
            },
            rest: Some(|n| ("DELETE", n.record_path(), None)),
        },
        Op {
            rpc: "ListRecords",
            verb: "list",
            resource: "records",
            needs: Needs::Record,
            effect: Effect::Reads,
            shows: Shows::TheRecord,
            grpc: |mut c, n| {
                async move {
                    let request = pb::ListRecordsRequest {
                        parent: n.result_name(),
                        ..Default::default()
                    };
                    let page = c.results.list_records(request).await?.into_inner();
                    Ok(page.records.into_iter().map(|r| r.name).collect())
                }
                .boxed()
            },
            rest: Some(|n| ("GET", n.records_path(), None)),
        },
        Op {
            rpc: "GetRecordListSummary",
            verb: "list",
            resource: "records",
            needs: Needs::Record,
            effect: Effect::Reads,
            shows: Shows::Total(1),
            grpc: |mut c, n| {
                async move {
                    let request = pb::RecordListSummaryRequest {
                        parent: n.result_name(),
                        summary: "total".into(),
                        ..Default::default()
                    };
                    let rows = c.results.get_record_list_summary(request).await?;
                    Ok(rows.into_inner().summary.iter().map(total_of_row).collect())
                }
                .boxed()
            },
            rest: Some(|n| {
                let path = format!("{}/summary?summary=total", n.records_path());
                ("GET", path, None)
            }),
        },
        Op {
            rpc: "GetLog",
            verb: "get",
            resource: "logs",
            needs: Needs::Log,
            effect: Effect::Reads,
            shows: Shows::Nothing,
            grpc: |mut c, n| {
                async move {
                    let request = pb::GetLogRequest { name: n.log_name() };
                    let mut chunks = c.logs.get_log(request).await?.into_inner();
                    let mut log = Vec::new();
                    while let Some(chunk) = chunks.next().await {
                        log.extend(chunk?.data);
                    }
                    Ok(vec![String::from_utf8_lossy(&log).into_owned()])
                }
                .boxed()
            },
            rest: Some(|n| ("GET", n.log_path(), None)),
        },
        Op {
            rpc: "ListLogs",
            verb: "list",
            resource: "logs",
            needs: Needs::Log,
            effect: Effect::Reads,
            shows: Shows::Nothing,
            grpc: |mut c, n| {
                async move {
                    let request = pb::ListRecordsRequest {
                        parent: n.result_name(),
                        ..Default::default()
                    };
                    let page = c.logs.list_logs(request).await?.into_inner();
                    Ok(page.records.into_iter().map(|r| r.name).collect())
                }
                .boxed()
            },
            rest: Some(|n| ("GET", format!("{}/logs", n.result_path()), None)),
        },
        Op {
            rpc: "WatchResults",
            verb: "list",
            resource: "results",
            needs: Needs::Result,
            effect: Effect::Reads,
            shows: Shows::TheResult,
            grpc: |mut c, n| {
                async move {
                    // Replayed from the start of the change log: the Result's creation.
                    let request = pb::WatchResultsRequest {
                        parent: n.ns.clone(),
                        filter: String::new(),
                        resume_from: Some(0),
                    };
                    let events = c.watch.watch_results(request).await?.into_inner();
                    shown_until(events, n.result_name(), |e| e.object.map(|o| o.name)).await
                }
                .boxed()
            },
            // A stream: the REST watch's 401/403 are checked in tests/watch.rs.
            rest: None,
        },
        Op {
            rpc: "WatchRecords",
            verb: "list",
            resource: "records",
            needs: Needs::Record,
            effect: Effect::Reads,
            shows: Shows::TheRecord,
            grpc: |mut c, n| {
                async move {
                    let request = pb::WatchRecordsRequest {
                        parent: n.result_name(),
                        filter: String::new(),
                        resume_from: Some(0),
                    };
                    let events = c.watch.watch_records(request).await?.into_inner();
                    shown_until(events, n.record_name(), |e| e.object.map(|o| o.name)).await
                }
                .boxed()
            },
            rest: None,
        },
        Op {
            rpc: "UpdateLog",
            verb: "update",
            resource: "logs",
            needs: Needs::Record,
            effect: Effect::Creates,
            shows: Shows::Nothing,
            grpc: |mut c, n| {
                async move {
                    // A client stream: the first message names the log.
                    let chunks = [n.log_name(), String::new()].map(|name| pb::Log {
                        name,
                        data: b"log line\n".to_vec(),
                    });
                    c.logs.update_log(futures::stream::iter(chunks)).await?;
                    Ok(vec![])
                }
                .boxed()
            },
            // The upstream REST gateway has no route for UpdateLog.
            rest: None,
        },
        Op {
            rpc: "DeleteLog",
            verb: "delete",
            resource: "logs",
            needs: Needs::Log,
            effect: Effect::Deletes,
            shows: Shows::Nothing,
            grpc: |mut c, n| {
                async move {
                    let request = pb::DeleteLogRequest { name: n.log_name() };
                    c.logs.delete_log(request).await?;
                    Ok(vec![])
                }
                .boxed()
            },
            rest: Some(|n| ("DELETE", n.log_path(), None)),
        },
    ]
}

/// The Result and Record an operation acts on, by their short names.
#[derive(Debug, Clone)]
struct Names {
    ns: String,
    result: String,
    record: String,
}

impl Names {
    fn new(ns: &str, result: &str) -> Names {
        Names {
            ns: ns.into(),
            result: result.into(),
            record: "x".into(),
        }
    }

    fn result_name(&self) -> String {
        format!("{}/results/{}", self.ns, self.result)
    }

    fn record_name(&self) -> String {
        format!("{}/records/{}", self.result_name(), self.record)
    }

    fn log_name(&self) -> String {
        format!("{}/logs/{}", self.result_name(), self.record)
    }

    fn result_path(&self) -> String {
        format!("/parents/{}/results/{}", self.ns, self.result)
    }

    fn records_path(&self) -> String {
        format!("{}/records", self.result_path())
    }

    fn record_path(&self) -> String {
        format!("{}/{}", self.records_path(), self.record)
    }

    fn log_path(&self) -> String {
        format!("{}/logs/{}", self.result_path(), self.record)
    }
}

const TASK_RUN: &str = r#"{"kind":"TaskRun"}"#;
const CHANGED_TASK_RUN: &str = r#"{"kind":"TaskRun","changed":true}"#;
const TASK_RUN_TYPE: &str = "tekton.dev/v1.TaskRun";

fn result(n: &Names) -> pb::Result {
    pb::Result {
        name: n.result_name(),
        ..Default::default()
    }
}

fn record(n: &Names, json: &str) -> pb::Record {
    pb::Record {
        name: n.record_name(),
        data: Some(pb::Any {
            r#type: TASK_RUN_TYPE.into(),
            value: json.as_bytes().to_vec(),
        }),
        ..Default::default()
    }
}

fn data_json(json: &str) -> Value {
    json!({"type": TASK_RUN_TYPE, "value": STANDARD.encode(json)})
}

/// `total=<n>` of a summary row.
fn total_of_row(row: &prost_types::Struct) -> String {
    match row.fields.get("total").and_then(|v| v.kind.as_ref()) {
        Some(prost_types::value::Kind::NumberValue(n)) => format!("total={n}"),
        other => panic!("a summary row without a number total: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Who may do what: the same accounts in both modes.
// ---------------------------------------------------------------------------------------

const VERBS: [&str; 5] = ["get", "list", "create", "update", "delete"];
const RESOURCES: [&str; 3] = ["results", "records", "logs"];

/// A user, its token (`<name>-token`) and what it may do.
struct Account {
    name: String,
    grant: Option<Grant>,
}

/// `verbs` on `resources` in `namespace` (`None`: in all namespaces, listings over `-` too).
struct Grant {
    namespace: Option<&'static str>,
    resources: Vec<&'static str>,
    verbs: Vec<&'static str>,
}

fn token(user: &str) -> String {
    format!("{user}-token")
}

/// The user allowed exactly `verb` on `resource` in namespace `ci`.
fn exactly(verb: &str, resource: &str) -> String {
    format!("{verb}-{resource}")
}

fn all_but<'a>(all: &[&'a str], but: &str) -> Vec<&'a str> {
    all.iter().copied().filter(|v| *v != but).collect()
}

fn accounts() -> Vec<Account> {
    let account = |name: &str, grant| Account {
        name: name.into(),
        grant,
    };
    let grant = |namespace, resources: &[&'static str], verbs: &[&'static str]| {
        Some(Grant {
            namespace,
            resources: resources.to_vec(),
            verbs: verbs.to_vec(),
        })
    };
    let mut accounts = vec![
        account("admin", grant(None, &RESOURCES, &VERBS)),
        account("nobody", None),
        account("neighbour", grant(Some("other"), &RESOURCES, &VERBS)),
    ];
    for verb in VERBS {
        let others = all_but(&VERBS, verb);
        accounts.push(account(
            &format!("all-but-{verb}"),
            grant(Some("ci"), &RESOURCES, &others),
        ));
        for resource in RESOURCES {
            accounts.push(account(
                &exactly(verb, resource),
                grant(Some("ci"), &[resource], &[verb]),
            ));
        }
    }
    for resource in RESOURCES {
        let others = all_but(&RESOURCES, resource);
        accounts.push(account(
            &format!("all-but-{resource}"),
            grant(Some("ci"), &others, &VERBS),
        ));
    }
    accounts
}

/// The accounts as a token file (`results_actors::auth::tokens`).
fn tokens_toml(accounts: &[Account]) -> String {
    let mut toml = String::new();
    for account in accounts {
        let (name, token) = (&account.name, token(&account.name));
        toml += &format!("[[subjects]]\nname = {name:?}\ntoken = {token:?}\n");
        if let Some(grant) = &account.grant {
            let namespaces = [grant.namespace.unwrap_or("*")];
            toml += &format!(
                "[[subjects.grants]]\nnamespaces = {namespaces:?}\nresources = {:?}\nverbs = {:?}\n",
                grant.resources, grant.verbs
            );
        }
    }
    toml
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Kubernetes,
    Static,
}

/// A server checking callers, with every account registered.
enum Checked {
    Kubernetes(KubeAuthServer),
    Static(StaticAuthServer),
}

impl Checked {
    fn start(mode: Mode, backend: Backend) -> Checked {
        let accounts = accounts();
        match mode {
            Mode::Kubernetes => {
                let server = KubeAuthServer::start(backend, |_| {});
                for account in &accounts {
                    let name = account.name.as_str();
                    server
                        .kube
                        .add_token(&token(name), ReviewedUser::named(name, &[]));
                    if let Some(grant) = &account.grant {
                        let namespaces = grant.namespace.as_ref().map(std::slice::from_ref);
                        let mut rule = AccessRule::results(
                            Subject::User(name.into()),
                            namespaces,
                            &grant.verbs,
                        );
                        rule.resources = grant.resources.iter().map(|r| r.to_string()).collect();
                        server.kube.allow(rule);
                    }
                }
                Checked::Kubernetes(server)
            }
            Mode::Static => {
                Checked::Static(StaticAuthServer::start(backend, &tokens_toml(&accounts)))
            }
        }
    }

    fn api(&self) -> &TestServer {
        match self {
            Checked::Kubernetes(server) => &server.api,
            Checked::Static(server) => &server.api,
        }
    }

    fn mode(&self) -> Mode {
        match self {
            Checked::Kubernetes(_) => Mode::Kubernetes,
            Checked::Static(_) => Mode::Static,
        }
    }

    /// A gRPC client acting as the admin, to set up and inspect what is stored.
    async fn admin(&self) -> Admin {
        let (name, value) = bearer(&token("admin"));
        Admin {
            results: self.api().grpc_with(&[(name, &value)]).await,
            logs: self.api().logs_with(&[(name, &value)]).await,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Callers and the answers they must get.
// ---------------------------------------------------------------------------------------

/// Who calls: a label for failures, the headers sent, and the answer expected.
struct Caller {
    label: String,
    headers: Vec<(&'static str, String)>,
    expect: Expect,
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Unauthenticated,
    InvalidArgument,
    /// PERMISSION_DENIED naming this user.
    Denied(String),
    Allowed,
}

/// Every kind of caller of `op`, the allowed one last.
fn callers(op: &Op) -> Vec<Caller> {
    let caller = |label: &str, headers: Vec<(&'static str, String)>, expect| Caller {
        label: label.into(),
        headers,
        expect,
    };
    let denied = |user: String| Caller {
        label: format!("user {user}"),
        headers: vec![bearer(&token(&user))],
        expect: Expect::Denied(user),
    };
    let allowed = token(&exactly(op.verb, op.resource));
    vec![
        caller("no token", vec![], Expect::Unauthenticated),
        caller(
            "an unknown token",
            vec![bearer("never-issued")],
            Expect::Unauthenticated,
        ),
        caller(
            "a non-Bearer authorization scheme",
            vec![("authorization", format!("Basic {allowed}"))],
            Expect::Unauthenticated,
        ),
        caller(
            "two authorization headers",
            vec![bearer(&allowed), bearer(&allowed)],
            Expect::Unauthenticated,
        ),
        caller(
            "Impersonate-Group without Impersonate-User",
            vec![bearer(&allowed), ("impersonate-group", "admins".into())],
            Expect::InvalidArgument,
        ),
        denied("nobody".into()),
        denied("neighbour".into()),
        denied(format!("all-but-{}", op.verb)),
        denied(format!("all-but-{}", op.resource)),
        caller(
            &format!("user {}", exactly(op.verb, op.resource)),
            vec![bearer(&allowed)],
            Expect::Allowed,
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Transport {
    Grpc,
    Rest,
}

/// The gRPC clients of a caller.
#[derive(Clone)]
struct Grpc {
    results: ResultsClient<HeaderChannel>,
    logs: LogsClient<HeaderChannel>,
    watch: WatchClient<HeaderChannel>,
}

/// A call's answer over either transport: the gRPC code (or the `code` of a REST error
/// body), the HTTP status over REST, the error message, and what a success shows.
#[derive(Debug)]
struct Answer {
    code: Code,
    http: Option<u16>,
    message: String,
    shows: Vec<String>,
}

/// The HTTP status the REST gateway answers for `code`.
fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::Unimplemented => 501,
        other => panic!("no status expected for {other:?}"),
    }
}

async fn call(
    server: &TestServer,
    op: &Op,
    transport: Transport,
    headers: &[(&'static str, String)],
    names: &Names,
) -> Answer {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    match transport {
        Transport::Grpc => {
            grpc_answer((op.grpc)(grpc_clients(server, &headers).await, names.clone()).await)
        }
        Transport::Rest => {
            let route = op.rest.expect("a REST route");
            let (method, path, body) = route(names);
            let rest = server.rest().with_headers(&headers);
            let (status, body) = rest.api(method, &path, body.as_ref()).await;
            rest_answer(status, &body)
        }
    }
}

async fn grpc_clients(server: &TestServer, headers: &[(&str, &str)]) -> Grpc {
    Grpc {
        results: server.grpc_with(headers).await,
        logs: server.logs_with(headers).await,
        watch: server.watch_with(headers).await,
    }
}

fn grpc_answer(answer: Result<Vec<String>, Status>) -> Answer {
    match answer {
        Ok(shows) => Answer {
            code: Code::Ok,
            http: None,
            message: String::new(),
            shows,
        },
        Err(status) => Answer {
            code: status.code(),
            http: None,
            message: status.message().into(),
            shows: vec![],
        },
    }
}

fn rest_answer(status: u16, body: &Value) -> Answer {
    if status == 200 {
        return Answer {
            code: Code::Ok,
            http: Some(status),
            message: String::new(),
            shows: shown_in_json(body),
        };
    }
    let code = body["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("HTTP {status}: an error body without code: {body}"));
    Answer {
        code: Code::from_i32(code as i32),
        http: Some(status),
        message: body["message"].as_str().unwrap_or_default().into(),
        shows: vec![],
    }
}

/// What a REST answer shows: its name, the names it lists, or its summary's totals.
fn shown_in_json(body: &Value) -> Vec<String> {
    let names = |list: &Value| -> Vec<String> {
        let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
        items
            .iter()
            .filter_map(|item| item["name"].as_str().map(str::to_owned))
            .collect()
    };
    if let Some(name) = body["name"].as_str() {
        return vec![name.into()];
    }
    let mut shown = names(&body["results"]);
    shown.extend(names(&body["records"]));
    if let Some(rows) = body["summary"].as_array() {
        shown.extend(rows.iter().map(|row| {
            let total = row["total"].as_f64();
            format!(
                "total={}",
                total.expect("a summary row with a number total")
            )
        }));
    }
    shown
}

/// Checks `answer` against what `expect` says; `context` names the call.
fn check(answer: &Answer, expect: &Expect, op: &Op, names: &Names, context: &str) {
    let code = match expect {
        Expect::Unauthenticated => Code::Unauthenticated,
        Expect::InvalidArgument => Code::InvalidArgument,
        Expect::Denied(_) => Code::PermissionDenied,
        Expect::Allowed => Code::Ok,
    };
    let http = answer.http.map(|_| http_status(code));
    assert_eq!(
        (answer.code, answer.http),
        (code, http),
        "{context}: {answer:?}"
    );
    match expect {
        Expect::Denied(user) => {
            let (user, access) = (format!("{user:?}"), format!("{} {}", op.verb, op.resource));
            assert!(
                answer.message.contains(&user) && answer.message.contains(&access),
                "{context}: the denial should name {user} and {access}: {:?}",
                answer.message
            );
        }
        Expect::Allowed => {
            let shown = match op.shows {
                Shows::Nothing => None,
                Shows::TheResult => Some(names.result_name()),
                Shows::TheRecord => Some(names.record_name()),
                Shows::Total(n) => Some(format!("total={n}")),
            };
            if let Some(shown) = shown {
                assert!(
                    answer.shows.contains(&shown),
                    "{context}: shows {:?}, not {shown}",
                    answer.shows
                );
            }
        }
        Expect::Unauthenticated | Expect::InvalidArgument => {}
    }
}

// ---------------------------------------------------------------------------------------
// What is stored, as the admin sees it.
// ---------------------------------------------------------------------------------------

/// The log `prepare` stores for `Needs::Log`.
const SEEDED_LOG: &str = "seeded log line\n";

/// The admin's clients.
struct Admin {
    results: ResultsClient<HeaderChannel>,
    logs: LogsClient<HeaderChannel>,
}

impl Admin {
    /// The log stored for `names`' record, if any.
    async fn log(&mut self, names: &Names) -> Option<String> {
        let request = pb::GetLogRequest {
            name: names.log_name(),
        };
        let mut chunks = match self.logs.get_log(request).await {
            Ok(answer) => answer.into_inner(),
            Err(status) if status.code() == Code::NotFound => return None,
            Err(status) => panic!("the admin reads the log: {status}"),
        };
        let mut log = Vec::new();
        while let Some(chunk) = chunks.next().await {
            log.extend(chunk.expect("the admin reads the log").data);
        }
        Some(String::from_utf8_lossy(&log).into_owned())
    }
}

/// The Result and Record of `names`, if stored.
#[derive(Debug, PartialEq)]
struct Stored {
    result: Option<pb::Result>,
    record: Option<pb::Record>,
    /// The log stored for the record, if any.
    log: Option<String>,
}

impl Stored {
    async fn read(admin: &mut Admin, names: &Names) -> Stored {
        let result = admin
            .results
            .get_result(pb::GetResultRequest {
                name: names.result_name(),
            })
            .await;
        let record = admin
            .results
            .get_record(pb::GetRecordRequest {
                name: names.record_name(),
            })
            .await;
        Stored {
            result: stored(result).expect("the admin reads the result"),
            record: stored(record).expect("the admin reads the record"),
            log: admin.log(names).await,
        }
    }

    /// The etag of the stored object of `resource` (a log's content), if it is stored.
    fn etag(&self, resource: &str) -> Option<&str> {
        match resource {
            "results" => self.result.as_ref().map(|r| r.etag.as_str()),
            "records" => self.record.as_ref().map(|r| r.etag.as_str()),
            "logs" => self.log.as_deref(),
            other => panic!("nothing of {other} is stored"),
        }
    }
}

/// What a successful Get answered; `None` for NotFound.
fn stored<T>(answer: Result<tonic::Response<T>, Status>) -> Result<Option<T>, Status> {
    match answer {
        Ok(response) => Ok(Some(response.into_inner())),
        Err(status) if status.code() == Code::NotFound => Ok(None),
        Err(status) => Err(status),
    }
}

async fn prepare(admin: &mut Admin, needs: &Needs, names: &Names) {
    if matches!(needs, Needs::Result | Needs::Record | Needs::Log) {
        let request = pb::CreateResultRequest {
            parent: names.ns.clone(),
            result: Some(result(names)),
        };
        admin
            .results
            .create_result(request)
            .await
            .expect("admin creates the result");
    }
    if matches!(needs, Needs::Record | Needs::Log) {
        let request = pb::CreateRecordRequest {
            parent: names.result_name(),
            record: Some(record(names, TASK_RUN)),
        };
        admin
            .results
            .create_record(request)
            .await
            .expect("admin creates the record");
    }
    if matches!(needs, Needs::Log) {
        let chunks = [pb::Log {
            name: names.log_name(),
            data: SEEDED_LOG.as_bytes().to_vec(),
        }];
        admin
            .logs
            .update_log(futures::stream::iter(chunks))
            .await
            .expect("admin uploads the log");
    }
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

/// Every operation over every transport by every caller: each gets the answer its
/// credentials deserve; denied calls leave what is stored exactly as it was, and the allowed
/// call does what it says.
async fn matrix(server: &Checked) {
    let mut admin = server.admin().await;
    for op in ops() {
        for transport in [Transport::Grpc, Transport::Rest] {
            if transport == Transport::Rest && op.rest.is_none() {
                continue;
            }
            let short = format!("{transport:?}-{}", op.rpc).to_lowercase();
            let names = Names::new("ci", &short);
            prepare(&mut admin, &op.needs, &names).await;
            let before = Stored::read(&mut admin, &names).await;
            for caller in callers(&op) {
                let context = format!(
                    "{:?} mode, {} over {transport:?} by {}",
                    server.mode(),
                    op.rpc,
                    caller.label
                );
                let answer = call(server.api(), &op, transport, &caller.headers, &names).await;
                check(&answer, &caller.expect, &op, &names, &context);
                let after = Stored::read(&mut admin, &names).await;
                if caller.expect != Expect::Allowed {
                    assert_eq!(
                        after, before,
                        "{context}: a refused call changed what is stored"
                    );
                    continue;
                }
                match op.effect {
                    Effect::Reads => {
                        assert_eq!(after, before, "{context}: a read changed something")
                    }
                    Effect::Creates => assert!(
                        before.etag(op.resource).is_none() && after.etag(op.resource).is_some(),
                        "{context}: not created: {after:?}"
                    ),
                    Effect::Updates => assert!(
                        after.etag(op.resource).is_some()
                            && after.etag(op.resource) != before.etag(op.resource),
                        "{context}: not updated: {before:?} → {after:?}"
                    ),
                    Effect::Deletes => assert!(
                        before.etag(op.resource).is_some() && after.etag(op.resource).is_none(),
                        "{context}: not deleted: {after:?}"
                    ),
                }
            }
        }
    }
}

/// Listings and summaries over `-` are narrowed to the namespaces where the caller may list:
/// all for the admin, its own for users allowed in one, none (an empty answer, not a denial)
/// for a user allowed nowhere. ListLogs passes the check the same way.
async fn listings_over_any_namespace(server: &Checked) {
    let mut admin = server.admin().await;
    for ns in ["ci", "other"] {
        prepare(&mut admin, &Needs::Log, &Names::new(ns, "r")).await;
    }
    let any = Names::new("-", "-");
    let listings = [
        "ListResults",
        "ListRecords",
        "GetRecordListSummary",
        "ListLogs",
    ];
    for op in ops().into_iter().filter(|op| listings.contains(&op.rpc)) {
        let lister = exactly("list", op.resource);
        let callers: [(&str, Option<&[&str]>); 5] = [
            ("admin", Some(&["ci", "other"])),
            ("neighbour", Some(&["other"])),
            (&lister, Some(&["ci"])),
            ("nobody", Some(&[])),
            ("", None),
        ];
        for (user, sees) in callers {
            let headers = match user {
                "" => vec![],
                user => vec![bearer(&token(user))],
            };
            let (code, expected) = match (sees, op.rpc) {
                (None, _) => (Code::Unauthenticated, vec![]),
                (Some(sees), "ListLogs") => (
                    Code::Ok,
                    sees.iter()
                        .map(|ns| format!("{}-log", Names::new(ns, "r").record_name()))
                        .collect(),
                ),
                (Some(sees), "ListResults") => (
                    Code::Ok,
                    sees.iter()
                        .map(|ns| Names::new(ns, "r").result_name())
                        .collect(),
                ),
                // Each namespace holds the run's Record and its Log Record.
                (Some(sees), "ListRecords") => (
                    Code::Ok,
                    sees.iter()
                        .flat_map(|ns| {
                            let run = Names::new(ns, "r").record_name();
                            [format!("{run}-log"), run]
                        })
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                ),
                (Some(sees), _) => (Code::Ok, vec![format!("total={}", 2 * sees.len())]),
            };
            for transport in [Transport::Grpc, Transport::Rest] {
                let context = format!(
                    "{:?} mode, {} over '-' by {user:?} over {transport:?}",
                    server.mode(),
                    op.rpc
                );
                let mut answer = call(server.api(), &op, transport, &headers, &any).await;
                answer.shows.sort();
                assert_eq!(
                    (answer.code, &answer.shows),
                    (code, &expected),
                    "{context}: {answer:?}"
                );
            }
        }
    }
}

/// A request the server cannot read.
enum Unreadable {
    Grpc(GrpcCall),
    /// Method, path under the API prefix, body.
    Rest(&'static str, &'static str, &'static [u8]),
}

/// A caller who may not act learns nothing from how the server reads its request: without
/// a token it is refused before anything is read; with one, before what the check needs
/// no more than names (REST reads the query and body of a token holder before the check, so
/// there only a caller without a token is answered first).
async fn refusals_come_before_reading_the_request(server: &Checked) {
    let mut admin = server.admin().await;
    let names = Names::new("ci", "r");
    prepare(&mut admin, &Needs::Record, &names).await;
    let requests: [(&str, bool, Unreadable); 7] = [
        (
            "a CreateResult whose result is not under its parent",
            true,
            Unreadable::Grpc(|mut c, n| {
                async move {
                    let request = pb::CreateResultRequest {
                        parent: n.ns.clone(),
                        result: Some(pb::Result {
                            name: "elsewhere/results/r".into(),
                            ..Default::default()
                        }),
                    };
                    c.results.create_result(request).await?;
                    Ok(vec![])
                }
                .boxed()
            }),
        ),
        (
            "a summary of an unknown aggregate",
            true,
            Unreadable::Grpc(|mut c, n| {
                async move {
                    let request = pb::RecordListSummaryRequest {
                        parent: n.result_name(),
                        summary: "nonsense".into(),
                        ..Default::default()
                    };
                    c.results.get_record_list_summary(request).await?;
                    Ok(vec![])
                }
                .boxed()
            }),
        ),
        (
            "a listing with a malformed filter",
            true,
            Unreadable::Grpc(|mut c, n| {
                async move {
                    let request = pb::ListRecordsRequest {
                        parent: n.result_name(),
                        filter: "((".into(),
                        ..Default::default()
                    };
                    c.results.list_records(request).await?;
                    Ok(vec![])
                }
                .boxed()
            }),
        ),
        (
            "a REST summary of an unknown aggregate",
            true,
            Unreadable::Rest(
                "GET",
                "/parents/ci/results/r/records/summary?summary=nonsense",
                b"",
            ),
        ),
        (
            "a REST Result that is not JSON",
            false,
            Unreadable::Rest("POST", "/parents/ci/results", b"{not json"),
        ),
        (
            "a REST Record that is not JSON",
            false,
            Unreadable::Rest("PATCH", "/parents/ci/results/r/records/x", b"["),
        ),
        (
            "a REST listing whose page size is not a number",
            false,
            Unreadable::Rest("GET", "/parents/ci/results?page_size=many", b""),
        ),
    ];
    let callers = [
        ("no token", vec![], Code::Unauthenticated, true),
        (
            "an unknown token",
            vec![bearer("never-issued")],
            Code::Unauthenticated,
            false,
        ),
        (
            "user nobody",
            vec![bearer(&token("nobody"))],
            Code::PermissionDenied,
            false,
        ),
    ];
    let before = Stored::read(&mut admin, &names).await;
    for (what, checked_first, request) in &requests {
        for (caller, headers, code, always) in &callers {
            let context = format!("{:?} mode, {what} by {caller}", server.mode());
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let answer = match request {
                Unreadable::Grpc(call) => grpc_answer(
                    call(grpc_clients(server.api(), &headers).await, names.clone()).await,
                ),
                Unreadable::Rest(method, path, body) => {
                    let rest = server.api().rest().with_headers(&headers);
                    let (status, body) = rest.raw(method, path, body.to_vec()).await;
                    rest_answer(status, &body)
                }
            };
            if *always || *checked_first {
                let http = answer.http.map(|_| http_status(*code));
                assert_eq!(
                    (answer.code, answer.http),
                    (*code, http),
                    "{context}: {answer:?}"
                );
            } else {
                assert_eq!(answer.code, Code::InvalidArgument, "{context}: {answer:?}");
            }
        }
    }
    let after = Stored::read(&mut admin, &names).await;
    assert_eq!(after, before, "refused requests changed what is stored");
}
