//! The REST gateway: the upstream paths and proto3 JSON, large documents, bad bodies.

mod common;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use integration::TestServer;
use results_storage::Backend;
use serde_json::{json, Value};

integration::backend_tests!(
    rest_round_trip,
    rest_one_mebibyte_record,
    rest_rejects_bad_bodies_and_stores_nothing,
    rest_reads_what_protojson_reads,
    rest_refuses_a_method_a_path_does_not_take
);

async fn rest_round_trip(backend: Backend) {
    let server = TestServer::start(backend);
    let rest = server.rest();
    let (status, created) = rest
        .api(
            "POST",
            "/parents/ns/results",
            Some(&json!({"name": "ns/results/r", "annotations": {"a": "1"}, "uid": "ignored"})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], "ns/results/r");
    assert_ne!(created["uid"], "ignored");
    assert_eq!(created["create_time"], created["update_time"]);
    assert!(
        created.get("summary").is_none(),
        "unset fields are omitted: {created}"
    );
    let etag = created["etag"].as_str().unwrap().to_owned();

    let (status, got) = rest.api("GET", "/parents/ns/results/r", None).await;
    assert_eq!((status, &got), (200, &created));

    // PATCH takes the name from the path; summary status travels by name.
    let (status, updated) = rest
        .api(
            "PATCH",
            &format!("/parents/ns/results/r?etag={etag}"),
            Some(&json!({"annotations": {"b": "2"}, "summary": {"record": "ns/results/r/records/x", "type": "tekton.dev/v1.PipelineRun", "status": "SUCCESS", "start_time": "2026-01-02T03:04:05.123456789Z"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["annotations"], json!({"b": "2"}));
    assert_eq!(updated["summary"]["status"], "SUCCESS");
    assert_eq!(
        updated["summary"]["start_time"],
        "2026-01-02T03:04:05.123456789Z"
    );
    let (status, err) = rest
        .api(
            "PATCH",
            &format!("/parents/ns/results/r?etag={etag}"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_i64()),
        (400, Some(9)),
        "stale etag: {err}"
    );

    let value = STANDARD.encode(br#"{"kind":"TaskRun"}"#);
    let (status, rec) = rest
        .api("POST", "/parents/ns/results/r/records", Some(&json!({"name": "ns/results/r/records/x", "data": {"type": "tekton.dev/v1.TaskRun", "value": value}})))
        .await;
    assert_eq!(status, 200, "{rec}");
    let (status, list) = rest
        .api("GET", "/parents/-/results/-/records?page_size=1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["records"][0]["name"], "ns/results/r/records/x");
    assert!(
        list.get("next_page_token").is_none(),
        "one record, one page: {list}"
    );

    let (status, patched) = rest
        .api(
            "PATCH",
            "/parents/ns/results/r/records/x",
            Some(&json!({"data": {"value": STANDARD.encode(b"[1,2]")}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["data"]["type"], "tekton.dev/v1.TaskRun",
        "merge keeps the type"
    );
    let (status, _) = rest
        .api(
            "PATCH",
            "/parents/ns/results/r/records/x",
            Some(&json!({"name": "ns/results/r/records/y"})),
        )
        .await;
    assert_eq!(status, 400, "records cannot be renamed");

    // Paging over REST.
    for i in 0..5 {
        rest.api(
            "POST",
            "/parents/ns/results",
            Some(&json!({"name": format!("ns/results/p{i}")})),
        )
        .await;
    }
    let (mut names, mut token) = (Vec::new(), String::new());
    loop {
        let (status, page) = rest.api("GET", &format!("/parents/ns/results?page_size=2&order_by=create_time%20desc&page_token={token}"), None).await;
        assert_eq!(status, 200, "{page}");
        names.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned()),
        );
        match page.get("next_page_token").and_then(Value::as_str) {
            Some(next) => token = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "ns/results/p4",
            "ns/results/p3",
            "ns/results/p2",
            "ns/results/p1",
            "ns/results/p0",
            "ns/results/r"
        ]
    );

    let (status, body) = rest.api("DELETE", "/parents/ns/results/r", None).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = rest
        .api("GET", "/parents/ns/results/r/records/x", None)
        .await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)), "cascade");
    let (status, body) = rest.api("DELETE", "/parents/ns/results/r", None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)));

    let (status, health) = rest.call("GET", "/healthz", None).await;
    assert_eq!((status, health), (200, Value::String("ok".into())));
    let (status, body) = rest.api("GET", "/nowhere", None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)));
}

