//! [`LogUploader`]: uploads each step's log of a finished TaskRun, streamed from
//! `pods/log` into one `UpdateLog` call per step, and says whether the run's logs are done.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{self, Either};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tonic::{Code, Status};

use super::chunks::{chunks, truncation_line, Chunks, Progress};
use super::name::log_name;
use crate::client::ApiClient;
use crate::metrics::Metrics;
use crate::run::{Names, Run, RunKind};
use crate::settings::LogsSettings;

/// How long an API that answered UNIMPLEMENTED is taken not to offer logs before it is
/// asked again (it may have been upgraded meanwhile).
pub const UNSUPPORTED_RECHECK: Duration = Duration::from_secs(600);

/// What became of a run's step logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunLogs {
    /// Nothing to do: logs are disabled or not offered by the API, the run is not a
    /// finished TaskRun, or its logs are already marked stored.
    NotNeeded,
    /// Each step's log is uploaded, or gone from the cluster, or refused by the API for
    /// good: the run can be marked and released.
    Stored,
    /// An upload failed and is worth retrying (the API or the cluster is away); why.
    Failed(String),
}

/// How one step went.
#[derive(Debug)]
enum Step {
    /// Uploaded: the bytes the API acknowledged.
    Uploaded { bytes: u64, truncated: bool },
    /// The pod or container is gone (or never ran): nothing to upload; why.
    Missing(String),
}

/// Why one step's upload stopped.
#[derive(Debug)]
enum StepError {
    /// The API does not offer logs.
    Unsupported(Status),
    /// The API refused this log for good (it would refuse it again).
    Refused(Status),
    /// Worth retrying.
    Retry(String),
}

/// Uploads the step logs of finished TaskRuns. One per watcher: it remembers whether the
/// API offers logs at all.
pub struct LogUploader {
    settings: LogsSettings,
    stall: Duration,
    kube: kube::Client,
    metrics: Arc<Metrics>,
    unsupported_since: Mutex<Option<Instant>>,
    warned_unsupported: AtomicBool,
}

impl LogUploader {
    /// An uploader reading logs through `kube`; an upload that makes no progress for
    /// `stall` (no chunk read, or no answer after the last) is abandoned and retried.
    pub fn new(
        settings: LogsSettings,
        stall: Duration,
        kube: kube::Client,
        metrics: Arc<Metrics>,
    ) -> LogUploader {
        LogUploader {
            settings,
            stall,
            kube,
            metrics,
            unsupported_since: Mutex::new(None),
            warned_unsupported: AtomicBool::new(false),
        }
    }

    /// Whether the API is taken to offer logs: not after it answered UNIMPLEMENTED, until
    /// [`UNSUPPORTED_RECHECK`] has passed.
    pub fn api_offers_logs(&self) -> bool {
        let mut since = self.unsupported_since.lock().expect("unsupported lock");
        match *since {
            Some(at) if at.elapsed() < UNSUPPORTED_RECHECK => false,
            Some(_) => {
                *since = None;
                true
            }
            None => true,
        }
    }

    fn mark_unsupported(&self, status: &Status) {
        *self.unsupported_since.lock().expect("unsupported lock") = Some(Instant::now());
        if !self.warned_unsupported.swap(true, Relaxed) {
            tracing::warn!(
                recheck_secs = UNSUPPORTED_RECHECK.as_secs(),
                "the results API does not offer logs (UpdateLog is unimplemented): step logs \
                 are not uploaded and runs are not held for them: {}",
                status.message()
            );
        } else {
            tracing::debug!("the results API still does not offer logs");
        }
    }

    /// Whether `run` has step logs to upload now.
    pub fn needed(&self, run: &Run<'_>) -> bool {
        self.settings.enabled
            && run.kind == RunKind::TaskRun
            && run.is_complete()
            && !run.is_marked_log_stored()
            && self.api_offers_logs()
    }

