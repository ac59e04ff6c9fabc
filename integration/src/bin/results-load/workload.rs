//! The deterministic workload: Results named after PipelineRuns in a few namespaces, and
//! for each Result one PipelineRun Record and four TaskRun Records whose data is a
//! realistic Tekton `v1` document padded (through step scripts) to about K kilobytes.
//! Everything derives from `(seed, index)`, so any worker can rebuild any record.

use serde_json::{json, Value};

pub use crate::catalog::FILTER_PIPELINE;
use crate::catalog::*;

/// Records per Result: one PipelineRun and four TaskRuns (so 80% TaskRuns).
pub const RECORDS_PER_RESULT: u64 = 5;

/// Record type of TaskRuns.
pub const TASK_RUN: &str = "tekton.dev/v1.TaskRun";
/// Record type of PipelineRuns.
pub const PIPELINE_RUN: &str = "tekton.dev/v1.PipelineRun";

/// xorshift64* seeded through splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// An independent stream for item `index` of kind `stream`.
    pub fn item(seed: u64, stream: u64, index: u64) -> Rng {
        Rng::new(
            seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)
                ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17),
        )
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }

    /// A version-4 style UUID.
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

/// Record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tekton.dev/v1.TaskRun`.
    TaskRun,
    /// `tekton.dev/v1.PipelineRun`.
    PipelineRun,
}

/// A Result: one PipelineRun and its TaskRuns.
#[derive(Debug, Clone)]
pub struct ResultSpec {
    /// Namespace (the Result's parent).
    pub namespace: &'static str,
    pipeline: usize,
    /// The PipelineRun's name (the Result's name segment).
    pub run: String,
    /// `<namespace>/results/<run>`.
    pub name: String,
    run_uid: String,
    revision: String,
    /// Unix seconds.
    created: u64,
}

impl ResultSpec {
    /// When it was created, Unix seconds.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The pipeline name.
    pub fn pipeline(&self) -> &'static str {
        PIPELINES[self.pipeline].name
    }
}

/// A Record and the facts its document is built from.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    /// Index among all records.
    pub index: u64,
    /// Its Result.
    pub result: ResultSpec,
    /// TaskRun or PipelineRun.
    pub kind: Kind,
    /// The object's uid (also the record name segment).
    pub uid: String,
    /// `<result>/records/<uid>`.
    pub name: String,
    object: String,
    task: &'static str,
    /// `status.conditions[0].reason` as created.
    pub reason: &'static str,
    start: u64,
    duration: u64,
}

impl RecordSpec {
    /// When the run started and when it ends, Unix seconds.
    pub fn times(&self) -> (u64, u64) {
        (self.start, self.start + self.duration)
    }

    /// The record type.
    pub fn type_(&self) -> &'static str {
        match self.kind {
            Kind::TaskRun => TASK_RUN,
            Kind::PipelineRun => PIPELINE_RUN,
        }
    }
}

/// The workload parameters.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Seed of every generator.
    pub seed: u64,
    /// Target document size in bytes.
    pub record_bytes: usize,
}

const BASE_TIME: u64 = 1_735_689_600; // 2025-01-01T00:00:00Z

impl Workload {
    /// Result `j`.
    pub fn result(&self, j: u64) -> ResultSpec {
        let mut rng = Rng::item(self.seed, 1, j);
        let namespace = *rng.pick(NAMESPACES);
        let pipeline = rng.below(PIPELINES.len() as u64) as usize;
        // A bijection of j (odd multiplier coprime to 36) keeps run names unique.
        let m = 36u64.pow(6);
        let mut k = (j % m + self.seed % m) % m * 1_000_003 % m;
        let mut suffix = [0u8; 6];
        for c in suffix.iter_mut().rev() {
            *c = b"0123456789abcdefghijklmnopqrstuvwxyz"[(k % 36) as usize];
            k /= 36;
        }
        let run = format!(
            "{}-run-{}",
            PIPELINES[pipeline].name,
            std::str::from_utf8(&suffix).unwrap_or("x")
        );
        ResultSpec {
            name: format!("{namespace}/results/{run}"),
            namespace,
            pipeline,
            run,
            run_uid: rng.uuid(),
            revision: rng.hex(40),
            created: BASE_TIME + j * 35 + rng.below(30),
        }
    }

