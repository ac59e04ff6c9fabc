//! The fake Kubernetes API server through a real kube-rs client: what a controller that
//! watches Tekton runs, applies annotations and a finalizer, and deletes runs relies on.

use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use integration::tekton::{self, API_VERSION, PIPELINE_RUNS, TASK_RUNS};
use integration::FakeKube;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PartialObjectMeta,
    Patch, PatchParams, PostParams, Preconditions, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::{json, Value};

const NS: &str = "ns";
const WATCHER: &str = "results-watcher";
const FINALIZER: &str = "results.tekton.dev/taskrun";
const WAIT: Duration = Duration::from_secs(5);

fn client(fake: &FakeKube) -> Client {
    let url = fake.url().parse().expect("the fake's URL");
    Client::try_from(Config::new(url)).expect("a kube client")
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk("tekton.dev", "v1", kind);
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

fn task_runs(fake: &FakeKube) -> Api<DynamicObject> {
    Api::namespaced_with(client(fake), NS, &resource("TaskRun", TASK_RUNS))
}

fn pipeline_runs(fake: &FakeKube) -> Api<DynamicObject> {
    Api::namespaced_with(client(fake), NS, &resource("PipelineRun", PIPELINE_RUNS))
}

async fn wait_for_open_watches(fake: &FakeKube, count: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while fake.open_watches() != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} open watches, expected {count}",
            fake.open_watches()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An apply body of the results-watcher: its annotations and finalizers, nothing else.
fn watcher_apply(name: &str, annotations: Value, finalizers: &[&str]) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "metadata": {"name": name, "annotations": annotations, "finalizers": finalizers},
    })
}

async fn apply(api: &Api<DynamicObject>, name: &str, body: Value) -> DynamicObject {
    let params = PatchParams::apply(WATCHER).force();
    api.patch(name, &params, &Patch::Apply(body))
        .await
        .expect("apply")
}

async fn next<T: std::fmt::Debug>(stream: &mut (impl Stream<Item = T> + Unpin)) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
}

fn annotations(object: &DynamicObject) -> Vec<(&str, &str)> {
    let map = object.metadata.annotations.iter().flatten();
    map.map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn api_error(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn name(object: &DynamicObject) -> &str {
    object.metadata.name.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn list_pages_with_limit_and_continue_see_every_object_once() {
    let fake = FakeKube::start();
    for name in ["e", "c", "a", "d", "b"] {
        fake.create(tekton::task_run(NS, name, None));
    }
    fake.create(tekton::task_run("other", "z", None));
    let api = task_runs(&fake);
    let (mut seen, mut pages, mut versions) = (Vec::new(), Vec::new(), Vec::new());
    let mut params = ListParams::default().limit(2);
    loop {
        let page = api.list(&params).await.expect("list a page");
        pages.push(page.items.len());
        versions.push(page.metadata.resource_version.clone());
        seen.extend(page.items.iter().map(|o| name(o).to_owned()));
        assert!(page
            .items
            .iter()
            .all(|o| o.types.as_ref().unwrap().kind == "TaskRun"));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, [2, 2, 1]);
    assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");

    let everywhere = Api::<DynamicObject>::all_with(client(&fake), &resource("TaskRun", TASK_RUNS));
    let all = everywhere
        .list(&ListParams::default())
        .await
        .expect("list all namespaces");
    assert_eq!(all.items.len(), 6);
    assert_eq!(all.types.kind, "TaskRunList");
}

#[tokio::test]
async fn create_and_replace_fill_server_fields_and_check_the_resource_version() {
    let fake = FakeKube::start();
    let api = task_runs(&fake);
    let run: DynamicObject = serde_json::from_value(tekton::task_run(NS, "run", None)).unwrap();
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&dry, &run).await.expect("dry run");
    assert!(fake.get(API_VERSION, TASK_RUNS, NS, "run").is_none());

    let created = api
        .create(&PostParams::default(), &run)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    let error = api.create(&PostParams::default(), &run).await.unwrap_err();
    assert_eq!(api_error(error), (409, "AlreadyExists".into()));

    let mut changed = created.clone();
    changed.data["spec"]["timeout"] = "2h0m0s".into();
    let replaced = api
        .replace("run", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_eq!(replaced.metadata.generation, Some(2));
    let error = api
        .replace("run", &PostParams::default(), &changed)
        .await
        .unwrap_err();
    assert_eq!(
        api_error(error),
        (409, "Conflict".into()),
        "the resourceVersion is stale"
    );
}

#[tokio::test]
async fn metadata_only_watcher_works_on_full_objects() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "a", None));
    let resource = resource("TaskRun", TASK_RUNS);
    let api: Api<PartialObjectMeta<DynamicObject>> =
        Api::namespaced_with(client(&fake), NS, &resource);
    let events: Vec<_> = watcher(api, watcher::Config::default())
        .take(3)
        .try_collect()
        .await
        .expect("watch metadata");
    assert!(
        matches!(&events[1], watcher::Event::InitApply(o) if o.metadata.name.as_deref() == Some("a"))
    );
}

