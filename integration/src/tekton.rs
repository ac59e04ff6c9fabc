//! `tekton.dev/v1` PipelineRuns and TaskRuns as the Tekton controller writes them: builders
//! for new runs, and setters for the status the controller reports while they run and when
//! they finish. Field names follow the Tekton v1 API (`status.conditions[type=Succeeded]`,
//! `childReferences`, the `tekton.dev/*` labels, owner references to the PipelineRun).

use serde_json::{json, Map, Value};

/// The apiVersion of Tekton runs.
pub const API_VERSION: &str = "tekton.dev/v1";
/// The plural of PipelineRun.
pub const PIPELINE_RUNS: &str = "pipelineruns";
/// The plural of TaskRun.
pub const TASK_RUNS: &str = "taskruns";
/// The Pipeline every fixture PipelineRun refers to.
pub const PIPELINE: &str = "build-pipeline";
/// The Task every fixture TaskRun refers to.
pub const TASK: &str = "build";

/// A PipelineRun as submitted: a reference to [`PIPELINE`], no status yet.
pub fn pipeline_run(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "pipelineRef": {"name": PIPELINE},
            "params": [{"name": "revision", "value": "main"}],
            "taskRunTemplate": {"serviceAccountName": "default"},
            "timeouts": {"pipeline": "1h0m0s"},
        },
    })
}