/// A Record whose data is a 1 MiB JSON document survives a REST round trip intact.
async fn rest_one_mebibyte_record(backend: Backend) {
    let server = TestServer::start(backend);
    let rest = server.rest();
    rest.api(
        "POST",
        "/parents/ns/results",
        Some(&json!({"name": "ns/results/big"})),
    )
    .await;
    let steps: Vec<Value> = (0..2048)
        .map(|i| json!({"name": format!("step-{i}"), "log": "é\"\\x".repeat(40), "n": i}))
        .collect();
    let doc = json!({"kind": "TaskRun", "status": {"steps": steps}});
    let mut bytes = serde_json::to_vec(&doc).unwrap();
    assert!(bytes.len() < 1 << 20);
    // Pad to exactly 1 MiB with a filler field.
    let pad = (1 << 20) - bytes.len() - r#","pad":"""#.len();
    let mut doc = doc;
    doc["pad"] = Value::String("p".repeat(pad));
    bytes = serde_json::to_vec(&doc).unwrap();
    assert_eq!(bytes.len(), 1 << 20);

    let body = json!({"name": "ns/results/big/records/tr", "data": {"type": "tekton.dev/v1.TaskRun", "value": STANDARD.encode(&bytes)}});
    let (status, created) = rest
        .api("POST", "/parents/ns/results/big/records", Some(&body))
        .await;
    assert_eq!(
        status,
        200,
        "{}",
        created.to_string().chars().take(300).collect::<String>()
    );
    let (status, got) = rest
        .api("GET", "/parents/ns/results/big/records/tr", None)
        .await;
    assert_eq!(status, 200);
    let stored = STANDARD
        .decode(got["data"]["value"].as_str().unwrap())
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&stored).unwrap(), doc);
    assert_eq!(got["etag"], created["etag"]);
}

async fn rest_rejects_bad_bodies_and_stores_nothing(backend: Backend) {
    let server = TestServer::start(backend);
    let rest = server.rest();
    for (path, body) in [
        ("/parents/ns/results", b"{not json".to_vec()),
        ("/parents/ns/results", br#"{"name": 5}"#.to_vec()),
        (
            "/parents/ns/results",
            br#"{"name": "ns/results/a", "summary": {"status": "MAYBE"}}"#.to_vec(),
        ),
        (
            "/parents/ns/results",
            br#"{"name": "ns/results/a", "create_time": "yesterday"}"#.to_vec(),
        ),
        // A message is an object, not its fields in order.
        ("/parents/ns/results", br#"["ns/results/a"]"#.to_vec()),
        ("/parents/ns/results", b" []".to_vec()),
    ] {
        let (status, err) = rest.raw("POST", path, body).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["code"], 3);
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("request body is not a valid Result"),
            "{err}"
        );
    }
    rest.api(
        "POST",
        "/parents/ns/results",
        Some(&json!({"name": "ns/results/r"})),
    )
    .await;
    let (status, err) = rest
        .api(
            "POST",
            "/parents/ns/results/r/records",
            Some(&json!({"name": "ns/results/r/records/x", "data": {"value": "%%%"}})),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(err["message"].as_str().unwrap().contains("base64"), "{err}");
    let (status, err) = rest
        .api("POST", "/parents/ns/results/r/records", Some(&json!({"name": "ns/results/r/records/x", "data": {"value": STANDARD.encode(b"{")}})))
        .await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = rest
        .api("GET", "/parents/ns/results?page_size=many", None)
        .await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(3)), "{err}");

    let (_, all) = rest.api("GET", "/parents/-/results", None).await;
    assert_eq!(all["results"].as_array().map(Vec::len), Some(1), "{all}");
    let (_, records) = rest.api("GET", "/parents/-/results/-/records", None).await;
    assert!(records.get("records").is_none(), "{records}");
}