#[tokio::test]
async fn watcher_sees_the_initial_objects_then_added_modified_deleted() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "a", None));
    fake.create(tekton::task_run(NS, "b", None));
    let mut events = watcher(task_runs(&fake), watcher::Config::default()).boxed();
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Init
    ));
    let mut initial = Vec::new();
    loop {
        match next(&mut events).await.unwrap() {
            watcher::Event::InitApply(object) => initial.push(name(&object).to_owned()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, ["a", "b"]);

    fake.create(tekton::task_run(NS, "c", None));
    let watcher::Event::Apply(added) = next(&mut events).await.unwrap() else {
        panic!("expected the new run")
    };
    assert_eq!(name(&added), "c");
    fake.update(API_VERSION, TASK_RUNS, NS, "a", |run| {
        tekton::set_running(run, "2026-11-03T10:00:00Z")
    });
    let watcher::Event::Apply(modified) = next(&mut events).await.unwrap() else {
        panic!("expected the started run")
    };
    assert_eq!(name(&modified), "a");
    assert_eq!(
        modified.data["status"]["conditions"][0]["reason"],
        "Running"
    );
    fake.delete(API_VERSION, TASK_RUNS, NS, "b");
    let watcher::Event::Delete(deleted) = next(&mut events).await.unwrap() else {
        panic!("expected the deleted run")
    };
    assert_eq!(name(&deleted), "b");
}

#[tokio::test]
async fn streaming_list_watcher_ends_the_initial_objects_with_a_bookmark() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "a", None));
    let config = watcher::Config::default().streaming_lists();
    let events: Vec<_> = watcher(task_runs(&fake), config)
        .take(3)
        .try_collect()
        .await
        .expect("watch");
    assert!(matches!(events[0], watcher::Event::Init));
    assert!(matches!(&events[1], watcher::Event::InitApply(o) if name(o) == "a"));
    assert!(matches!(events[2], watcher::Event::InitDone));
}

#[tokio::test]
async fn apply_sets_annotations_and_finalizer_and_reapply_removes_only_what_it_dropped() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "run", None));
    fake.update(API_VERSION, TASK_RUNS, NS, "run", |run| {
        run["metadata"]["annotations"] = json!({"tekton.dev/controller": "x", "shared": "s"});
    });
    let api = task_runs(&fake);
    let result = "ns/results/5d2e";
    let record = "ns/results/5d2e/records/9f1c";
    let body = json!({
        "results.tekton.dev/result": result,
        "results.tekton.dev/record": record,
        "shared": "s",
    });
    let applied = apply(&api, "run", watcher_apply("run", body, &[FINALIZER])).await;
    assert_eq!(
        annotations(&applied),
        [
            ("results.tekton.dev/record", record),
            ("results.tekton.dev/result", result),
            ("shared", "s"),
            ("tekton.dev/controller", "x"),
        ]
    );
    assert_eq!(
        applied.metadata.finalizers,
        Some(vec![FINALIZER.to_owned()])
    );
    let managed = applied.metadata.managed_fields.clone().unwrap_or_default();
    let mine = managed
        .iter()
        .find(|e| e.manager.as_deref() == Some(WATCHER))
        .expect("a managedFields entry of the watcher");
    assert_eq!(mine.operation.as_deref(), Some("Apply"));
    assert_eq!(mine.fields_type.as_deref(), Some("FieldsV1"));
    let fields = &mine.fields_v1.as_ref().expect("fieldsV1").0;
    assert!(fields["f:metadata"]["f:annotations"]["f:results.tekton.dev/record"].is_object());
    assert!(fields["f:metadata"]["f:finalizers"][format!("v:\"{FINALIZER}\"")].is_object());

    let body = json!({"results.tekton.dev/result": result});
    let reapplied = apply(
        &api,
        "run",
        watcher_apply("run", body.clone(), &[FINALIZER]),
    )
    .await;
    assert_eq!(
        annotations(&reapplied),
        [
            ("results.tekton.dev/result", result),
            ("shared", "s"),
            ("tekton.dev/controller", "x"),
        ]
    );
    assert_eq!(
        reapplied.metadata.finalizers,
        Some(vec![FINALIZER.to_owned()])
    );
    let released = apply(&api, "run", watcher_apply("run", body, &[])).await;
    assert_eq!(released.metadata.finalizers, None);

    let write = fake.writes().pop().expect("the apply was logged");
    assert_eq!(write.method, "PATCH");
    assert_eq!(write.path, "/apis/tekton.dev/v1/namespaces/ns/taskruns/run");
    assert_eq!(
        write.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(write.field_manager.as_deref(), Some(WATCHER));
    assert!(
        write.query.split('&').any(|p| p == "force=true"),
        "{}",
        write.query
    );
    assert_eq!(write.status, 200);
}

