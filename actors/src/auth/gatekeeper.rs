//! The [`Gatekeeper`] actor: owns every authorization decision. In kubernetes mode it
//! keeps the answers of TokenReviews (per token hash) and whole decisions (per token hash,
//! impersonation and access) for the cache TTL, and asks the cluster once for concurrent
//! requests that need the same answer. In static mode it owns the token file and reloads
//! it when it changes.
//!
//! It is the only writer of what it decides; it publishes the decisions that stand (the
//! cached ones, or the token table) in a [`Published`] that the [`super::Gate`] reads
//! without a message, so that a request it has already decided costs a shared-lock lookup
//! and only a new question reaches the actor.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseFuture, WrapFuture,
};
use tokio::sync::oneshot;

use super::cache::TtlCache;
use super::kubernetes::{Attributes, Reviewer};
use super::tokens::{TokenFile, TokenTable};
use super::{Access, AuthError, CacheSettings, Impersonation, User};

/// How often the static token file is read for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Who decides.
pub(crate) enum Authority {
    /// The Kubernetes API: TokenReview and SubjectAccessReview.
    Kubernetes(Arc<Reviewer>),
    /// A token file.
    Static(TokenFile),
}

/// A decision: the identity the request acts as, or why it may not go on.
pub(crate) type Decision = Result<Arc<User>, AuthError>;

/// What a decision is about: a token (by its SHA-256; tokens themselves are not kept),
/// the identity asked for, and the access.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DecisionKey {
    pub(crate) token_hash: [u8; 32],
    pub(crate) impersonate: Impersonation,
    pub(crate) access: Access,
}

/// The decisions that stand, readable by every request without a message.
pub(crate) enum Published {
    /// Kubernetes mode: cached decisions until they expire.
    Cache(Arc<RwLock<TtlCache<DecisionKey, Decision>>>),
    /// Static mode: the token table, replaced when the file changes.
    Tokens(Arc<RwLock<TokenTable>>),
}

impl Published {
    /// The standing decision on `key`, if any.
    pub(crate) fn lookup(&self, key: &DecisionKey) -> Option<Decision> {
        match self {
            Published::Cache(cache) => cache
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .peek(key, Instant::now()),
            Published::Tokens(table) => {
                Some(table.read().unwrap_or_else(PoisonError::into_inner).decide(
                    &key.token_hash,
                    &key.impersonate,
                    &key.access,
                ))
            }
        }
    }
}

/// Decide on one access of a request that [`Published`] could not answer.
pub(crate) struct Decide {
    /// The bearer token, for a TokenReview on a cache miss.
    pub(crate) token: String,
    /// What to decide.
    pub(crate) key: DecisionKey,
}

impl Message for Decide {
    type Result = Decision;
}

/// The actor; see the module documentation.
pub struct Gatekeeper {
    authority: Authority,
    /// Users of reviewed tokens (`None`: the token was refused).
    users: TtlCache<[u8; 32], Option<Arc<User>>>,
    decisions: Arc<RwLock<TtlCache<DecisionKey, Decision>>>,
    /// Callers waiting for a review in progress, per decision.
    pending: HashMap<DecisionKey, Vec<oneshot::Sender<Decision>>>,
}

impl Gatekeeper {
    /// The actor, and what it publishes for readers.
    pub(crate) fn new(authority: Authority, cache: CacheSettings) -> (Self, Published) {
        let decisions = Arc::new(RwLock::new(TtlCache::new(cache.ttl, cache.entries)));
        let published = match &authority {
            Authority::Kubernetes(_) => Published::Cache(decisions.clone()),
            Authority::Static(file) => Published::Tokens(file.table()),
        };
        let keeper = Gatekeeper {
            authority,
            users: TtlCache::new(cache.ttl, cache.entries),
            decisions,
            pending: HashMap::new(),
        };
        (keeper, published)
    }
}

impl Actor for Gatekeeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if matches!(self.authority, Authority::Static(_)) {
            ctx.run_interval(RELOAD_EVERY, |keeper, _| {
                if let Authority::Static(file) = &mut keeper.authority {
                    file.reload();
                }
            });
        }
    }
}

impl Handler<Decide> for Gatekeeper {
    type Result = ResponseFuture<Decision>;

