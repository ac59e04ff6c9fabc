//! One function per RPC: check who may do it, convert the request, one actor call, convert
//! the answer. gRPC and REST both call these, so they give the same results and errors.
//!
//! Each call first reads the namespace from the request's name (names only, cheap), asks the
//! [`Gate`], and only then converts the rest (documents included): a caller who may not
//! act learns nothing from how the server reads its request.

use results_actors::auth::{Access, Credentials, Resource, Verb};
use results_actors::limits::MAX_LISTED_NAMESPACES;
use results_actors::model::log::LogName;
use results_actors::model::{ChangeKind, ChangedObject};
use results_actors::model::{ListScope, RecordName, RecordScope, ResultName};
use results_actors::watch::Visibility;
use results_actors::{
    Actors, FilterEnvironment, Gate, LogStream, Logs, Subscription, WatchEvent, WatchKind,
    WatchRequest,
};

use std::borrow::Cow;
use std::sync::Arc;

use super::fences::Fences;
use crate::convert;
use crate::convert::fields::{self, FieldMask};
use crate::error::ApiError;
use crate::pb::v1alpha2 as pb;

/// The Results API over the actors.
#[derive(Debug, Clone)]
pub struct ResultsApi {
    actors: Actors,
    gate: Gate,
    logs: Logs,
    /// Read-your-writes with read replicas.
    fences: Arc<Fences>,
}

/// The namespace of a Create's `parent`: a name segment, not `-`.
fn parent_namespace(parent: &str) -> Result<String, ApiError> {
    match ListScope::parse(parent, "parent", parent)? {
        ListScope::Exactly(namespace) => Ok(namespace),
        _ => Err(ApiError::InvalidArgument(
            "parent must name a namespace, not '-'".into(),
        )),
    }
}

impl ResultsApi {
    /// Serves requests through `actors` and `logs`, letting through what `gate` allows.
    pub fn new(actors: Actors, gate: Gate, logs: Logs) -> Self {
        ResultsApi {
            actors,
            gate,
            logs,
            fences: Arc::default(),
        }
    }