#[tokio::test]
async fn apply_without_force_conflicts_with_another_managers_value() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "run", None));
    fake.update(API_VERSION, TASK_RUNS, NS, "run", |run| {
        run["metadata"]["annotations"] = json!({"results.tekton.dev/log": "theirs"});
    });
    let api = task_runs(&fake);
    let body = watcher_apply("run", json!({"results.tekton.dev/log": "mine"}), &[]);
    let error = api
        .patch("run", &PatchParams::apply(WATCHER), &Patch::Apply(&body))
        .await
        .expect_err("a conflict");
    assert_eq!(api_error(error), (409, "Conflict".into()));
    let unchanged = fake.get(API_VERSION, TASK_RUNS, NS, "run").unwrap();
    assert_eq!(
        unchanged["metadata"]["annotations"]["results.tekton.dev/log"],
        "theirs"
    );

    let forced = apply(&api, "run", body).await;
    assert_eq!(annotations(&forced), [("results.tekton.dev/log", "mine")]);
    let owners: Vec<_> = forced
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| {
            let fields = &e.fields_v1.as_ref().unwrap().0;
            fields["f:metadata"]["f:annotations"]["f:results.tekton.dev/log"].is_object()
        })
        .map(|e| e.manager.clone().unwrap())
        .collect();
    assert_eq!(owners, [WATCHER]);
}

#[tokio::test]
async fn delete_with_a_finalizer_waits_until_an_apply_removes_it() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "run", None));
    let api = task_runs(&fake);
    let held = apply(&api, "run", watcher_apply("run", json!({}), &[FINALIZER])).await;
    let rv = held.metadata.resource_version.clone().unwrap();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();

    let deleting = api
        .delete("run", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("the object, still there");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    let WatchEvent::Modified(modified) = next(&mut events).await.unwrap() else {
        panic!("expected MODIFIED")
    };
    assert!(modified.metadata.deletion_timestamp.is_some());
    let again = api.delete("run", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        again.left().unwrap().metadata.resource_version,
        modified.metadata.resource_version
    );
    assert!(fake.get(API_VERSION, TASK_RUNS, NS, "run").is_some());

    apply(&api, "run", watcher_apply("run", json!({}), &[])).await;
    let WatchEvent::Deleted(deleted) = next(&mut events).await.unwrap() else {
        panic!("expected DELETED")
    };
    assert_eq!(name(&deleted), "run");
    assert_eq!(api_error(api.get("run").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn delete_with_a_uid_precondition_that_does_not_match_conflicts() {
    let fake = FakeKube::start();
    let created = fake.create(tekton::task_run(NS, "run", None));
    let api = task_runs(&fake);
    let precondition = |uid: &str| DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let error = api
        .delete("run", &precondition("not-the-uid"))
        .await
        .unwrap_err();
    assert_eq!(api_error(error), (409, "Conflict".into()));
    assert!(fake.get(API_VERSION, TASK_RUNS, NS, "run").is_some());

    let uid = created["metadata"]["uid"].as_str().unwrap();
    api.delete("run", &precondition(uid)).await.expect("delete");
    assert!(fake.get(API_VERSION, TASK_RUNS, NS, "run").is_none());
}

#[tokio::test]
async fn deleting_a_pipeline_run_collects_its_task_runs_honouring_finalizers() {
    let fake = FakeKube::start();
    let pr = fake.create(tekton::pipeline_run(NS, "pr"));
    fake.create(tekton::task_run(NS, "pr-build", Some(&pr)));
    fake.create(tekton::task_run(NS, "pr-test", Some(&pr)));
    let other = fake.create(tekton::pipeline_run(NS, "other"));
    fake.create(tekton::task_run(NS, "other-build", Some(&other)));
    apply(
        &task_runs(&fake),
        "pr-test",
        watcher_apply("pr-test", json!({}), &[FINALIZER]),
    )
    .await;

    pipeline_runs(&fake)
        .delete("pr", &DeleteParams::default())
        .await
        .expect("delete the PipelineRun");
    assert!(fake.get(API_VERSION, PIPELINE_RUNS, NS, "pr").is_none());
    assert!(fake.get(API_VERSION, TASK_RUNS, NS, "pr-build").is_none());
    let held = fake
        .get(API_VERSION, TASK_RUNS, NS, "pr-test")
        .expect("held by its finalizer");
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    assert!(fake
        .get(API_VERSION, TASK_RUNS, NS, "other-build")
        .is_some());

    let api = task_runs(&fake);
    apply(&api, "pr-test", watcher_apply("pr-test", json!({}), &[])).await;
    fake.wait_for(API_VERSION, TASK_RUNS, NS, "pr-test", WAIT, |o| o.is_none())
        .await;
}

#[tokio::test]
async fn orphan_propagation_keeps_task_runs_without_their_owner() {
    let fake = FakeKube::start();
    let pr = fake.create(tekton::pipeline_run(NS, "pr"));
    fake.create(tekton::task_run(NS, "pr-build", Some(&pr)));
    pipeline_runs(&fake)
        .delete("pr", &DeleteParams::orphan())
        .await
        .expect("delete the PipelineRun");
    let orphan = fake
        .get(API_VERSION, TASK_RUNS, NS, "pr-build")
        .expect("orphaned");
    assert!(orphan["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn no_op_merge_patch_neither_bumps_the_resource_version_nor_emits_an_event() {
    let fake = FakeKube::start();
    let mut run = tekton::task_run(NS, "run", None);
    run["metadata"]["labels"] = json!({"app": "demo"});
    let created = fake.create(run);
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = task_runs(&fake);
    let params = WatchParams::default().disable_bookmarks();
    let mut events = api.watch(&params, &rv).await.unwrap().boxed();

    let same = json!({"metadata": {"labels": {"app": "demo"}}});
    let patched = api
        .patch("run", &PatchParams::default(), &Patch::Merge(&same))
        .await
        .expect("no-op patch");
    assert_eq!(
        patched.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    assert_eq!(fake.resource_version().to_string(), rv);

    let change = json!({"metadata": {"labels": {"tier": "ci"}}});
    let changed = api
        .patch("run", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .expect("patch");
    let WatchEvent::Modified(event) = next(&mut events).await.unwrap() else {
        panic!("expected MODIFIED")
    };
    assert_eq!(
        event.metadata.resource_version,
        changed.metadata.resource_version
    );
    assert_eq!(event.metadata.labels.unwrap()["tier"], "ci");
}

#[tokio::test]
async fn missing_objects_and_unknown_paths_are_404_statuses() {
    let fake = FakeKube::start();
    let error = task_runs(&fake).get("missing").await.unwrap_err();
    assert_eq!(api_error(error), (404, "NotFound".into()));
    let response = reqwest::get(format!("{}/nowhere", fake.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "NotFound");
}

#[tokio::test]
async fn json_patch_works_like_the_finalizer_helper_and_strategic_merge_is_refused() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "run", None));
    let api = task_runs(&fake);
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
    ]))
    .unwrap();
    let patched = api
        .patch(
            "run",
            &PatchParams::default(),
            &Patch::<()>::Json(add.clone()),
        )
        .await
        .expect("JSON patch");
    assert_eq!(
        patched.metadata.finalizers,
        Some(vec![FINALIZER.to_owned()])
    );
    let error = api
        .patch("run", &PatchParams::default(), &Patch::<()>::Json(add))
        .await
        .expect_err("the test op fails now");
    assert_eq!(api_error(error).0, 422);

    let strategic = json!({"metadata": {"labels": {"a": "b"}}});
    let error = api
        .patch(
            "run",
            &PatchParams::default(),
            &Patch::Strategic(&strategic),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(error), (415, "UnsupportedMediaType".into()));
}

#[tokio::test]
async fn label_selected_watch_sees_objects_enter_and_leave_the_selection() {
    let fake = FakeKube::start();
    fake.create(tekton::task_run(NS, "run", None));
    let config = watcher::Config::default().labels("results.tekton.dev/done=true");
    let mut events = watcher(task_runs(&fake), config).boxed();
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Init
    ));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::InitDone
    ));

    fake.update(API_VERSION, TASK_RUNS, NS, "run", |run| {
        run["metadata"]["labels"] = json!({"results.tekton.dev/done": "true"});
    });
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Apply(_)
    ));
    fake.update(API_VERSION, TASK_RUNS, NS, "run", |run| {
        run["metadata"]["labels"] = json!({});
    });
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Delete(_)
    ));
}