    fn handle(&mut self, msg: Decide, ctx: &mut Self::Context) -> Self::Result {
        let reviewer = match &self.authority {
            Authority::Static(file) => {
                let table = file.table();
                let table = table.read().unwrap_or_else(PoisonError::into_inner);
                let key = &msg.key;
                let decision = table.decide(&key.token_hash, &key.impersonate, &key.access);
                return Box::pin(std::future::ready(decision));
            }
            Authority::Kubernetes(reviewer) => reviewer.clone(),
        };
        let now = Instant::now();
        let key = msg.key;
        let cached = self
            .decisions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key, now);
        if let Some(decision) = cached {
            return Box::pin(std::future::ready(decision));
        }
        let (tx, rx) = oneshot::channel();
        let waiting = self.pending.entry(key.clone()).or_default();
        waiting.push(tx);
        if waiting.len() == 1 {
            let known = self.users.get(&key.token_hash, now);
            let review = decide(
                reviewer,
                msg.token,
                known,
                key.impersonate.clone(),
                key.access.clone(),
            );
            ctx.spawn(
                review
                    .into_actor(self)
                    .map(move |(reviewed, decision), keeper, _| {
                        keeper.remember(key, reviewed, decision)
                    }),
            );
        }
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(AuthError::Unavailable(
                    "the authorization check stopped".into(),
                ))
            })
        })
    }
}

impl Gatekeeper {
    /// Keeps what a review found (an outage is not an answer: the next request asks
    /// again) and answers everyone waiting for it.
    fn remember(
        &mut self,
        key: DecisionKey,
        reviewed: Option<Option<Arc<User>>>,
        decision: Decision,
    ) {
        let now = Instant::now();
        if let Some(user) = reviewed {
            self.users.insert(key.token_hash, user, now);
        }
        if !matches!(decision, Err(AuthError::Unavailable(_))) {
            self.decisions
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone(), decision.clone(), now);
        }
        for waiter in self.pending.remove(&key).unwrap_or_default() {
            let _ = waiter.send(decision.clone());
        }
    }
}

/// Reviews the token unless its user is `known`, then the impersonation and the access.
/// Answers the freshly reviewed user (to remember) with the decision.
async fn decide(
    reviewer: Arc<Reviewer>,
    token: String,
    known: Option<Option<Arc<User>>>,
    impersonate: Impersonation,
    access: Access,
) -> (Option<Option<Arc<User>>>, Decision) {
    let (user, reviewed) = match known {
        Some(user) => (user, None),
        None => match reviewer.authenticate(&token).await {
            Ok(user) => {
                let user = user.map(Arc::new);
                (user.clone(), Some(user))
            }
            Err(e) => return (None, Err(e)),
        },
    };
    let Some(user) = user else {
        return (
            reviewed,
            Err(AuthError::Unauthenticated(
                "the bearer token is not valid".into(),
            )),
        );
    };
    (
        reviewed,
        authorize(&reviewer, user, &impersonate, &access).await,
    )
}

async fn authorize(
    reviewer: &Reviewer,
    caller: Arc<User>,
    impersonate: &Impersonation,
    access: &Access,
) -> Decision {
    let acting = if impersonate.is_empty() {
        caller
    } else {
        for (what, attributes) in Attributes::impersonation(impersonate) {
            if !reviewer.allowed(&caller, &attributes).await? {
                return Err(AuthError::PermissionDenied {
                    subject: caller.name.clone(),
                    message: format!("user {:?} may not impersonate {what}", caller.name),
                });
            }
        }
        Arc::new(impersonated(impersonate))
    };
    if reviewer.allowed(&acting, &Attributes::of(access)).await? {
        Ok(acting)
    } else {
        Err(denied(&acting, access))
    }
}

/// The identity of an impersonation, as the Kubernetes API forms it: a non-anonymous
/// user is also in `system:authenticated`.
fn impersonated(impersonate: &Impersonation) -> User {
    let name = impersonate.user.clone().unwrap_or_default();
    let mut groups = impersonate.groups.clone();
    if name != "system:anonymous" && !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    User {
        name,
        uid: impersonate.uid.clone().unwrap_or_default(),
        groups,
        extra: impersonate.extra.clone(),
    }
}

/// The denial of `access` to `user`.
pub(crate) fn denied(user: &User, access: &Access) -> AuthError {
    AuthError::PermissionDenied {
        subject: user.name.clone(),
        message: format!("user {:?} may not {access}", user.name),
    }
}