/// What upstream's gateway (protojson, grpc-gateway) reads, this one reads too: field
/// names in lowerCamelCase as well as as in the proto, in bodies and query parameters, and
/// base64 without padding or URL-safe. Nothing is silently dropped.
async fn rest_reads_what_protojson_reads(backend: Backend) {
    let server = TestServer::start(backend);
    let rest = server.rest();
    let (status, created) = rest
        .api(
            "POST",
            "/parents/ns/results",
            Some(&json!({
                "name": "ns/results/camel",
                "summary": {
                    "record": "ns/results/camel/records/a",
                    "type": "tekton.dev/v1.PipelineRun",
                    "startTime": "2026-01-01T00:00:00Z",
                    "endTime": "2026-01-01T00:01:00Z",
                    "status": "SUCCESS"
                }
            })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let (_, got) = rest.api("GET", "/parents/ns/results/camel", None).await;
    assert_eq!(
        got["summary"]["start_time"], "2026-01-01T00:00:00Z",
        "{got}"
    );
    assert_eq!(got["summary"]["end_time"], "2026-01-01T00:01:00Z", "{got}");

    // `???` encodes with a '/' (standard) or a '_' (URL-safe), and needs no padding here.
    let doc = json!({"q": "???"});
    let text = serde_json::to_vec(&doc).unwrap();
    for (record, value) in [
        ("unpadded", STANDARD_NO_PAD.encode(&text)),
        ("url-safe", URL_SAFE_NO_PAD.encode(&text)),
    ] {
        assert!(!value.ends_with('='), "{value}");
        let (status, body) = rest
            .api(
                "POST",
                "/parents/ns/results/camel/records",
                Some(&json!({
                    "name": format!("ns/results/camel/records/{record}"),
                    "data": {"type": "t", "value": value}
                })),
            )
            .await;
        assert_eq!(status, 200, "{record}: {body}");
        let (_, got) = rest
            .api(
                "GET",
                &format!("/parents/ns/results/camel/records/{record}"),
                None,
            )
            .await;
        let stored = STANDARD
            .decode(got["data"]["value"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&stored).unwrap(),
            doc,
            "{record}"
        );
    }

    // Query parameters in lowerCamelCase page as their proto names do.
    let (status, first) = rest
        .api(
            "GET",
            "/parents/ns/results/camel/records?pageSize=1&orderBy=create_time%20desc",
            None,
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["records"][0]["name"],
        "ns/results/camel/records/url-safe"
    );
    let token = first["next_page_token"].as_str().expect("a next page");
    let (status, second) = rest
        .api(
            "GET",
            &format!("/parents/ns/results/camel/records?pageSize=1&orderBy=create_time%20desc&pageToken={token}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        second["records"][0]["name"],
        "ns/results/camel/records/unpadded"
    );
    assert_eq!(
        second["records"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
}

/// A known path asked with a method it does not take answers UNIMPLEMENTED (HTTP 501), as
/// upstream's gateway does; an unknown path NOT_FOUND; nothing is changed either way.
async fn rest_refuses_a_method_a_path_does_not_take(backend: Backend) {
    let server = TestServer::start(backend);
    let rest = server.rest();
    rest.api(
        "POST",
        "/parents/ns/results",
        Some(&json!({"name": "ns/results/r"})),
    )
    .await;
    for (method, path) in [
        ("PUT", "/parents/ns/results/r"),
        ("POST", "/parents/ns/results/r"),
        ("DELETE", "/parents"),
        ("PATCH", "/parents/ns/results/r/records"),
        ("PUT", "/parents/ns/results/r/records/x"),
        ("POST", "/parents/ns/results/r/logs/x"),
        ("OPTIONS", "/parents/ns/results/r/logs/x/step"),
    ] {
        let (status, err) = rest.raw(method, path, b"{}".to_vec()).await;
        assert_eq!(
            (status, err["code"].as_i64()),
            (501, Some(12)),
            "{method} {path}: {err}"
        );
        assert!(
            err["message"].as_str().unwrap().contains("not allowed"),
            "{method} {path}: {err}"
        );
    }
    let (status, err) = rest
        .raw("GET", "/parents/ns/nothing-here", Vec::new())
        .await;
    assert_eq!((status, err["code"].as_i64()), (404, Some(5)), "{err}");
    let (status, got) = rest.api("GET", "/parents/ns/results/r", None).await;
    assert_eq!(
        (status, got["name"].as_str()),
        (200, Some("ns/results/r")),
        "{got}"
    );
}