    /// Uploads the log of each step of `run` (stored at `names`) through `api`, one
    /// `UpdateLog` call per step, in order; stops at the first failure worth retrying
    /// (a retry uploads every step again: an upload replaces the log of the same name).
    pub async fn upload(&self, api: &ApiClient, run: &Run<'_>, names: &Names) -> RunLogs {
        if !self.needed(run) {
            return RunLogs::NotNeeded;
        }
        let (namespace, name) = (run.namespace(), run.name());
        let Some(pod) = run.pod_name() else {
            tracing::debug!(namespace, name, "finished TaskRun without a pod: no logs");
            return RunLogs::Stored;
        };
        for container in run.step_containers() {
            let Some(log) = log_name(names, container) else {
                tracing::warn!(
                    namespace,
                    name,
                    container,
                    "skipping a step whose container name is not a log name ([a-z0-9_-]{{1,63}})"
                );
                continue;
            };
            match self.upload_step(api, namespace, pod, container, &log).await {
                Ok(Step::Uploaded { bytes, truncated }) => {
                    self.metrics.logs_uploaded.fetch_add(1, Relaxed);
                    self.metrics.log_bytes.fetch_add(bytes, Relaxed);
                    if truncated {
                        self.metrics.logs_truncated.fetch_add(1, Relaxed);
                        tracing::info!(
                            namespace,
                            pod,
                            container,
                            max_bytes = self.settings.max_bytes_per_step,
                            "step log cut at logs.max_bytes_per_step"
                        );
                    }
                    tracing::debug!(namespace, pod, container, log, bytes, "step log uploaded");
                }
                Ok(Step::Missing(why)) => {
                    self.metrics.logs_missing.fetch_add(1, Relaxed);
                    tracing::info!(namespace, pod, container, "no step log to upload: {why}");
                }
                Err(StepError::Unsupported(status)) => {
                    self.mark_unsupported(&status);
                    return RunLogs::NotNeeded;
                }
                Err(StepError::Refused(status)) => {
                    self.metrics.log_failures.fetch_add(1, Relaxed);
                    tracing::error!(
                        namespace,
                        pod,
                        container,
                        log,
                        "the results API refused the step log, not retrying: {}",
                        status.message()
                    );
                }
                Err(StepError::Retry(why)) => {
                    self.metrics.log_failures.fetch_add(1, Relaxed);
                    return RunLogs::Failed(why);
                }
            }
        }
        RunLogs::Stored
    }

    /// Streams one container's log from the cluster into one `UpdateLog` call named `log`.
    async fn upload_step(
        &self,
        api: &ApiClient,
        namespace: &str,
        pod: &str,
        container: &str,
        log: &str,
    ) -> Result<Step, StepError> {
        let cap = self.settings.max_bytes_per_step;
        let params = LogParams {
            container: Some(container.to_owned()),
            // One byte more than kept tells a log that was cut from one of exactly `cap`.
            limit_bytes: Some(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX)),
            ..LogParams::default()
        };
        let pods: Api<Pod> = Api::namespaced(self.kube.clone(), namespace);
        let reader = match pods.log_stream(pod, &params).await {
            Ok(reader) => reader,
            // Gone (404), or a container that never started (400): nothing will come.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 400 => {
                return Ok(Step::Missing(status.message.clone()));
            }
            Err(e) => {
                return Err(StepError::Retry(format!(
                    "cannot read the log of container {container} of pod {pod}: {e}"
                )))
            }
        };
        let (abort, aborted) = oneshot::channel();
        let Chunks { uploads, progress } = chunks(Box::pin(reader), log.to_owned(), cap, aborted);
        let upload = api.update_log(uploads);
        let watchdog = Box::pin(async {
            stalled(&progress, self.stall).await;
            // Aborted, not dropped: a dropped upload would end as if complete (see
            // `codec`). The abort goes out with the next poll of the request body...
            let _ = abort.send(format!("no progress for {:?}", self.stall));
            // ...which does not come if the API stopped reading: then give up on it.
            tokio::time::sleep(self.stall).await;
        });
        let answer = match future::select(upload, watchdog).await {
            Either::Left((answer, _)) => answer,
            Either::Right(((), _)) => {
                return Err(StepError::Retry(format!(
                    "uploading the log of container {container} of pod {pod} made no progress for {:?}",
                    self.stall
                )));
            }
        };
        if answer.is_err() {
            if let Some(why) = progress.failure() {
                return Err(StepError::Retry(format!(
                    "uploading the log of container {container} of pod {pod} was aborted: {why}"
                )));
            }
        }
        match answer {
            Ok(summary) => {
                let sent = progress.bytes_read()
                    + if progress.truncated() {
                        truncation_line(cap).len() as u64
                    } else {
                        0
                    };
                let bytes = u64::try_from(summary.bytes_received).unwrap_or(0);
                if bytes != sent {
                    tracing::warn!(
                        log,
                        sent,
                        acknowledged = bytes,
                        "the results API acknowledged another size than was sent"
                    );
                }
                Ok(Step::Uploaded {
                    bytes,
                    truncated: progress.truncated(),
                })
            }
            Err(status) => Err(match status.code() {
                Code::Unimplemented => StepError::Unsupported(status),
                Code::InvalidArgument => StepError::Refused(status),
                _ => StepError::Retry(format!("uploading log {log} failed: {status}")),
            }),
        }
    }
}