    /// Record `i` (record `i % 5 == 0` of a Result is its PipelineRun).
    pub fn record(&self, i: u64) -> RecordSpec {
        let result = self.result(i / RECORDS_PER_RESULT);
        let k = i % RECORDS_PER_RESULT;
        let mut rng = Rng::item(self.seed, 2, i);
        let uid = if k == 0 {
            result.run_uid.clone()
        } else {
            rng.uuid()
        };
        let (kind, task, object) = if k == 0 {
            (Kind::PipelineRun, "", result.run.clone())
        } else {
            let task = PIPELINES[result.pipeline].tasks[(k - 1) as usize];
            (Kind::TaskRun, task, format!("{}-{task}", result.run))
        };
        let roll = rng.below(100);
        let reason = match roll {
            0..=69 => "Succeeded",
            70..=89 => "Failed",
            90..=93 => "Running",
            94..=96 => "Cancelled",
            _ if kind == Kind::PipelineRun => "PipelineRunTimeout",
            _ => "TaskRunTimeout",
        };
        RecordSpec {
            index: i,
            name: format!("{}/records/{uid}", result.name),
            start: result.created + 1 + k * 60 + rng.below(20),
            duration: 20 + rng.below(900),
            result,
            kind,
            uid,
            object,
            task,
            reason,
        }
    }

    /// The record's JSON document; `updated` is the later version an UpdateRecord sends
    /// (signed by Chains; a running run has finished).
    pub fn document(&self, r: &RecordSpec, updated: bool) -> Vec<u8> {
        let tasks: Vec<&str> = match r.kind {
            Kind::TaskRun => vec![r.task],
            Kind::PipelineRun => PIPELINES[r.result.pipeline].tasks.to_vec(),
        };
        let steps: usize = tasks.iter().map(|t| task_steps(t).len()).sum();
        let header = "#!/usr/bin/env sh\nset -eu\n".to_owned();
        let base = vec![header.clone(); steps];
        let size =
            serde_json::to_vec(&self.build(r, &tasks, &base, updated)).map_or(0, |v| v.len());
        let budget = self.record_bytes.saturating_sub(size) / steps.max(1);
        let mut rng = Rng::item(self.seed, 3, r.index);
        let scripts: Vec<String> = (0..steps)
            .map(|_| {
                let mut script = header.clone();
                let mut escaped = 0;
                while escaped < budget {
                    let line = *rng.pick(SCRIPT_LINES);
                    escaped += line.len() + line.matches(['"', '\\']).count() + 2;
                    script.push_str(line);
                    script.push('\n');
                }
                script
            })
            .collect();
        serde_json::to_vec(&self.build(r, &tasks, &scripts, updated)).unwrap_or_default()
    }

