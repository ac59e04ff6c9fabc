//! Writing a run to the results API with as few calls as possible.

use super::fingerprint::record_data;
use super::state::{Controller, Seen};
use crate::client::{already_exists, not_found, CallResult};
use crate::pb;
use crate::run::{Names, Run, RECORD_ANNOTATION, RESULT_ANNOTATIONS_ANNOTATION};

impl Controller {
    /// The Result a top-level run sets (summary and annotations); none for a TaskRun of a
    /// PipelineRun.
    pub(super) fn result_of(&self, run: &Run<'_>, names: &Names) -> Option<pb::Result> {
        run.is_top_level().then(|| pb::Result {
            name: names.result.clone(),
            annotations: run.annotation_map(RESULT_ANNOTATIONS_ANNOTATION),
            summary: Some(run.summary(&names.record, self.version())),
            ..pb::Result::default()
        })
    }

    /// Writes the run's Record (and `result`, whose fingerprint is `summary`) with as few
    /// calls as it can.
    pub(super) async fn store(
        &self,
        run: &Run<'_>,
        names: &Names,
        seen: Option<Seen>,
        result: Option<pb::Result>,
        summary: u64,
    ) -> CallResult<()> {
        let record = pb::Record {
            name: names.record.clone(),
            data: Some(pb::Any {
                r#type: run.kind.record_type(self.version()),
                value: record_data(run.object),
            }),
            ..pb::Record::default()
        };
        // Never stored by a watcher yet: create rather than try an update first.
        let fresh = seen.is_none() && run.annotation(RECORD_ANNOTATION) != Some(&names.record);
        let mut result_written = false;
        if fresh {
            self.ensure_result(run, names, result.clone()).await?;
            result_written = true;
            self.create_or_update_record(names, record).await?;
        } else {
            self.writing();
            match self.api.update_record(record.clone()).await {
                Ok(_) => {}
                Err(e) if not_found(&e) => {
                    self.ensure_result(run, names, result.clone()).await?;
                    result_written = true;
                    self.create_or_update_record(names, record).await?;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(result) = result {
            if !result_written && seen.map(|s| s.summary) != Some(summary) {
                self.writing();
                self.api.update_result(result).await?;
            }
        }
        Ok(())
    }

    pub(super) fn writing(&self) {
        self.metrics
            .api_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Creates the Result; if it exists, a top-level run replaces its summary and
    /// annotations.
    pub(super) async fn ensure_result(
        &self,
        run: &Run<'_>,
        names: &Names,
        result: Option<pb::Result>,
    ) -> CallResult<()> {
        let body = result.clone().unwrap_or_else(|| pb::Result {
            name: names.result.clone(),
            ..pb::Result::default()
        });
        self.writing();
        match self.api.create_result(run.namespace(), body).await {
            Ok(_) => Ok(()),
            Err(e) if already_exists(&e) => match result {
                Some(result) => {
                    self.writing();
                    self.api.update_result(result).await.map(drop)
                }
                None => Ok(()),
            },
            Err(e) => Err(e),
        }
    }

    pub(super) async fn create_or_update_record(
        &self,
        names: &Names,
        record: pb::Record,
    ) -> CallResult<()> {
        self.writing();
        match self.api.create_record(&names.result, record.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if already_exists(&e) => {
                self.writing();
                self.api.update_record(record).await.map(drop)
            }
            Err(e) => Err(e),
        }
    }
}