/// Resolves once `progress` has not moved for `limit`.
async fn stalled(progress: &Progress, limit: Duration) {
    loop {
        let due = progress.last() + limit;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploader() -> LogUploader {
        let url = "http://127.0.0.1:1".parse().unwrap();
        let kube = kube::Client::try_from(kube::Config::new(url)).unwrap();
        LogUploader::new(
            LogsSettings::default(),
            Duration::from_secs(1),
            kube,
            Arc::default(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_is_stalled_once_no_chunk_came_for_the_limit() {
        use futures::StreamExt as _;

        let start = Instant::now();
        let (_abort, aborted) = oneshot::channel();
        let reader = futures::io::Cursor::new(vec![b'a'; 10]);
        let mut log = chunks(reader, "n".into(), 100, aborted);
        let limit = Duration::from_secs(5);
        tokio::time::advance(Duration::from_secs(3)).await;
        // A chunk read at 3 s moves the stall to 8 s.
        assert!(log.uploads.next().await.is_some());
        stalled(&log.progress, limit).await;
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn an_api_without_logs_is_asked_again_after_a_while() {
        let uploader = uploader();
        assert!(uploader.api_offers_logs());
        uploader.mark_unsupported(&Status::unimplemented("no logs here"));
        assert!(!uploader.api_offers_logs());
        tokio::time::advance(UNSUPPORTED_RECHECK - Duration::from_secs(1)).await;
        assert!(!uploader.api_offers_logs());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(uploader.api_offers_logs());
    }

    #[tokio::test(start_paused = true)]
    async fn only_finished_task_runs_not_marked_need_their_logs_uploaded() {
        let uploader = uploader();
        let object = |kind: &str, status: &str, marked: bool| -> kube::api::DynamicObject {
            let mut annotations = serde_json::Map::new();
            if marked {
                annotations.insert(
                    crate::run::LOG_STORED_ANNOTATION.into(),
                    serde_json::Value::from("true"),
                );
            }
            serde_json::from_value(serde_json::json!({
                "apiVersion": "tekton.dev/v1", "kind": kind,
                "metadata": {"name": "t", "namespace": "ci", "uid": "u", "annotations": annotations},
                "status": {"conditions": [{"type": "Succeeded", "status": status}]},
            }))
            .unwrap()
        };
        let finished = object("TaskRun", "True", false);
        assert!(uploader.needed(&Run::new(RunKind::TaskRun, &finished)));
        let failed = object("TaskRun", "False", false);
        assert!(uploader.needed(&Run::new(RunKind::TaskRun, &failed)));
        let running = object("TaskRun", "Unknown", false);
        assert!(!uploader.needed(&Run::new(RunKind::TaskRun, &running)));
        let marked = object("TaskRun", "True", true);
        assert!(!uploader.needed(&Run::new(RunKind::TaskRun, &marked)));
        let pipeline = object("PipelineRun", "True", false);
        assert!(!uploader.needed(&Run::new(RunKind::PipelineRun, &pipeline)));
        uploader.mark_unsupported(&Status::unimplemented("no"));
        assert!(!uploader.needed(&Run::new(RunKind::TaskRun, &finished)));
        let mut disabled = LogUploader::new(
            LogsSettings {
                enabled: false,
                ..LogsSettings::default()
            },
            Duration::from_secs(1),
            uploader.kube.clone(),
            Arc::default(),
        );
        assert!(!disabled.needed(&Run::new(RunKind::TaskRun, &finished)));
        disabled.settings.enabled = true;
        assert!(disabled.needed(&Run::new(RunKind::TaskRun, &finished)));
    }
}