    /// The actors for a read by `caller`: a read replica serves it only if it has replayed
    /// the caller's last write (see `fences`).
    fn reader(&self, caller: &Credentials) -> Cow<'_, Actors> {
        // Without read replicas, or before this process has written, every fence is 0: no
        // lookup (a lock and a hash of the token) on the read path.
        if self.actors.written() == 0 {
            return Cow::Borrowed(&self.actors);
        }
        Cow::Owned(self.actors.reading_after(self.fences.of(caller)))
    }

    /// Notes that `caller` wrote (with read replicas: its reads now wait for its write).
    fn wrote(&self, caller: &Credentials) {
        self.fences.wrote(caller, self.actors.written());
    }

    /// Whether requests need credentials (the front-ends read them only then).
    pub fn checks_credentials(&self) -> bool {
        self.gate.checks()
    }

    /// Lets the caller `verb` `resource` in `namespace`, or fails with Unauthenticated or
    /// PermissionDenied.
    pub async fn allow(
        &self,
        caller: &Credentials,
        verb: Verb,
        resource: Resource,
        namespace: String,
    ) -> Result<(), ApiError> {
        if !self.gate.checks() {
            return Ok(());
        }
        let access = Access {
            verb,
            resource,
            namespace: Some(namespace),
        };
        Ok(self.gate.check(caller, access).await?)
    }

    /// Narrows a listing's namespace scope to where the caller may list `resource`.
    async fn narrow(
        &self,
        caller: &Credentials,
        resource: Resource,
        scope: ListScope,
    ) -> Result<ListScope, ApiError> {
        Ok(self
            .gate
            .narrow(caller, resource, scope, &self.actors)
            .await?)
    }

    /// The namespaces holding Results that `caller` may list, in order: at most
    /// [`MAX_LISTED_NAMESPACES`].
    pub async fn list_namespaces(&self, caller: &Credentials) -> Result<Vec<String>, ApiError> {
        match self
            .narrow(caller, Resource::Results, ListScope::Any)
            .await?
        {
            ListScope::Among(permitted) => Ok(permitted),
            _ => {
                let mut all = self.actors.list_parents(MAX_LISTED_NAMESPACES).await?;
                all.truncate(MAX_LISTED_NAMESPACES);
                Ok(all)
            }
        }
    }

    /// CreateResult, answering the fields `mask` keeps.
    pub async fn create_result(
        &self,
        caller: &Credentials,
        req: pb::CreateResultRequest,
        mask: &FieldMask,
    ) -> Result<pb::Result, ApiError> {
        let namespace = parent_namespace(&req.parent)?;
        self.allow(caller, Verb::Create, Resource::Results, namespace)
            .await?;
        let new = convert::create_result(req)?;
        let mut result = convert::result_to_pb(self.actors.create_result(new).await?);
        self.wrote(caller);
        fields::trim_result(mask, &mut result);
        Ok(result)
    }

    /// GetResult, answering the fields `mask` keeps.
    pub async fn get_result(
        &self,
        caller: &Credentials,
        req: pb::GetResultRequest,
        mask: &FieldMask,
    ) -> Result<pb::Result, ApiError> {
        let name = ResultName::parse(&req.name)?;
        self.allow(caller, Verb::Get, Resource::Results, name.parent.clone())
            .await?;
        let mut result = convert::result_to_pb(self.reader(caller).get_result(name).await?);
        fields::trim_result(mask, &mut result);
        Ok(result)
    }

    /// UpdateResult, answering the fields `mask` keeps.
    pub async fn update_result(
        &self,
        caller: &Credentials,
        req: pb::UpdateResultRequest,
        mask: &FieldMask,
    ) -> Result<pb::Result, ApiError> {
        let namespace = ResultName::parse(&req.name)?.parent;
        self.allow(caller, Verb::Update, Resource::Results, namespace)
            .await?;
        let replacement = convert::update_result(req)?;
        let mut result = convert::result_to_pb(self.actors.update_result(replacement).await?);
        self.wrote(caller);
        fields::trim_result(mask, &mut result);
        Ok(result)
    }

    /// DeleteResult.
    pub async fn delete_result(
        &self,
        caller: &Credentials,
        req: pb::DeleteResultRequest,
    ) -> Result<(), ApiError> {
        let name = ResultName::parse(&req.name)?;
        self.allow(caller, Verb::Delete, Resource::Results, name.parent.clone())
            .await?;
        self.actors.delete_result(name.clone()).await?;
        self.wrote(caller);
        Ok(self.logs.forget_result(&name).await?)
    }

    /// ListResults, answering the fields `mask` keeps.
    pub async fn list_results(
        &self,
        caller: &Credentials,
        req: pb::ListResultsRequest,
        mask: &FieldMask,
    ) -> Result<pb::ListResultsResponse, ApiError> {
        let mut request = convert::list_results(req)?;
        request.scope = self
            .narrow(caller, Resource::Results, request.scope)
            .await?;
        let page = self.reader(caller).list_results(request).await?;
        let mut answer = pb::ListResultsResponse {
            results: page.items.into_iter().map(convert::result_to_pb).collect(),
            next_page_token: page.next_page_token,
        };
        fields::trim_results_page(mask, &mut answer);
        Ok(answer)
    }

    /// CreateRecord, answering the fields `mask` keeps (checked before the write).
    pub async fn create_record(
        &self,
        caller: &Credentials,
        req: pb::CreateRecordRequest,
        mask: &FieldMask,
    ) -> Result<pb::Record, ApiError> {
        // Named as the field the caller sent, not as the Result name it must be.
        let namespace = ResultName::parse(&req.parent)
            .map_err(|e| ApiError::InvalidArgument(format!("parent: {e}")))?
            .parent;
        self.allow(caller, Verb::Create, Resource::Records, namespace)
            .await?;
        let new = convert::create_record(req)?;
        let projection = fields::record_projection(Some(mask))?;
        let mut record = convert::record_to_pb(self.actors.create_record(new).await?);
        self.wrote(caller);
        fields::trim_written_record(mask, &projection, &mut record);
        Ok(record)
    }

    /// GetRecord, answering the fields `mask` keeps (and reading no more of the
    /// document than they need).
    pub async fn get_record(
        &self,
        caller: &Credentials,
        req: pb::GetRecordRequest,
        mask: &FieldMask,
    ) -> Result<pb::Record, ApiError> {
        let name = RecordName::parse(&req.name)?;
        self.allow(caller, Verb::Get, Resource::Records, name.parent.clone())
            .await?;
        let projection = fields::record_projection(Some(mask))?;
        let mut record =
            convert::record_to_pb(self.reader(caller).get_record(name, projection).await?);
        fields::trim_record(mask, &mut record);
        Ok(record)
    }

    /// UpdateRecord, answering the fields `mask` keeps (checked before the write).
    pub async fn update_record(
        &self,
        caller: &Credentials,
        req: pb::UpdateRecordRequest,
        mask: &FieldMask,
    ) -> Result<pb::Record, ApiError> {
        let Some(record) = &req.record else {
            return Err(ApiError::InvalidArgument("record is required".into()));
        };
        let namespace = RecordName::parse(&record.name)?.parent;
        self.allow(caller, Verb::Update, Resource::Records, namespace)
            .await?;
        let patch = convert::update_record(req)?;
        let projection = fields::record_projection(Some(mask))?;
        let mut record = convert::record_to_pb(self.actors.update_record(patch).await?);
        self.wrote(caller);
        fields::trim_written_record(mask, &projection, &mut record);
        Ok(record)
    }

    /// DeleteRecord.
    pub async fn delete_record(
        &self,
        caller: &Credentials,
        req: pb::DeleteRecordRequest,
    ) -> Result<(), ApiError> {
        let name = RecordName::parse(&req.name)?;
        self.allow(caller, Verb::Delete, Resource::Records, name.parent.clone())
            .await?;
        self.actors.delete_record(name.clone()).await?;
        self.wrote(caller);
        Ok(self.logs.forget_record(&name).await?)
    }

    /// ListRecords, answering the fields `mask` keeps (and reading no more of each
    /// document than they need).
    pub async fn list_records(
        &self,
        caller: &Credentials,
        req: pb::ListRecordsRequest,
        mask: &FieldMask,
    ) -> Result<pb::ListRecordsResponse, ApiError> {
        let mut request = convert::list_records(req)?;
        request.scope.parent = self
            .narrow(caller, Resource::Records, request.scope.parent)
            .await?;
        let projection = fields::record_projection(fields::listed_records(mask))?;
        let page = self
            .reader(caller)
            .list_records(request, projection)
            .await?;
        let mut answer = pb::ListRecordsResponse {
            records: page.items.into_iter().map(convert::record_to_pb).collect(),
            next_page_token: page.next_page_token,
        };
        fields::trim_records_page(mask, &mut answer);
        Ok(answer)
    }

    /// GetRecordListSummary.
    pub async fn get_record_list_summary(
        &self,
        caller: &Credentials,
        req: pb::RecordListSummaryRequest,
    ) -> Result<pb::RecordListSummary, ApiError> {
        // The scope first: the summary spec is read only for callers who may list.
        let parent = RecordScope::parse(&req.parent)?.parent;
        let parent = self.narrow(caller, Resource::Records, parent).await?;
        let mut request = convert::summarize_records(req)?;
        request.scope.parent = parent;
        Ok(convert::summary_to_pb(
            self.reader(caller).summarize_records(request).await?,
        ))
    }

    /// UpdateLog: stores the log `name` (checked by the caller with [`Self::log_name`]
    /// and [`Self::allow_log`]) from `chunks`; answers the Log Record's name and the bytes
    /// received.
    pub async fn update_log(
        &self,
        name: &LogName,
        chunks: impl futures::Stream<Item = Result<tonic::codegen::Bytes, results_actors::Error>> + Send,
    ) -> Result<pb::LogSummary, ApiError> {
        let (record, received) = self.logs.upload(name, chunks).await?;
        Ok(pb::LogSummary {
            record: record.to_string(),
            bytes_received: i64::try_from(received).unwrap_or(i64::MAX),
        })
    }

    /// Parses a log name (`…/logs/<record>[/<part>]`).
    pub fn log_name(name: &str) -> Result<LogName, ApiError> {
        Ok(LogName::parse(name)?)
    }

    /// Lets the caller `verb` the log `name`, or fails.
    pub async fn allow_log(
        &self,
        caller: &Credentials,
        verb: Verb,
        name: &LogName,
    ) -> Result<(), ApiError> {
        self.allow(caller, verb, Resource::Logs, name.record.parent.clone())
            .await
    }

    /// GetLog: the log's chunks.
    pub async fn get_log(&self, caller: &Credentials, name: &str) -> Result<LogStream, ApiError> {
        let name = Self::log_name(name)?;
        self.allow_log(caller, Verb::Get, &name).await?;
        Ok(self.logs.download(&name).await?)
    }

    /// DeleteLog.
    pub async fn delete_log(&self, caller: &Credentials, name: &str) -> Result<(), ApiError> {
        let name = Self::log_name(name)?;
        self.allow_log(caller, Verb::Delete, &name).await?;
        Ok(self.logs.delete(&name).await?)
    }

    /// ListLogs: the Log Records under `parent` matching the filter.
    pub async fn list_logs(
        &self,
        caller: &Credentials,
        req: pb::ListRecordsRequest,
    ) -> Result<pb::ListRecordsResponse, ApiError> {
        let mut request = convert::list_records(req)?;
        request.scope.parent = self
            .narrow(caller, Resource::Logs, request.scope.parent)
            .await?;
        let page = self.logs.list(request).await?;
        Ok(pb::ListRecordsResponse {
            records: page.items.into_iter().map(convert::record_to_pb).collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// WatchResults: the stream of matching Result changes (see `watch.proto`).
    pub async fn watch_results(
        &self,
        caller: &Credentials,
        req: pb::WatchResultsRequest,
    ) -> Result<WatchStream<pb::ResultEvent>, ApiError> {
        let parent = ListScope::parse(&req.parent, "parent", &req.parent)?;
        let subscription = self
            .open_watch(caller, Resource::Results, parent, WatchKind::Results, &req)
            .await?;
        Ok(WatchStream {
            subscription,
            convert: |event| {
                let (kind, revision, object) = event_parts(event);
                pb::ResultEvent {
                    r#type: kind as i32,
                    revision,
                    object: match object {
                        Some(ChangedObject::Result(r)) => Some(convert::result_to_pb(r)),
                        _ => None,
                    },
                }
            },
        })
    }

    /// WatchRecords: the stream of matching Record changes (see `watch.proto`).
    pub async fn watch_records(
        &self,
        caller: &Credentials,
        req: pb::WatchRecordsRequest,
    ) -> Result<WatchStream<pb::RecordEvent>, ApiError> {
        let scope = RecordScope::parse(&req.parent)?;
        let kind = WatchKind::Records {
            result: scope.result,
        };
        let subscription = self
            .open_watch(caller, Resource::Records, scope.parent, kind, &req)
            .await?;
        Ok(WatchStream {
            subscription,
            convert: |event| {
                let (kind, revision, object) = event_parts(event);
                pb::RecordEvent {
                    r#type: kind as i32,
                    revision,
                    object: match object {
                        Some(ChangedObject::Record(r)) => Some(convert::record_to_pb(r)),
                        _ => None,
                    },
                }
            },
        })
    }

    /// Opens a watch of `kind` under `parent` once the caller may see it, with the
    /// request's filter (checked against `resource`'s fields) and resume point.
    async fn open_watch(
        &self,
        caller: &Credentials,
        resource: Resource,
        parent: ListScope,
        kind: WatchKind,
        req: &impl WatchParams,
    ) -> Result<Subscription, ApiError> {
        let (parent, visibility) = self.watch_scope(caller, resource, parent).await?;
        let environment = match kind {
            WatchKind::Results => FilterEnvironment::Results,
            WatchKind::Records { .. } => FilterEnvironment::Records,
        };
        let filter = results_actors::Filter::compile(req.filter(), environment)?;
        Ok(self
            .actors
            .watch(WatchRequest {
                parent,
                kind,
                filter,
                resume_from: req.resume_from(),
                visibility,
            })
            .await?)
    }

    /// The namespaces a watch may see: one the caller may list (checked when the stream
    /// opens), or for `-` every namespace when it may list everywhere, else the ones it may
    /// list, decided change by change (namespaces appear while a stream is open).
    async fn watch_scope(
        &self,
        caller: &Credentials,
        resource: Resource,
        parent: ListScope,
    ) -> Result<(ListScope, Option<Visibility>), ApiError> {
        match parent {
            ListScope::Exactly(namespace) => {
                self.allow(caller, Verb::List, resource, namespace.clone())
                    .await?;
                Ok((ListScope::Exactly(namespace), None))
            }
            other => {
                if self.gate.may_list(caller, resource, None).await? {
                    return Ok((other, None));
                }
                Ok((
                    other,
                    Some(Visibility {
                        gate: self.gate.clone(),
                        credentials: caller.clone(),
                        resource,
                    }),
                ))
            }
        }
    }
}

/// What the two watch requests share.
trait WatchParams {
    fn filter(&self) -> &str;
    fn resume_from(&self) -> Option<i64>;
}

impl WatchParams for pb::WatchResultsRequest {
    fn filter(&self) -> &str {
        &self.filter
    }
    fn resume_from(&self) -> Option<i64> {
        self.resume_from
    }
}

impl WatchParams for pb::WatchRecordsRequest {
    fn filter(&self) -> &str {
        &self.filter
    }
    fn resume_from(&self) -> Option<i64> {
        self.resume_from
    }
}

/// An event's type, revision and object (none in a bookmark).
fn event_parts(event: WatchEvent) -> (pb::EventType, i64, Option<ChangedObject>) {
    match event {
        WatchEvent::Bookmark(revision) => (pb::EventType::Bookmark, revision, None),
        WatchEvent::Change(change) => {
            let kind = match change.kind {
                ChangeKind::Added => pb::EventType::Added,
                ChangeKind::Modified => pb::EventType::Modified,
                ChangeKind::Deleted => pb::EventType::Deleted,
            };
            // The change is shared with other streams: its object is copied out.
            (kind, change.revision, Some(change.object.clone()))
        }
    }
}

/// A watch stream in wire messages, for both front-ends.
#[derive(Debug)]
pub struct WatchStream<T> {
    subscription: Subscription,
    convert: fn(WatchEvent) -> T,
}

impl<T> WatchStream<T> {
    /// The next event; `None` at the end. An error ends the stream.
    pub async fn next(&mut self) -> Option<Result<T, ApiError>> {
        let event = self.subscription.next().await?;
        Some(event.map(self.convert).map_err(ApiError::from))
    }

    /// As a `Stream`.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<T, ApiError>> + Send
    where
        T: Send + 'static,
    {
        futures::stream::unfold(self, |mut stream| async move {
            stream.next().await.map(|item| (item, stream))
        })
    }
}
