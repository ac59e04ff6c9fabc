//! Who may do what: the [`Gate`] every front-end request passes before its actor call.
//!
//! Modes (`auth.mode`): `none` lets everything through; `kubernetes` asks the cluster
//! (TokenReview, then SubjectAccessReview for group `results.tekton.dev`); `static` reads
//! a token file. The [`gatekeeper`] actor owns the decisions: the cache of review answers
//! in kubernetes mode, the token table (reloaded as the file changes) in static mode.
//!
//! # Layout
//! - this module: the request side ([`Credentials`], [`Access`]) and the [`Gate`] handle.
//! - [`gatekeeper`]: the actor, its cache of decisions and reviews.
//! - [`kubernetes`]: TokenReview and SubjectAccessReview through kube-rs.
//! - [`tokens`]: the static token file.
//! - `cache`: a bounded map whose entries expire.

mod cache;
pub mod gatekeeper;
pub mod kubernetes;
mod metrics;
pub mod tokens;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use futures::{StreamExt, TryStreamExt};
use results_storage::limits::MAX_LISTED_NAMESPACES;
use results_storage::model::ListScope;
use sha2::{Digest, Sha256};

use crate::{Actors, Result};
use gatekeeper::{Authority, Decide, DecisionKey, Gatekeeper, Published};
use metrics::AuthMetrics;
use prometheus_client::registry::Registry;

/// The API group of every access the server checks.
pub const API_GROUP: &str = "results.tekton.dev";

/// Why a request without a bearer token is refused (Unauthenticated).
pub const MISSING_TOKEN: &str =
    "this server needs a bearer token: send 'authorization: Bearer <token>'";

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one object.
    Get,
    /// List or summarise objects.
    List,
    /// Create an object.
    Create,
    /// Change an object.
    Update,
    /// Delete an object.
    Delete,
}

impl Verb {
    /// The Kubernetes verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }
}

/// What a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Results.
    Results,
    /// Records.
    Records,
    /// Logs.
    Logs,
}

impl Resource {
    /// The Kubernetes resource name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Results => "results",
            Resource::Records => "records",
            Resource::Logs => "logs",
        }
    }
}

/// One access a request needs: a verb on a resource in a namespace (`None`: in every
/// namespace, as a List over `-` asks first).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    /// The verb.
    pub verb: Verb,
    /// The resource.
    pub resource: Resource,
    /// The namespace (a Result's parent); `None` for all of them.
    pub namespace: Option<String>,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb.as_str(), self.resource.as_str())?;
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns:?}"),
            None => f.write_str(" in all namespaces"),
        }
    }
}

