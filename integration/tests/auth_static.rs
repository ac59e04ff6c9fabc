//! Static auth mode end to end: bearer tokens from a file (given as the token or as its
//! SHA-256), grants by namespace list or `*`, listings over `-` holding exactly the
//! namespaces a subject may list in, and edits of the file taking effect without a restart
//! (a broken edit keeps the tokens in force). The per-RPC 401/403 matrix is auth_matrix.rs.

use std::path::PathBuf;
use std::time::Duration;

use integration::secured::{bearer, TempDir};
use integration::server::HeaderChannel;
use integration::{backend_tests, Backend, CapturedLogs, TestServer};
use prost_types::value::Kind;
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use results_grpc::settings::AuthMode;
use tonic::Code;

/// May do everything everywhere; given in the file as its SHA-256 only.
const ADMIN: &str = "admin-s3cret-7f1c";
/// `echo -n admin-s3cret-7f1c | sha256sum`.
const ADMIN_SHA256: &str = "49a28e129f199851fa72ae84c32cd7a5a0d1ac73c133809d086ca1c30c8950b8";
/// Reads Results and Records in team-a, team-b and an empty namespace.
const READER: &str = "reader-5e1f";
/// Lists Results in team-c and prod, Records in prod only.
const AUDITOR: &str = "auditor-90ab";
/// Lists Results in every namespace (`*`), Records nowhere.
const LISTER: &str = "lister-3b77";
/// Creates in team-a; lists nothing.
const CREATOR: &str = "creator-c4d2";

/// Namespaces holding a Result `r` with a Record `x` in the listing test.
const NAMESPACES: [&str; 4] = ["prod", "team-a", "team-b", "team-c"];
/// How long an edit of the token file may take to be noticed before a test gives up (the
/// server reads the file every 2 s; this is a bound on waiting, not a requirement).
const WAIT: Duration = Duration::from_secs(30);

fn subject(name: &str, token: &str, grants: &[(&[&str], &[&str], &[&str])]) -> String {
    let quoted = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!("[[subjects]]\nname = {name:?}\n{token}\n");
    for (namespaces, resources, verbs) in grants {
        text += &format!(
            "[[subjects.grants]]\nnamespaces = [{}]\nresources = [{}]\nverbs = [{}]\n",
            quoted(namespaces),
            quoted(resources),
            quoted(verbs)
        );
    }
    text + "\n"
}

fn token(token: &str) -> String {
    format!("token = {token:?}")
}

fn admin() -> String {
    subject(
        "admin",
        &format!("token_sha256 = {ADMIN_SHA256:?}"),
        &[(&["*"], &["*"], &["*"])],
    )
}

fn reader(with_token: &str) -> String {
    subject(
        "reader",
        &token(with_token),
        &[(
            &["team-a", "team-b", "empty"],
            &["results", "records"],
            &["get", "list"],
        )],
    )
}

fn listing_subjects() -> String {
    [
        admin(),
        reader(READER),
        subject(
            "auditor",
            &token(AUDITOR),
            &[
                (&["team-c", "prod"], &["results"], &["list"]),
                (&["prod"], &["records"], &["list"]),
            ],
        ),
        subject(
            "lister",
            &token(LISTER),
            &[(&["*"], &["results"], &["list"])],
        ),
        subject(
            "creator",
            &token(CREATOR),
            &[(&["team-a"], &["results", "records"], &["create"])],
        ),
    ]
    .concat()
}

/// A server in static mode reading the token file in its own directory.
struct StaticServer {
    api: TestServer,
    file: PathBuf,
    _dir: TempDir,
}

impl StaticServer {
    fn start(backend: Backend, tokens: &str) -> StaticServer {
        let dir = TempDir::new("static-auth");
        let file = dir.path().join("tokens.toml");
        std::fs::write(&file, tokens).unwrap();
        let path = file.to_str().unwrap().to_owned();
        let api = TestServer::start_with(backend, |s| {
            s.auth.mode = AuthMode::Static;
            s.auth.tokens_file = path;
        });
        StaticServer {
            api,
            file,
            _dir: dir,
        }
    }

    /// Replaces the token file's content, as an editor would.
    fn edit(&self, tokens: &str) {
        std::fs::write(&self.file, tokens).unwrap();
    }