#[tokio::test]
async fn watches_resume_from_a_resource_version_and_expire_after_compaction() {
    let fake = FakeKube::start();
    let api = task_runs(&fake);
    fake.create(tekton::task_run(NS, "a", None));
    let since = fake.resource_version().to_string();
    fake.create(tekton::task_run(NS, "b", None));
    fake.delete(API_VERSION, TASK_RUNS, NS, "a");
    let params = WatchParams::default().disable_bookmarks();
    let replayed: Vec<_> = api
        .watch(&params, &since)
        .await
        .unwrap()
        .take(2)
        .try_collect()
        .await
        .unwrap();
    assert!(matches!(&replayed[0], WatchEvent::Added(o) if name(o) == "b"));
    assert!(matches!(&replayed[1], WatchEvent::Deleted(o) if name(o) == "a"));

    fake.compact();
    let mut expired = api.watch(&params, &since).await.unwrap().boxed();
    let WatchEvent::Error(status) = next(&mut expired).await.unwrap() else {
        panic!("expected an ERROR event")
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    assert!(tokio::time::timeout(WAIT, expired.next())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn watches_send_bookmarks_and_end_at_their_timeout() {
    let fake = FakeKube::start();
    fake.set_bookmark_interval(Duration::from_millis(100));
    let api = task_runs(&fake);
    let params = WatchParams::default().timeout(1);
    let events: Vec<_> =
        tokio::time::timeout(WAIT, api.watch(&params, "0").await.unwrap().collect())
            .await
            .expect("the watch ends after its timeout");
    assert!(events.len() >= 3, "{} events", events.len());
    assert!(events
        .iter()
        .all(|e| matches!(e, Ok(WatchEvent::Bookmark(b)) if b.types.kind == "TaskRun")));
}

#[tokio::test]
async fn disconnected_and_ended_watches_leave_nothing_behind() {
    let fake = FakeKube::start();
    fake.set_bookmark_interval(Duration::from_millis(100));
    let api = task_runs(&fake);
    let params = WatchParams::default().disable_bookmarks();
    let stream = api.watch(&params, "0").await.unwrap();
    wait_for_open_watches(&fake, 1).await;
    drop(stream);
    wait_for_open_watches(&fake, 0).await;

    // The watcher resumes from its last resourceVersion when the server ends its watch.
    let mut events = watcher(api, watcher::Config::default()).boxed();
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Init
    ));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::InitDone
    ));
    fake.create(tekton::task_run(NS, "before", None));
    assert!(
        matches!(next(&mut events).await.unwrap(), watcher::Event::Apply(o) if name(&o) == "before")
    );
    assert_eq!(fake.open_watches(), 1);
    fake.end_watches();
    fake.create(tekton::task_run(NS, "after", None));
    let watcher::Event::Apply(added) = next(&mut events).await.unwrap() else {
        panic!("expected the run created while the watch was ended")
    };
    assert_eq!(name(&added), "after");
}