/// The identity a request asks to act as (`Impersonate-*` headers); empty = none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Impersonation {
    /// `Impersonate-User`.
    pub user: Option<String>,
    /// `Impersonate-Group`, each value.
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Extra-<key>`, each value.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Impersonation {
    /// Whether the request asks to impersonate anyone.
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.groups.is_empty() && self.uid.is_none() && self.extra.is_empty()
    }
}

/// What a request presents: its bearer token and any impersonation. The token is never
/// printed (`Debug` hides it) nor logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The bearer token of the `authorization` header.
    pub token: Option<String>,
    /// The identity asked for.
    pub impersonate: Impersonation,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("impersonate", &self.impersonate)
            .finish()
    }
}

/// An authenticated identity, as TokenReview or the token file names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The uid, if known.
    pub uid: String,
    /// The groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, or one nobody issued: who is asking is unknown.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known and may not do this.
    #[error("{message}")]
    PermissionDenied {
        /// Who asked (logged).
        subject: String,
        /// Why not, for the caller.
        message: String,
    },
    /// The authority (the Kubernetes API) could not answer; retrying may help.
    #[error("{0}")]
    Unavailable(String),
}

/// Sizes of the review cache (kubernetes mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long an answer is reused; zero = not at all.
    pub ttl: Duration,
    /// Most answers kept.
    pub entries: usize,
}

/// The gate every request passes: cloneable. A check the [`Gatekeeper`] has already
/// decided is read from what it publishes; a new one is a message to it. Mode `none` has
/// no gatekeeper.
#[derive(Clone)]
pub struct Gate {
    keeper: Option<Keeper>,
    timeout: Duration,
    metrics: AuthMetrics,
}

#[derive(Clone)]
struct Keeper {
    addr: Addr<Gatekeeper>,
    published: Arc<Published>,
}

impl Keeper {
    fn start(authority: Authority, cache: CacheSettings) -> Keeper {
        let (actor, published) = Gatekeeper::new(authority, cache);
        Keeper {
            addr: actor.start(),
            published: Arc::new(published),
        }
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("checks", &self.keeper.is_some())
            .finish()
    }
}

impl Gate {
    /// Lets every request through (`auth.mode = none`).
    pub fn open() -> Gate {
        Gate {
            keeper: None,
            timeout: Duration::ZERO,
            metrics: AuthMetrics::default(),
        }
    }

    /// Asks the cluster behind `client` (`auth.mode = kubernetes`); reviews taking longer
    /// than `timeout` answer Unavailable. Must run inside an actix `System`.
    pub fn kubernetes(client: kube::Client, cache: CacheSettings, timeout: Duration) -> Gate {
        let authority = Authority::Kubernetes(Arc::new(kubernetes::Reviewer::new(client, timeout)));
        Gate {
            keeper: Some(Keeper::start(authority, cache)),
            timeout,
            metrics: AuthMetrics::default(),
        }
    }

    /// Reads the token file at `path` now (an unreadable or invalid file is an error) and
    /// again whenever it changes (`auth.mode = static`). Must run inside an actix `System`.
    pub fn static_tokens(path: &str, timeout: Duration) -> Result<Gate, tokens::TokenFileError> {
        let file = tokens::TokenFile::load(path)?;
        let authority = Authority::Static(file);
        let cache = CacheSettings {
            ttl: Duration::ZERO,
            entries: 0,
        };
        Ok(Gate {
            keeper: Some(Keeper::start(authority, cache)),
            timeout,
            metrics: AuthMetrics::default(),
        })
    }

    /// Whether requests are checked at all.
    pub fn checks(&self) -> bool {
        self.keeper.is_some()
    }

    /// Allows `access` to the caller presenting `credentials`, or says why not. Denials are
    /// logged with the subject, verb, resource and namespace (never the token).
    pub async fn check(&self, credentials: &Credentials, access: Access) -> Result<()> {
        match self.decide(credentials, access.clone()).await {
            Ok(_) => Ok(()),
            Err(error) => {
                log_denial(&error, &access);
                Err(error.into())
            }
        }
    }

    /// Narrows a listing's namespace `scope` to the namespaces where the caller may `list`
    /// `resource`: a `-` stays `-` when the caller may list in all namespaces, and becomes
    /// the namespaces holding Results that the caller may list in otherwise (none: an
    /// empty listing, not a denial). A literal namespace is checked as it is.
    pub async fn narrow(
        &self,
        credentials: &Credentials,
        resource: Resource,
        scope: ListScope,
        actors: &Actors,
    ) -> Result<ListScope> {
        let access = |namespace: Option<String>| Access {
            verb: Verb::List,
            resource,
            namespace,
        };
        let Some(_) = &self.keeper else {
            return Ok(scope);
        };
        if let ListScope::Exactly(namespace) = &scope {
            self.check(credentials, access(Some(namespace.clone())))
                .await?;
            return Ok(scope);
        }
        let subject = match self.decide(credentials, access(None)).await {
            Ok(_) => return Ok(scope),
            Err(AuthError::PermissionDenied { subject, .. }) => subject,
            Err(error) => {
                log_denial(&error, &access(None));
                return Err(error.into());
            }
        };
        let namespaces = actors.list_parents(MAX_LISTED_NAMESPACES).await?;
        if namespaces.len() > MAX_LISTED_NAMESPACES {
            let error = AuthError::PermissionDenied {
                subject,
                message: format!(
                    "listing over '-' without permission to list in all namespaces checks \
                     each namespace, and more than {MAX_LISTED_NAMESPACES} hold results: list \
                     one namespace at a time, or ask for list permission in all namespaces"
                ),
            };
            log_denial(&error, &access(None));
            return Err(error.into());
        }
        let mut permitted: Vec<String> = futures::stream::iter(namespaces)
            .map(|namespace| async move {
                match self
                    .decide(credentials, access(Some(namespace.clone())))
                    .await
                {
                    Ok(_) => Ok(Some(namespace)),
                    Err(AuthError::PermissionDenied { .. }) => Ok(None),
                    Err(error) => Err(error),
                }
            })
            .buffer_unordered(CONCURRENT_REVIEWS)
            .try_filter_map(|allowed| async move { Ok(allowed) })
            .try_collect()
            .await?;
        permitted.sort_unstable();
        Ok(ListScope::Among(permitted))
    }

    /// Whether the caller may list `resource` in `namespace` (`None`: in every namespace).
    /// A denial is an answer here, not an error (a watch over `-` asks it of each
    /// namespace it would deliver a change from, and skips the ones it may not see).
    pub async fn may_list(
        &self,
        credentials: &Credentials,
        resource: Resource,
        namespace: Option<&str>,
    ) -> Result<bool> {
        if self.keeper.is_none() {
            return Ok(true);
        }
        let access = Access {
            verb: Verb::List,
            resource,
            namespace: namespace.map(str::to_owned),
        };
        match self.decide(credentials, access.clone()).await {
            Ok(_) => Ok(true),
            Err(AuthError::PermissionDenied { .. }) => Ok(false),
            Err(error) => {
                log_denial(&error, &access);
                Err(error.into())
            }
        }
    }

    /// Adds the gate's metrics to `registry`: decisions by outcome and, in kubernetes
    /// mode, decision cache lookups.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// The gatekeeper's decision on `access`, not logged, counted.
    async fn decide(
        &self,
        credentials: &Credentials,
        access: Access,
    ) -> Result<Arc<User>, AuthError> {
        let decision = self.decide_uncounted(credentials, access).await;
        if self.keeper.is_some() {
            self.metrics.decided(&decision);
        }
        decision
    }

    async fn decide_uncounted(
        &self,
        credentials: &Credentials,
        access: Access,
    ) -> Result<Arc<User>, AuthError> {
        let Some(keeper) = &self.keeper else {
            return Ok(Arc::new(User::default()));
        };
        let Some(token) = credentials.token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(AuthError::Unauthenticated(MISSING_TOKEN.into()));
        };
        let key = DecisionKey {
            token_hash: Sha256::digest(token.as_bytes()).into(),
            impersonate: credentials.impersonate.clone(),
            access,
        };
        let cached = keeper.published.lookup(&key);
        if let Published::Cache(_) = &*keeper.published {
            self.metrics.looked_up(cached.is_some());
        }
        if let Some(decision) = cached {
            return decision;
        }
        let message = Decide {
            token: token.to_owned(),
            key,
        };
        // The gatekeeper bounds each review by the timeout; the margin covers its queue.
        match keeper.addr.send(message).timeout(self.timeout * 2).await {
            Ok(decision) => decision,
            Err(_) => Err(AuthError::Unavailable(
                "the authorization check did not finish in time".into(),
            )),
        }
    }
}

/// Namespaces checked at once when a `-` listing is narrowed.
const CONCURRENT_REVIEWS: usize = 16;

fn log_denial(error: &AuthError, access: &Access) {
    let namespace = access.namespace.as_deref().unwrap_or("*");
    let (verb, resource) = (access.verb.as_str(), access.resource.as_str());
    match error {
        AuthError::Unauthenticated(reason) => {
            tracing::info!(
                verb,
                resource,
                namespace,
                reason,
                "unauthenticated request refused"
            )
        }
        AuthError::PermissionDenied { subject, message } => {
            tracing::warn!(
                subject,
                verb,
                resource,
                namespace,
                reason = message,
                "request denied"
            )
        }
        AuthError::Unavailable(reason) => {
            tracing::warn!(
                verb,
                resource,
                namespace,
                reason,
                "authorization check failed"
            )
        }
    }
}