    fn build(&self, r: &RecordSpec, tasks: &[&str], scripts: &[String], updated: bool) -> Value {
        let res = &r.result;
        let pipeline = &PIPELINES[res.pipeline];
        let mut rng = Rng::item(self.seed, 4, r.index);
        let reason = if updated && r.reason == "Running" {
            "Succeeded"
        } else {
            r.reason
        };
        let image = format!(
            "registry.example.com/{}/{}:{}",
            res.namespace,
            pipeline.name,
            &res.revision[..8]
        );
        let params = json!([
            {"name": "url", "value": pipeline.repo},
            {"name": "revision", "value": res.revision},
            {"name": "image", "value": image},
            {"name": "namespace", "value": res.namespace},
        ]);
        let kind = match r.kind {
            Kind::TaskRun => "TaskRun",
            Kind::PipelineRun => "PipelineRun",
        };
        let mut script = scripts.iter();
        let mut step_specs = Vec::new();
        let mut step_states = Vec::new();
        let mut task_specs = Vec::new();
        let end = r.start + r.duration;
        let mut t = r.start + 2;
        for task in tasks {
            let mut specs = Vec::new();
            for (name, img) in task_steps(task) {
                let spec = json!({
                    "name": name,
                    "image": img,
                    "workingDir": "$(workspaces.source.path)",
                    "env": [{"name": "HOME", "value": "/tekton/home"}],
                    "computeResources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                    "script": script.next().cloned().unwrap_or_default(),
                });
                let finished = (t + 5 + rng.below(60)).min(end);
                let state = match reason {
                    "Running" => json!({"running": {"startedAt": rfc3339(t)}}),
                    "Failed" => json!({"terminated": {"exitCode": 1, "reason": "Error",
                        "startedAt": rfc3339(t), "finishedAt": rfc3339(finished),
                        "containerID": format!("containerd://{}", rng.hex(64))}}),
                    _ => json!({"terminated": {"exitCode": 0, "reason": "Completed",
                        "startedAt": rfc3339(t), "finishedAt": rfc3339(finished),
                        "containerID": format!("containerd://{}", rng.hex(64))}}),
                };
                let mut state = state;
                state["name"] = json!(name);
                state["container"] = json!(format!("step-{name}"));
                state["imageID"] = json!(format!("{img}@sha256:{}", rng.hex(64)));
                step_states.push(state);
                specs.push(spec);
                t = finished;
            }
            task_specs.push(json!({"name": task, "taskSpec": {"steps": specs.clone()}}));
            step_specs.extend(specs);
        }
        let (status, message) = match reason {
            "Succeeded" => ("True", "All Steps have completed executing".to_owned()),
            "Failed" => (
                "False",
                format!("\"step-{}\" exited with code 1", task_steps(tasks[0])[0].0),
            ),
            "Running" => (
                "Unknown",
                "Not all Steps in the Task have finished executing".to_owned(),
            ),
            "Cancelled" => ("False", format!("{kind} \"{}\" was cancelled", r.object)),
            _ => (
                "False",
                format!("{kind} \"{}\" failed to finish within \"1h0m0s\"", r.object),
            ),
        };
        let last = if reason == "Running" {
            r.start + 30
        } else {
            end
        };
        let mut labels = json!({
            "app.kubernetes.io/managed-by": "tekton-pipelines",
            "tekton.dev/pipeline": pipeline.name,
            "tekton.dev/pipelineRun": res.run,
        });
        let mut annotations = json!({
            "results.tekton.dev/record": r.name,
            "results.tekton.dev/result": res.name,
            "pipeline.tekton.dev/release": "v0.59.2",
        });
        if updated {
            annotations["chains.tekton.dev/signed"] = json!("true");
        }
        let mut doc = json!({
            "apiVersion": "tekton.dev/v1",
            "metadata": {
                "name": r.object,
                "namespace": res.namespace,
                "uid": r.uid,
                "generation": 1,
                "resourceVersion": (100_000 + r.index * 7).to_string(),
                "creationTimestamp": rfc3339(r.start - 1),
                "labels": labels.clone(),
                "annotations": annotations,
            },
            "status": {
                "conditions": [{
                    "type": "Succeeded", "status": status, "reason": reason,
                    "message": message, "lastTransitionTime": rfc3339(last),
                }],
                "startTime": rfc3339(r.start),
            },
        });
        if reason != "Running" {
            doc["status"]["completionTime"] = json!(rfc3339(end));
        }
        match r.kind {
            Kind::TaskRun => {
                labels["tekton.dev/pipelineTask"] = json!(r.task);
                labels["tekton.dev/task"] = json!(r.task);
                labels["tekton.dev/memberOf"] = json!("tasks");
                doc["metadata"]["labels"] = labels;
                doc["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": res.run,
                    "uid": res.run_uid, "controller": true, "blockOwnerDeletion": true,
                }]);
                doc["kind"] = json!(kind);
                doc["spec"] = json!({
                    "params": params,
                    "serviceAccountName": "pipeline",
                    "timeout": "1h0m0s",
                    "workspaces": [{"name": "source", "persistentVolumeClaim": {"claimName": format!("pvc-{}", &res.run_uid[..8])}}],
                    "taskSpec": {
                        "params": [{"name": "url", "type": "string"}, {"name": "revision", "type": "string"},
                                   {"name": "image", "type": "string"}, {"name": "namespace", "type": "string"}],
                        "workspaces": [{"name": "source"}],
                        "steps": step_specs,
                    },
                });
                doc["status"]["podName"] = json!(format!("{}-pod", r.object));
                doc["status"]["steps"] = json!(step_states);
            }
            Kind::PipelineRun => {
                doc["kind"] = json!(kind);
                doc["spec"] = json!({
                    "params": params,
                    "taskRunTemplate": {"serviceAccountName": "pipeline"},
                    "timeouts": {"pipeline": "1h0m0s"},
                    "pipelineSpec": {"tasks": task_specs},
                });
                doc["status"]["childReferences"] = json!(tasks
                    .iter()
                    .map(|t| json!({
                        "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                        "name": format!("{}-{t}", res.run), "pipelineTaskName": t,
                    }))
                    .collect::<Vec<_>>());
            }
        }
        doc
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