/// TokenReview and SubjectAccessReview as the results-api `kubernetes` auth mode sends them
/// through kube-rs: typed, cluster-scoped creates.
mod reviews {
    use std::collections::BTreeMap;

    use integration::{AccessRule, FakeKube, ReviewedUser, Subject};
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
    };
    use kube::api::{Api, PostParams};
    use kube::{Client, Config};

    use super::{client, WAIT};

    const RESULTS: &str = "results.tekton.dev";

    async fn review_token(client: Client, token: &str) -> kube::Result<TokenReviewStatus> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.into()),
                audiences: Some(vec!["results".into()]),
            },
            ..TokenReview::default()
        };
        let api = Api::<TokenReview>::all(client);
        let answer = api.create(&PostParams::default(), &review).await?;
        Ok(answer.status.expect("a TokenReview status"))
    }

    /// Who asks in an access review: a user name and groups.
    struct Asker<'a>(&'a str, &'a [&'a str]);

    /// What is asked: namespace ("" = cluster-wide), verb, group, resource, name.
    struct Asked<'a>(&'a str, &'a str, &'a str, &'a str, &'a str);

    fn access_review(Asker(user, groups): Asker<'_>, asked: Asked<'_>) -> SubjectAccessReview {
        let Asked(namespace, verb, group, resource, name) = asked;
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: text(user),
                uid: text(&format!("uid-{user}")),
                groups: Some(groups.iter().map(|&g| g.to_owned()).collect()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: text(namespace),
                    verb: text(verb),
                    group: text(group),
                    resource: text(resource),
                    name: text(name),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        }
    }

    async fn try_review_access(
        client: Client,
        review: &SubjectAccessReview,
    ) -> kube::Result<SubjectAccessReviewStatus> {
        let api = Api::<SubjectAccessReview>::all(client);
        let answer = api.create(&PostParams::default(), review).await?;
        Ok(answer.status.expect("a SubjectAccessReview status"))
    }

    async fn review_access(fake: &FakeKube, asker: Asker<'_>, asked: Asked<'_>) -> bool {
        let review = access_review(asker, asked);
        let status = try_review_access(client(fake), &review)
            .await
            .expect("a SubjectAccessReview");
        assert_eq!(status.denied, None, "RBAC never denies outright");
        status.allowed
    }

    /// Whether `user` (in no group) may `verb` results resources in `namespace`.
    async fn may(fake: &FakeKube, user: &str, namespace: &str, verb: &str) -> bool {
        let asked = Asked(namespace, verb, RESULTS, "records", "");
        review_access(fake, Asker(user, &[]), asked).await
    }

    fn user(name: &str) -> Subject {
        Subject::User(name.into())
    }

    fn code(error: kube::Error) -> (u16, String) {
        match error {
            kube::Error::Api(status) => (status.code, status.reason.clone()),
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn token_reviews_authenticate_registered_tokens_only() {
        let fake = FakeKube::start();
        let mut alice = ReviewedUser::named("alice", &["team-a", "system:authenticated"]);
        alice.extra = BTreeMap::from([("scopes".into(), vec!["view".into()])]);
        fake.add_token("alice-token", alice);

        let status = review_token(client(&fake), "alice-token")
            .await
            .expect("a review");
        assert_eq!(status.authenticated, Some(true));
        assert_eq!(status.error, None);
        assert_eq!(status.audiences, Some(vec!["results".into()]));
        let user = status.user.expect("the user");
        assert_eq!(user.username.as_deref(), Some("alice"));
        assert_eq!(user.uid.as_deref(), Some("uid-alice"));
        assert_eq!(
            user.groups,
            Some(vec!["team-a".into(), "system:authenticated".into()])
        );
        assert_eq!(user.extra.unwrap()["scopes"], ["view"]);

        let status = review_token(client(&fake), "guessed")
            .await
            .expect("unknown tokens are reviewed too, not refused");
        assert!(!status.authenticated.unwrap_or(false));
        assert_eq!(status.error.as_deref(), Some("invalid bearer token"));
        assert_eq!(status.user.and_then(|u| u.username), None);

        fake.remove_token("alice-token");
        let status = review_token(client(&fake), "alice-token").await.unwrap();
        assert!(
            !status.authenticated.unwrap_or(false),
            "removed tokens fail"
        );

        let reviewed: Vec<_> = fake
            .token_reviews()
            .iter()
            .map(|r| r["spec"].clone())
            .collect();
        let tokens: Vec<_> = reviewed
            .iter()
            .map(|s| s["token"].as_str().unwrap())
            .collect();
        assert_eq!(tokens, ["alice-token", "guessed", "alice-token"]);
        assert_eq!(reviewed[0]["audiences"], serde_json::json!(["results"]));
        assert!(fake.writes().is_empty(), "reviews are not writes");
    }

    #[tokio::test]
    async fn namespaced_rules_allow_only_their_namespaces_and_verbs() {
        let fake = FakeKube::start();
        fake.allow(AccessRule::results(
            user("alice"),
            Some(&["a", "b"]),
            &["get", "list"],
        ));
        assert!(may(&fake, "alice", "a", "get").await);
        assert!(may(&fake, "alice", "b", "list").await);
        assert!(!may(&fake, "alice", "c", "get").await, "other namespace");
        assert!(!may(&fake, "alice", "a", "delete").await, "other verb");
        assert!(!may(&fake, "bob", "a", "get").await, "other user");
        let taskruns = Asked("a", "get", "tekton.dev", "taskruns", "");
        assert!(
            !review_access(&fake, Asker("alice", &[]), taskruns).await,
            "other group and resource"
        );
        for resource in ["results", "records", "logs"] {
            let asked = Asked("a", "get", RESULTS, resource, "");
            assert!(review_access(&fake, Asker("alice", &[]), asked).await);
        }

        fake.revoke_all();
        assert!(!may(&fake, "alice", "a", "get").await, "rules are gone");
    }

    #[tokio::test]
    async fn cluster_wide_requests_need_an_all_namespaces_rule() {
        let fake = FakeKube::start();
        fake.allow(AccessRule::results(user("alice"), Some(&["a"]), &["list"]));
        assert!(may(&fake, "alice", "a", "list").await);
        assert!(
            !may(&fake, "alice", "", "list").await,
            "a list across all namespaces is not granted by namespaced rules"
        );

        fake.allow(AccessRule::results(user("alice"), None, &["list"]));
        assert!(may(&fake, "alice", "", "list").await);
        assert!(may(&fake, "alice", "elsewhere", "list").await);
    }

    #[tokio::test]
    async fn group_subjects_and_wildcard_verbs() {
        let fake = FakeKube::start();
        fake.allow(AccessRule::results(
            Subject::Group("team-a".into()),
            Some(&["a"]),
            &["*"],
        ));
        let asked = || Asked("a", "delete", RESULTS, "results", "r");
        assert!(review_access(&fake, Asker("carol", &["team-a"]), asked()).await);
        assert!(!review_access(&fake, Asker("carol", &["team-b"]), asked()).await);
        assert!(
            !review_access(&fake, Asker("team-a", &[]), asked()).await,
            "a group rule does not match a user of that name"
        );
        let groups_only = Asked("a", "update", RESULTS, "records", "");
        assert!(
            review_access(&fake, Asker("", &["team-a"]), groups_only).await,
            "reviews may name groups only"
        );
    }

    #[tokio::test]
    async fn impersonation_rules_are_limited_to_their_names() {
        let fake = FakeKube::start();
        let proxy = || user("system:serviceaccount:tekton:proxy");
        fake.allow(AccessRule::impersonate(proxy(), "users", &["alice"]));
        fake.allow(AccessRule::impersonate(proxy(), "groups", &["team-a"]));
        fake.allow(AccessRule::impersonate(proxy(), "uids", &[]));
        fake.allow(AccessRule::impersonate(
            proxy(),
            "userextras/scopes",
            &["view"],
        ));
        let asker = || Asker("system:serviceaccount:tekton:proxy", &[]);
        let impersonate = |group, resource, name| Asked("", "impersonate", group, resource, name);

        assert!(review_access(&fake, asker(), impersonate("", "users", "alice")).await);
        assert!(!review_access(&fake, asker(), impersonate("", "users", "bob")).await);
        assert!(review_access(&fake, asker(), impersonate("", "groups", "team-a")).await);
        assert!(!review_access(&fake, asker(), impersonate("", "groups", "admins")).await);
        let k8s_auth = "authentication.k8s.io";
        assert!(review_access(&fake, asker(), impersonate(k8s_auth, "uids", "any-uid")).await);
        assert!(
            !review_access(&fake, asker(), impersonate("", "uids", "any-uid")).await,
            "uids are in authentication.k8s.io"
        );
        assert!(
            !review_access(
                &fake,
                Asker("alice", &[]),
                impersonate("", "users", "alice")
            )
            .await,
            "only the subject of the rule may impersonate"
        );

        let mut extra = access_review(asker(), impersonate(k8s_auth, "userextras", "view"));
        let attributes = extra.spec.resource_attributes.as_mut().unwrap();
        attributes.subresource = Some("scopes".into());
        let status = try_review_access(client(&fake), &extra).await.unwrap();
        assert!(
            status.allowed,
            "userextras/<key> rules match the key subresource"
        );
        assert!(status
            .reason
            .unwrap()
            .starts_with("RBAC: allowed by fake rule #3"));
        extra.spec.resource_attributes.as_mut().unwrap().name = Some("admin".into());
        let status = try_review_access(client(&fake), &extra).await.unwrap();
        assert!(!status.allowed);
    }

    #[tokio::test]
    async fn access_reviews_are_recorded_in_order() {
        let fake = FakeKube::start();
        assert!(!may(&fake, "alice", "a", "get").await);
        let asked = Asked("b", "list", RESULTS, "results", "");
        assert!(!review_access(&fake, Asker("bob", &["team"]), asked).await);

        let reviews = fake.access_reviews();
        assert_eq!(reviews.len(), 2);
        assert_eq!(reviews[0]["kind"], "SubjectAccessReview");
        assert_eq!(reviews[0]["spec"]["user"], "alice");
        assert_eq!(reviews[0]["spec"]["uid"], "uid-alice");
        assert_eq!(
            reviews[0]["spec"]["resourceAttributes"],
            serde_json::json!({"namespace": "a", "verb": "get", "group": RESULTS, "resource": "records"})
        );
        assert_eq!(reviews[1]["spec"]["groups"], serde_json::json!(["team"]));
        assert!(fake.token_reviews().is_empty());
        assert!(fake.writes().is_empty(), "reviews are not writes");
    }

    #[tokio::test]
    async fn failing_reviews_surface_as_api_errors_until_cleared() {
        let fake = FakeKube::start();
        fake.add_token("t", ReviewedUser::named("alice", &[]));
        fake.allow(AccessRule::results(user("alice"), None, &["get"]));
        fake.fail_reviews(Some(500));
        let error = review_token(client(&fake), "t").await.unwrap_err();
        assert_eq!(code(error), (500, "InternalError".into()));
        let review = access_review(
            Asker("alice", &[]),
            Asked("a", "get", RESULTS, "records", ""),
        );
        let error = try_review_access(client(&fake), &review).await.unwrap_err();
        assert_eq!(code(error), (500, "InternalError".into()));

        // 503 is retried by kube-rs's default client; without retries it surfaces at once.
        fake.fail_reviews(Some(503));
        let mut config = Config::new(fake.url().parse().unwrap());
        config.default_retry = false;
        let no_retry = Client::try_from(config).unwrap();
        let error = review_token(no_retry, "t").await.unwrap_err();
        assert_eq!(code(error), (503, "ServiceUnavailable".into()));

        fake.fail_reviews(None);
        assert_eq!(
            review_token(client(&fake), "t")
                .await
                .unwrap()
                .authenticated,
            Some(true)
        );
        assert!(
            try_review_access(client(&fake), &review)
                .await
                .unwrap()
                .allowed
        );
        assert_eq!(
            fake.token_reviews().len(),
            3,
            "failed reviews are recorded too"
        );
        assert_eq!(fake.access_reviews().len(), 2);
    }

    #[tokio::test]
    async fn default_kube_clients_retry_a_503_until_the_reviews_recover() {
        let fake = FakeKube::start();
        fake.add_token("t", ReviewedUser::named("alice", &[]));
        fake.fail_reviews(Some(503));
        let review = tokio::spawn(review_token(client(&fake), "t"));
        let deadline = tokio::time::Instant::now() + WAIT;
        while fake.token_reviews().len() < 3 {
            assert!(tokio::time::Instant::now() < deadline, "kube-rs retries");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        fake.fail_reviews(None);
        let status = tokio::time::timeout(WAIT, review).await.expect("in time");
        assert_eq!(status.unwrap().unwrap().authenticated, Some(true));
    }
}

fn pods(fake: &FakeKube) -> Api<k8s_openapi::api::core::v1::Pod> {
    Api::namespaced(client(fake), NS)
}

fn log_params(container: Option<&str>, limit_bytes: Option<i64>) -> kube::api::LogParams {
    kube::api::LogParams {
        container: container.map(str::to_owned),
        limit_bytes,
        ..Default::default()
    }
}

/// The code of a failed log request, and its message.
fn log_error(outcome: kube::Result<String>) -> (u16, String) {
    match outcome {
        Err(kube::Error::Api(status)) => (status.code, status.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn pod_logs_are_served_per_container_with_the_apiservers_errors() {
    let fake = FakeKube::start();
    fake.set_pod_log(NS, "build-pod", "step-build", "compiling\nlinking\n");
    fake.set_pod_log(NS, "build-pod", "step-test", String::from("ok 1\nok 2\n"));
    fake.set_pod_log(NS, "solo-pod", "step-only", "alone\n");
    let pods = pods(&fake);

    let log = async |pod: &str, container: Option<&str>, limit: Option<i64>| {
        pods.logs(pod, &log_params(container, limit)).await
    };
    let build = log("build-pod", Some("step-build"), None).await;
    assert_eq!(build.unwrap(), "compiling\nlinking\n");
    let test = log("build-pod", Some("step-test"), None).await;
    assert_eq!(test.unwrap(), "ok 1\nok 2\n");
    // One container: it need not be named.
    assert_eq!(log("solo-pod", None, None).await.unwrap(), "alone\n");
    // limitBytes cuts; follow ends where the log of a terminated container does.
    let cut = log("build-pod", Some("step-build"), Some(4)).await;
    assert_eq!(cut.unwrap(), "comp");
    let mut follow = log_params(Some("step-test"), None);
    follow.follow = true;
    assert_eq!(
        pods.logs("build-pod", &follow).await.unwrap(),
        "ok 1\nok 2\n"
    );

    let (code, message) = log_error(
        pods.logs("gone-pod", &log_params(Some("step-build"), None))
            .await,
    );
    assert_eq!(code, 404, "{message}");
    assert!(message.contains("gone-pod"), "{message}");
    let (code, message) = log_error(
        pods.logs("build-pod", &log_params(Some("step-nope"), None))
            .await,
    );
    assert_eq!(code, 400);
    assert_eq!(
        message,
        "container step-nope is not valid for pod build-pod"
    );
    let (code, message) = log_error(pods.logs("build-pod", &log_params(None, None)).await);
    assert_eq!(code, 400);
    assert!(message.contains("step-build step-test"), "{message}");
    let (code, _) = log_error(
        pods.logs("build-pod", &log_params(Some("step-build"), Some(0)))
            .await,
    );
    assert_eq!(code, 400, "limitBytes must be positive");
    let mut tail = log_params(Some("step-build"), None);
    tail.tail_lines = Some(1);
    let (code, message) = log_error(pods.logs("build-pod", &tail).await);
    assert_eq!(code, 400, "not modelled rather than ignored");
    assert!(message.contains("tailLines"), "{message}");

    fake.remove_pod_logs(NS, "solo-pod");
    let (code, _) = log_error(pods.logs("solo-pod", &log_params(None, None)).await);
    assert_eq!(code, 404);
    fake.fail_pod_logs(Some(500));
    let (code, _) = log_error(
        pods.logs("build-pod", &log_params(Some("step-build"), None))
            .await,
    );
    assert_eq!(code, 500);
    fake.fail_pod_logs(None);
    assert!(pods
        .logs("build-pod", &log_params(Some("step-build"), None))
        .await
        .is_ok());

    let requests = fake.pod_log_requests();
    assert_eq!(requests[0].pod, "build-pod");
    // kube-rs leaves an empty pair first: `log?&container=…`.
    assert_eq!(
        requests[0].query.trim_start_matches('&'),
        "container=step-build"
    );
    assert_eq!(requests[0].status, 200);
    assert!(requests
        .iter()
        .any(|r| r.query.ends_with("container=step-build&limitBytes=4")));
    assert!(requests
        .iter()
        .any(|r| r.pod == "gone-pod" && r.status == 404));
}

#[tokio::test]
async fn a_generated_log_is_streamed_in_chunks_as_its_generator_makes_it() {
    use futures::AsyncReadExt as _;
    use integration::fake_kube::GeneratedLog;

    const SIZE: u64 = 5 << 20;
    let fake = FakeKube::start();
    fake.set_pod_log_generated(NS, "big-pod", "step-build", SIZE);
    let pods = pods(&fake);
    let mut reader = pods
        .log_stream("big-pod", &log_params(Some("step-build"), None))
        .await
        .unwrap();
    // Compared a piece at a time: neither side holds the log whole.
    let mut expected = GeneratedLog::new(SIZE).chunks(100_000);
    let mut read = 0u64;
    let mut buffer = vec![0u8; 100_000];
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            match reader.read(&mut buffer[filled..]).await.unwrap() {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        let piece = expected.next().expect("no more bytes than generated");
        assert_eq!(&buffer[..filled], &piece[..], "bytes from {read}");
        read += filled as u64;
    }
    assert_eq!(read, SIZE);
    assert!(expected.next().is_none());
    let params = log_params(Some("step-build"), Some(112));
    let head = pods.logs("big-pod", &params).await.unwrap();
    assert_eq!(head, GeneratedLog::line(0) + &GeneratedLog::line(1));
}

#[tokio::test]
async fn a_broken_log_connection_is_an_error_not_the_end_of_the_log() {
    use futures::AsyncReadExt as _;

    let fake = FakeKube::start();
    fake.set_pod_log_broken(NS, "flaky-pod", "step-build", vec![b'x'; 100_000]);
    let params = log_params(Some("step-build"), None);
    let mut reader = pods(&fake).log_stream("flaky-pod", &params).await.unwrap();
    let mut read = Vec::new();
    let error = reader
        .read_to_end(&mut read)
        .await
        .expect_err("a broken body");
    assert!(read.len() <= 100_000, "{} bytes", read.len());
    assert!(!error.to_string().is_empty());
}