/// A TaskRun of [`TASK`], no status yet. With `owner` (a PipelineRun that was created, so it
/// has a uid) it is that run's child as the controller creates it: the PipelineRun's labels
/// plus `tekton.dev/pipelineRun`, `…/pipelineRunUID`, `…/pipelineTask` (the name without the
/// `<pipelinerun>-` prefix) and `…/memberOf`, and a controller owner reference.
pub fn task_run(namespace: &str, name: &str, owner: Option<&Value>) -> Value {
    let mut run = json!({
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "serviceAccountName": "default",
            "taskRef": {"kind": "Task", "name": TASK},
            "timeout": "1h0m0s",
        },
    });
    let Some(owner) = owner else {
        return run;
    };
    let owner_name = owner["metadata"]["name"].as_str().unwrap_or_default();
    let uid = owner["metadata"]["uid"]
        .as_str()
        .expect("create the PipelineRun first: the owner reference needs its uid");
    let pipeline_task = name.strip_prefix(&format!("{owner_name}-")).unwrap_or(name);
    let pipeline = owner["metadata"]["labels"]["tekton.dev/pipeline"]
        .as_str()
        .or_else(|| owner["spec"]["pipelineRef"]["name"].as_str())
        .unwrap_or(owner_name);
    let mut labels = owner["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (key, value) in [
        ("tekton.dev/pipeline", pipeline),
        ("tekton.dev/pipelineRun", owner_name),
        ("tekton.dev/pipelineRunUID", uid),
        ("tekton.dev/pipelineTask", pipeline_task),
        ("tekton.dev/memberOf", "tasks"),
    ] {
        labels.insert(key.into(), value.into());
    }
    run["metadata"]["labels"] = Value::Object(labels);
    run["metadata"]["ownerReferences"] = json!([{
        "apiVersion": API_VERSION,
        "kind": "PipelineRun",
        "name": owner_name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    run
}

/// Marks the run started at `start` (RFC 3339), as the controller's first reconcile does:
/// `Succeeded=Unknown/Running`, `startTime`, the resolved spec (`taskSpec`/`pipelineSpec`),
/// for a TaskRun its pod and running step, and the `tekton.dev/task` or `…/pipeline` label.
pub fn set_running(run: &mut Value, start: &str) {
    let name = run["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if is_task_run(run) {
        labels(run).insert("tekton.dev/task".into(), TASK.into());
        let status = status(run);
        status.insert("podName".into(), format!("{name}-pod").into());
        status.insert("taskSpec".into(), task_spec());
        let step = json!({
            "name": TASK,
            "container": format!("step-{TASK}"),
            "imageID": IMAGE_ID,
            "running": {"startedAt": start},
        });
        status.insert("steps".into(), json!([step]));
        set_condition(
            run,
            "Unknown",
            "Running",
            "Not all Steps in the Task have finished executing",
            start,
        );
    } else {
        labels(run)
            .entry("tekton.dev/pipeline")
            .or_insert_with(|| PIPELINE.into());
        let incomplete = pipeline_tasks(run).len().max(1);
        let message = format!(
            "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: {incomplete}, Skipped: 0"
        );
        set_condition(run, "Unknown", "Running", &message, start);
    }
    status(run).insert("startTime".into(), start.into());
}

/// Marks the run finished at `completion`: `Succeeded=<status>` ("True" or "False") with
/// `reason` and the message Tekton writes for it, `completionTime`, and for a TaskRun its
/// step terminated (or, for `TaskRunImagePullFailed`, still waiting on the image).
///
/// Reasons as Tekton uses them: `Succeeded`, `Failed`; PipelineRuns also `Completed`,
/// `PipelineRunTimeout`, `Cancelled`, `PipelineRunCancelled`; TaskRuns `TaskRunTimeout`,
/// `TaskRunCancelled`, `TaskRunImagePullFailed`.
pub fn set_finished(run: &mut Value, status_value: &str, reason: &str, completion: &str) {
    let name = run["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let start = run["status"]["startTime"]
        .as_str()
        .unwrap_or(completion)
        .to_owned();
    let message = if is_task_run(run) {
        let step = finished_step(status_value, reason, &start, completion);
        status(run).insert("steps".into(), json!([step]));
        task_run_message(&name, reason)
    } else {
        let tasks = pipeline_tasks(run).len().max(1);
        let failed = usize::from(status_value == "False" && reason == "Failed");
        match reason {
            "PipelineRunTimeout" => {
                format!("PipelineRun \"{name}\" failed to finish within \"1h0m0s\"")
            }
            "Cancelled" | "PipelineRunCancelled" => format!("PipelineRun \"{name}\" was cancelled"),
            _ => format!("Tasks Completed: {tasks} (Failed: {failed}, Cancelled 0), Skipped: 0"),
        }
    };
    set_condition(run, status_value, reason, &message, completion);
    let status = status(run);
    status.insert("startTime".into(), start.into());
    status.insert("completionTime".into(), completion.into());
}

/// Records `task_run` as a child of `pipeline_run`: a `status.childReferences` entry and its
/// pipeline task in `status.pipelineSpec`.
pub fn add_child_reference(pipeline_run: &mut Value, task_run: &Value) {
    let name = task_run["metadata"]["name"].as_str().unwrap_or_default();
    let pipeline_task = task_run["metadata"]["labels"]["tekton.dev/pipelineTask"]
        .as_str()
        .unwrap_or(name)
        .to_owned();
    let child = json!({
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "name": name,
        "pipelineTaskName": pipeline_task,
    });
    let status = status(pipeline_run);
    let children = status.entry("childReferences").or_insert_with(|| json!([]));
    if let Some(children) = children.as_array_mut() {
        if !children.iter().any(|c| c["name"] == name) {
            children.push(child);
        }
    }
    let spec = status
        .entry("pipelineSpec")
        .or_insert_with(|| json!({"tasks": []}));
    if let Some(tasks) = spec["tasks"].as_array_mut() {
        if !tasks.iter().any(|t| t["name"] == pipeline_task.as_str()) {
            tasks.push(json!({"name": pipeline_task, "taskRef": {"kind": "Task", "name": TASK}}));
        }
    }
}

const IMAGE: &str = "docker.io/library/alpine:3.20";
const IMAGE_ID: &str =
    "docker.io/library/alpine@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d";

fn is_task_run(run: &Value) -> bool {
    run["kind"] == "TaskRun"
}

fn task_spec() -> Value {
    json!({"steps": [{
        "name": TASK,
        "image": IMAGE,
        "script": "#!/bin/sh\nmake build\n",
        "computeResources": {},
    }]})
}

fn pipeline_tasks(run: &Value) -> Vec<Value> {
    run["status"]["pipelineSpec"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn finished_step(status: &str, reason: &str, start: &str, completion: &str) -> Value {
    let mut step = json!({"name": TASK, "container": format!("step-{TASK}"), "imageID": IMAGE_ID});
    if reason == "TaskRunImagePullFailed" {
        step["imageID"] = "".into();
        step["waiting"] = json!({
            "reason": "ImagePullBackOff",
            "message": format!("Back-off pulling image \"{IMAGE}\""),
        });
        return step;
    }
    let (exit_code, termination) = match (status, reason) {
        ("True", _) => (0, "Completed"),
        (_, "TaskRunTimeout") => (1, "TaskRunTimeout"),
        (_, "TaskRunCancelled") => (1, "TaskRunCancelled"),
        _ => (1, "Error"),
    };
    step["terminated"] = json!({
        "exitCode": exit_code,
        "reason": if exit_code == 0 { "Completed" } else { "Error" },
        "startedAt": start,
        "finishedAt": completion,
        "containerID": "containerd://6b1ad4b2f0c5e7e0b1f1a7c7d26c8f0e4a2b6f1d3c5e7a9b0c2d4e6f8a0b2c4d",
    });
    step["terminationReason"] = termination.into();
    step
}

fn task_run_message(name: &str, reason: &str) -> String {
    match reason {
        "Succeeded" => "All Steps have completed executing".into(),
        "TaskRunTimeout" => format!("TaskRun \"{name}\" failed to finish within \"1h0m0s\""),
        "TaskRunCancelled" => format!("TaskRun \"{name}\" was cancelled. "),
        "TaskRunImagePullFailed" => format!(
            "the step \"{TASK}\" in TaskRun \"{name}\" failed to pull the image \"\". The pod \
             errored with the message: \"Back-off pulling image \"{IMAGE}\".\""
        ),
        _ => format!("\"step-{TASK}\" exited with code 1"),
    }
}

fn set_condition(run: &mut Value, status_value: &str, reason: &str, message: &str, at: &str) {
    let condition = json!({
        "type": "Succeeded",
        "status": status_value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": at,
    });
    status(run).insert("conditions".into(), json!([condition]));
}

fn status(run: &mut Value) -> &mut Map<String, Value> {
    child(as_map(run), "status")
}

fn labels(run: &mut Value) -> &mut Map<String, Value> {
    child(child(as_map(run), "metadata"), "labels")
}

/// The map under `key`, created if missing.
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    as_map(map.entry(key).or_insert_with(|| json!({})))
}

fn as_map(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = json!({});
    }
    value.as_object_mut().expect("a map")
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "2026-11-03T10:00:00Z";
    const END: &str = "2026-11-03T10:05:00Z";

    fn created_pipeline_run() -> Value {
        let mut run = pipeline_run("ns", "pr");
        run["metadata"]["uid"] = "11111111-2222-3333-4444-555555555555".into();
        run["metadata"]["labels"] = json!({"app": "demo"});
        run
    }

    #[test]
    fn child_task_runs_carry_labels_and_owner() {
        let pr = created_pipeline_run();
        let tr = task_run("ns", "pr-build", Some(&pr));
        let labels = &tr["metadata"]["labels"];
        assert_eq!(labels["app"], "demo");
        assert_eq!(labels["tekton.dev/pipeline"], PIPELINE);
        assert_eq!(labels["tekton.dev/pipelineRun"], "pr");
        assert_eq!(labels["tekton.dev/pipelineTask"], "build");
        assert_eq!(labels["tekton.dev/memberOf"], "tasks");
        let owner = &tr["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "PipelineRun");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["uid"], pr["metadata"]["uid"]);
    }

    #[test]
    #[should_panic(expected = "create the PipelineRun first")]
    fn an_owner_needs_a_uid() {
        task_run("ns", "pr-build", Some(&pipeline_run("ns", "pr")));
    }

    #[test]
    fn task_run_lifecycle() {
        let mut tr = task_run("ns", "tr", None);
        set_running(&mut tr, START);
        assert_eq!(tr["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(tr["status"]["podName"], "tr-pod");
        assert_eq!(tr["metadata"]["labels"]["tekton.dev/task"], TASK);
        set_finished(&mut tr, "False", "TaskRunTimeout", END);
        let condition = &tr["status"]["conditions"][0];
        assert_eq!(condition["reason"], "TaskRunTimeout");
        assert_eq!(condition["lastTransitionTime"], END);
        assert_eq!(tr["status"]["startTime"], START);
        assert_eq!(tr["status"]["completionTime"], END);
        assert_eq!(tr["status"]["steps"][0]["terminated"]["exitCode"], 1);
    }

    #[test]
    fn pipeline_run_lifecycle_with_children() {
        let mut pr = created_pipeline_run();
        let tr = task_run("ns", "pr-test", Some(&pr));
        add_child_reference(&mut pr, &tr);
        add_child_reference(&mut pr, &tr);
        set_running(&mut pr, START);
        assert_eq!(pr["status"]["childReferences"].as_array().unwrap().len(), 1);
        assert_eq!(
            pr["status"]["childReferences"][0]["pipelineTaskName"],
            "test"
        );
        assert_eq!(pr["status"]["pipelineSpec"]["tasks"][0]["name"], "test");
        set_finished(&mut pr, "True", "Succeeded", END);
        let message = pr["status"]["conditions"][0]["message"].as_str().unwrap();
        assert_eq!(
            message,
            "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0"
        );
    }

    #[test]
    fn image_pull_failures_leave_the_step_waiting() {
        let mut tr = task_run("ns", "tr", None);
        set_finished(&mut tr, "False", "TaskRunImagePullFailed", END);
        assert_eq!(
            tr["status"]["steps"][0]["waiting"]["reason"],
            "ImagePullBackOff"
        );
        assert_eq!(tr["status"]["startTime"], END);
    }
}
