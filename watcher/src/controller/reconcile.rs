//! One pass over one run: store it, write back, hold or release the finalizer, clean up.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use prost::Message as _;
use tokio::time::Instant;

use super::fingerprint::{fingerprint, hash_bytes};
use super::state::{instant_at, plus, Controller, Key, Seen, FIELD_MANAGER};
use crate::logs::RunLogs;
use crate::run::{
    Names, Run, FINALIZER, LOG_STORED_ANNOTATION, RECORD_ANNOTATION, RESULT_ANNOTATION,
    STORED_ANNOTATION,
};

/// Whether a write to a run failed because it no longer exists (404), or another object
/// of its name does (409 on the uid precondition).
fn is_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 404 || (status.code == 409 && status.message.contains("UID")))
}

/// What of a run could not be stored.
#[derive(Debug, Clone, Copy)]
enum Missing {
    /// Its final state (the Record).
    FinalState,
    /// Its step logs (the Record is stored).
    Logs,
}

impl Controller {
    /// One pass over one run; returns when to look at it again, if ever.
    pub(super) async fn reconcile(&self, key: &Key) -> Option<Instant> {
        let (object, gone) = match self.take_cached(key) {
            Some(cached) => (cached.object, cached.gone),
            None => match self
                .namespaced(key.kind, &key.namespace)
                .get_opt(&key.name)
                .await
            {
                Ok(Some(object)) => (Arc::new(object), false),
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(
                        namespace = key.namespace,
                        name = key.name,
                        "cannot read run: {e}"
                    );
                    return Some(self.backoff(key));
                }
            },
        };
        let run = Run::new(key.kind, &object);
        let uid = run.uid().to_owned();
        let names = run.names();
        let complete = run.is_complete();
        let content = fingerprint(&object);
        let result = self.result_of(&run, &names);
        let summary = result
            .as_ref()
            .map_or(0, |r| hash_bytes(&r.encode_to_vec()));
        let seen = self.seen.lock().expect("seen lock").get(&uid).copied();
        // After a restart nothing is remembered: a finished run marked stored is current,
        // and what it is now is what later changes are compared with.
        let current = match seen {
            Some(seen) => seen.content == content,
            None => complete && run.is_marked_stored(),
        };
        if current {
            self.metrics.skipped.inc(key.kind);
            if seen.is_none() && !gone {
                self.seen.lock().expect("seen lock").insert(
                    uid.clone(),
                    Seen {
                        kind: key.kind,
                        content,
                        summary,
                    },
                );
            }
        } else {
            let started = std::time::Instant::now();
            match self.store(&run, &names, seen, result, summary).await {
                Ok(()) => {
                    self.metrics.observe_store(started.elapsed());
                    self.metrics.stored.inc(key.kind);
                    self.seen.lock().expect("seen lock").insert(
                        uid.clone(),
                        Seen {
                            kind: key.kind,
                            content,
                            summary,
                        },
                    );
                }
                Err(e) => {
                    self.metrics.failures.inc(key.kind);
                    tracing::warn!(
                        namespace = key.namespace,
                        name = key.name,
                        record = names.record,
                        "cannot store run, will retry: {e}"
                    );
                    let retry = self.backoff(key);
                    if !gone && !run.is_deleting() && !run.has_finalizer() {
                        // Hold the run while the API is away, so that deleting it waits.
                        let log_stored = run.is_marked_log_stored();
                        if let Err(e) = self.write_back(&run, &names, false, log_stored, true).await
                        {
                            tracing::warn!(
                                namespace = key.namespace,
                                name = key.name,
                                "cannot add the finalizer: {e}"
                            );
                        }
                    }
                    return self
                        .retry_held(key, &run, &names, &object, gone, retry, Missing::FinalState)
                        .await;
                }
            }
        }
        // Stored: a finished TaskRun's step logs go before its finalizer.
        let logs = self.logs.upload(&self.api, &run, &names).await;
        if let RunLogs::Failed(why) = &logs {
            tracing::warn!(
                namespace = key.namespace,
                name = key.name,
                record = names.record,
                "cannot upload step logs, will retry: {why}"
            );
            let retry = self.backoff(key);
            if !gone && !run.is_deleting() {
                // Stored, and held until its logs are uploaded.
                let log_stored = run.is_marked_log_stored();
                if let Err(e) = self
                    .write_back(&run, &names, complete, log_stored, true)
                    .await
                {
                    tracing::warn!(
                        namespace = key.namespace,
                        name = key.name,
                        "cannot annotate run: {e}"
                    );
                }
                return Some(retry);
            }
            return self
                .retry_held(key, &run, &names, &object, gone, retry, Missing::Logs)
                .await;
        }
        let log_stored = run.is_marked_log_stored() || logs == RunLogs::Stored;
        self.attempts.lock().expect("attempts lock").remove(key);
        if gone {
            self.seen.lock().expect("seen lock").remove(&uid);
            return None;
        }
        if run.is_deleting() && !run.has_finalizer() {
            // Leaving, and not held by us: nothing to write.
            return None;
        }
        // Stored: write back where, hold the finalizer while the run may still change.
        let hold = !run.is_deleting() && !complete;
        match self
            .write_back(&run, &names, complete, log_stored, hold)
            .await
        {
            Ok(true) => self.metrics.released_stored.inc(key.kind),
            Ok(false) => {}
            Err(e) if is_gone(&e) => {
                // Deleted (or replaced by a namesake) since this event: nothing to write.
                self.attempts.lock().expect("attempts lock").remove(key);
                return None;
            }
            Err(e) => {
                tracing::warn!(
                    namespace = key.namespace,
                    name = key.name,
                    "cannot annotate run: {e}"
                );
                return Some(self.backoff(key));
            }
        }
        if run.is_deleting() {
            return None;
        }
        self.cleanup(key, &run).await
    }

    /// After a failure to store what `missing` says of a run: keeps a gone run's final
    /// object for the retry; releases a deleted run's finalizer once the store deadline
    /// has passed; else says when to retry.
    #[allow(clippy::too_many_arguments)]
    async fn retry_held(
        &self,
        key: &Key,
        run: &Run<'_>,
        names: &Names,
        object: &Arc<DynamicObject>,
        gone: bool,
        retry: Instant,
        missing: Missing,
    ) -> Option<Instant> {
        if gone {
            // Its final state exists nowhere else: keep it for the retry.
            self.remember(key.clone(), object.clone(), true, false);
            return Some(retry);
        }
        let (Some(deleted_at), true) = (&object.metadata.deletion_timestamp, run.has_finalizer())
        else {
            return Some(retry);
        };
        let deadline = plus(deleted_at.0, self.settings.watcher.store_deadline_secs);
        if Timestamp::now() < deadline {
            return Some(retry.min(instant_at(deadline)));
        }
        let stored = match missing {
            Missing::FinalState => {
                tracing::error!(
                    namespace = key.namespace,
                    name = key.name,
                    "store deadline passed: releasing the finalizer without the final state stored"
                );
                false
            }
            Missing::Logs => {
                tracing::error!(
                    namespace = key.namespace,
                    name = key.name,
                    "store deadline passed: releasing the finalizer without the step logs uploaded"
                );
                run.is_complete()
            }
        };
        let log_stored = run.is_marked_log_stored();
        if self
            .write_back(run, names, stored, log_stored, false)
            .await
            .is_ok()
        {
            self.metrics.released_deadline.inc(key.kind);
            self.attempts.lock().expect("attempts lock").remove(key);
            return None;
        }
        Some(retry)
    }

    /// Deletes a finished, stored top-level run once its grace period is over; else says
    /// when to look again.
    pub(super) async fn cleanup(&self, key: &Key, run: &Run<'_>) -> Option<Instant> {
        let grace = self.settings.watcher.cleanup_grace_secs;
        if grace == 0
            || !run.is_complete()
            || !run.is_top_level()
            || !self.cleanup_selector.matches(&run.labels())
        {
            return None;
        }
        let finished = run
            .completion_time()
            .or_else(|| run.object.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
        let due = plus(finished, grace);
        if Timestamp::now() < due {
            return Some(instant_at(due));
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(run.uid().to_owned()),
                resource_version: None,
            }),
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match self
            .namespaced(key.kind, &key.namespace)
            .delete(&key.name, &params)
            .await
        {
            Ok(_) => {
                self.metrics.deleted.inc(key.kind);
                tracing::info!(
                    namespace = key.namespace,
                    name = key.name,
                    "deleted a stored, finished run"
                );
                None
            }
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => None,
            Err(e) => {
                tracing::warn!(
                    namespace = key.namespace,
                    name = key.name,
                    "cannot delete run: {e}"
                );
                Some(self.backoff(key))
            }
        }
    }

    /// Server-side applies the watcher's annotations (`stored` when `stored`, `log-stored`
    /// when `log_stored`) and its finalizer (when `hold`), unless the run already has
    /// exactly those. Says whether this released the finalizer.
    pub(super) async fn write_back(
        &self,
        run: &Run<'_>,
        names: &Names,
        stored: bool,
        log_stored: bool,
        hold: bool,
    ) -> Result<bool, kube::Error> {
        let up_to_date = run.annotation(RESULT_ANNOTATION) == Some(names.result.as_str())
            && run.annotation(RECORD_ANNOTATION) == Some(names.record.as_str())
            && run.is_marked_stored() == stored
            && run.is_marked_log_stored() == log_stored
            && run.has_finalizer() == hold;
        if up_to_date {
            return Ok(false);
        }
        let mut annotations = serde_json::Map::new();
        annotations.insert(RESULT_ANNOTATION.into(), names.result.clone().into());
        annotations.insert(RECORD_ANNOTATION.into(), names.record.clone().into());
        if stored {
            annotations.insert(STORED_ANNOTATION.into(), "true".into());
        }
        if log_stored {
            annotations.insert(LOG_STORED_ANNOTATION.into(), "true".into());
        }
        // The uid makes the apply fail (409) rather than create the run again when it is
        // gone already: a stale event of a run whose finalizer this watcher just released.
        let mut metadata = serde_json::json!({
            "name": run.name(),
            "namespace": run.namespace(),
            "uid": run.uid(),
            "annotations": annotations,
        });
        if hold {
            metadata["finalizers"] = serde_json::json!([FINALIZER]);
        }
        let resource = self.resource(run.kind);
        let patch = serde_json::json!({
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": metadata,
        });
        self.namespaced(run.kind, run.namespace())
            .patch(
                run.name(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        Ok(run.has_finalizer() && !hold)
    }
}