    fn path(&self) -> &str {
        self.file.to_str().unwrap()
    }

    async fn client(&self, token: &str) -> ResultsClient<HeaderChannel> {
        let (name, value) = bearer(token);
        self.api.grpc_with(&[(name, &value)]).await
    }
}

/// The namespaces of every Result a ListResults over `-` answers, one per page.
async fn listed_results(client: &mut ResultsClient<HeaderChannel>) -> Result<Vec<String>, Code> {
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_results(pb::ListResultsRequest {
                parent: "-".into(),
                page_size: 1,
                page_token,
                ..Default::default()
            })
            .await
            .map_err(|s| s.code())?
            .into_inner();
        names.extend(page.results.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            return Ok(names);
        }
        page_token = page.next_page_token;
    }
}

/// The names of every Record a ListRecords of `parent` answers, one per page.
async fn listed_records(client: &mut ResultsClient<HeaderChannel>, parent: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_records(pb::ListRecordsRequest {
                parent: parent.into(),
                page_size: 1,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("ListRecords {parent}: {s:?}"))
            .into_inner();
        names.extend(page.records.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        page_token = page.next_page_token;
    }
}

/// The namespaces a Record summary over `-` groups its Records into.
async fn summarised_namespaces(client: &mut ResultsClient<HeaderChannel>) -> Vec<String> {
    let groups = client
        .get_record_list_summary(pb::RecordListSummaryRequest {
            parent: "-/results/-".into(),
            summary: "total".into(),
            group_by: "namespace".into(),
            ..Default::default()
        })
        .await
        .expect("a summary over '-'")
        .into_inner()
        .summary;
    groups
        .iter()
        .map(|g| match g.fields["group_value"].kind.as_ref() {
            Some(Kind::StringValue(ns)) => ns.clone(),
            other => panic!("group_value {other:?}"),
        })
        .collect()
}

fn results_in(namespaces: &[&str]) -> Vec<String> {
    namespaces
        .iter()
        .map(|ns| format!("{ns}/results/r"))
        .collect()
}

fn records_in(namespaces: &[&str]) -> Vec<String> {
    namespaces
        .iter()
        .map(|ns| format!("{ns}/results/r/records/x"))
        .collect()
}

async fn listings_over_dash_hold_exactly_the_namespaces_granted(backend: Backend) {
    let server = StaticServer::start(backend, &listing_subjects());

    // The admin's token is in the file only as its SHA-256; the digest is no token.
    let mut admin = server.client(ADMIN).await;
    for ns in NAMESPACES {
        admin
            .create_result(pb::CreateResultRequest {
                parent: ns.into(),
                result: Some(pb::Result {
                    name: format!("{ns}/results/r"),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_or_else(|s| panic!("admin creates in {ns}: {s:?}"));
        admin
            .create_record(pb::CreateRecordRequest {
                parent: format!("{ns}/results/r"),
                record: Some(pb::Record {
                    name: format!("{ns}/results/r/records/x"),
                    data: Some(pb::Any {
                        r#type: "tekton.dev/v1.TaskRun".into(),
                        value: br#"{"kind":"TaskRun"}"#.to_vec(),
                    }),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_or_else(|s| panic!("admin creates a record in {ns}: {s:?}"));
    }
    let mut digest = server.client(ADMIN_SHA256).await;
    let refused = digest
        .get_result(pb::GetResultRequest {
            name: "prod/results/r".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // Each subject's listing over '-' holds what it may list, in every namespace it may
    // list in and no other; one that may list nowhere gets an empty page, not a denial.
    let all = &NAMESPACES[..];
    for (token, results, records) in [
        (ADMIN, all, all),
        (READER, &["team-a", "team-b"][..], &["team-a", "team-b"][..]),
        (AUDITOR, &["prod", "team-c"], &["prod"]),
        (LISTER, all, &[]),
        (CREATOR, &[], &[]),
    ] {
        let mut client = server.client(token).await;
        assert_eq!(
            listed_results(&mut client).await,
            Ok(results_in(results)),
            "ListResults '-' of {token}"
        );
        assert_eq!(
            listed_records(&mut client, "-/results/-").await,
            records_in(records),
            "ListRecords '-/results/-' of {token}"
        );
        assert_eq!(
            listed_records(&mut client, "-/results/r").await,
            records_in(records),
            "ListRecords '-/results/r' of {token}"
        );
        assert_eq!(
            summarised_namespaces(&mut client).await,
            records,
            "summary over '-' of {token}"
        );
    }

    // A namespace named outright is checked as it is.
    let mut reader = server.client(READER).await;
    let denied = reader
        .list_results(pb::ListResultsRequest {
            parent: "prod".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // REST narrows the same way.
    let (name, value) = bearer(READER);
    let rest = server.api.rest().with_headers(&[(name, &value)]);
    let names = |body: &serde_json::Value, field: &str| -> Vec<String> {
        body[field]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = rest.api("GET", "/parents/-/results", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body, "results"), results_in(&["team-a", "team-b"]));
    let (status, body) = rest.api("GET", "/parents/-/results/-/records", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body, "records"), records_in(&["team-a", "team-b"]));
}

backend_tests!(listings_over_dash_hold_exactly_the_namespaces_granted);

/// The code of a ListResults in team-a with `token`: `Ok` if allowed.
async fn outcome(server: &StaticServer, token: &str) -> Code {
    let mut client = server.client(token).await;
    match client
        .list_results(pb::ListResultsRequest {
            parent: "team-a".into(),
            ..Default::default()
        })
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Polls until a ListResults in team-a with `token` answers `want`.
async fn until(server: &StaticServer, token: &str, want: Code, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = outcome(server, token).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {token} still answers {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn newcomer(token_text: &str) -> String {
    subject(
        "newcomer",
        &token(token_text),
        &[(&["team-a"], &["results"], &["list"])],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_the_token_file_take_effect_without_a_restart() {
    const NEWCOMER: &str = "newcomer-41aa";
    const ROTATED: &str = "reader-rotated-e2d0";
    let logs = CapturedLogs::install("warn");
    let server = StaticServer::start(Backend::Sqlite, &[admin(), reader(READER)].concat());
    assert_eq!(outcome(&server, READER).await, Code::Ok);
    assert_eq!(outcome(&server, NEWCOMER).await, Code::Unauthenticated);

    // A subject added is let in.
    server.edit(&[admin(), reader(READER), newcomer(NEWCOMER)].concat());
    until(&server, NEWCOMER, Code::Ok, "an added subject").await;
    assert_eq!(outcome(&server, READER).await, Code::Ok);

    // A token replaced is refused, its successor let in, the others untouched.
    server.edit(&[admin(), reader(ROTATED), newcomer(NEWCOMER)].concat());
    until(&server, READER, Code::Unauthenticated, "a revoked token").await;
    for token in [ROTATED, NEWCOMER, ADMIN] {
        assert_eq!(outcome(&server, token).await, Code::Ok, "{token}");
    }

    // Broken edits (that would have dropped the newcomer and brought the old reader token
    // back) are refused once read, and the table in force stays as it was.
    let broken = [
        (
            [admin(), reader(READER)].concat() + "[[subjects]]\nname = ",
            "TOML parse error",
        ),
        (
            [admin(), reader(READER)].concat()
                + &subject("x", &token("x"), &[(&["*"], &["*"], &["watch"])]),
            "verbs has \"watch\"",
        ),
    ];
    for (text, reason) in broken {
        server.edit(&text);
        logs.wait_for(
            &["keeping the tokens loaded before", server.path(), reason],
            WAIT,
        )
        .await;
        for token in [ROTATED, NEWCOMER, ADMIN] {
            assert_eq!(
                outcome(&server, token).await,
                Code::Ok,
                "{token} after {reason}"
            );
        }
        assert_eq!(
            outcome(&server, READER).await,
            Code::Unauthenticated,
            "the revoked token after {reason}"
        );
    }

    // A good edit after them is taken in.
    server.edit(&[admin(), reader(ROTATED)].concat());
    until(
        &server,
        NEWCOMER,
        Code::Unauthenticated,
        "a removed subject",
    )
    .await;
    assert_eq!(outcome(&server, ROTATED).await, Code::Ok);
}
