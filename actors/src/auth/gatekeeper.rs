//! The [`Gatekeeper`] actor: owns every authorization decision. In kubernetes mode it
//! keeps the answers of TokenReviews (per token hash) and whole decisions (per token hash,
//! impersonation and access) for the cache TTL, and asks the cluster once for concurrent
//! requests that need the same answer. In static mode it owns the token table and reloads
//! it when the file changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseFuture, WrapFuture,
};
use tokio::sync::oneshot;

use super::cache::TtlCache;
use super::kubernetes::{Attributes, Reviewer};
use super::tokens::TokenFile;
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

/// Decide on one access of a request.
pub(crate) struct Decide {
    /// The bearer token, for a TokenReview on a cache miss.
    pub(crate) token: String,
    /// SHA-256 of the token: the cache key (tokens themselves are not kept).
    pub(crate) token_hash: [u8; 32],
    /// The identity asked for.
    pub(crate) impersonate: Impersonation,
    /// The access.
    pub(crate) access: Access,
}

impl Message for Decide {
    type Result = Decision;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    token_hash: [u8; 32],
    impersonate: Impersonation,
    access: Access,
}

/// The actor; see the module documentation.
pub struct Gatekeeper {
    authority: Authority,
    /// Users of reviewed tokens (`None`: the token was refused).
    users: TtlCache<[u8; 32], Option<Arc<User>>>,
    decisions: TtlCache<DecisionKey, Decision>,
    /// Callers waiting for a review in progress, per decision.
    pending: HashMap<DecisionKey, Vec<oneshot::Sender<Decision>>>,
}

impl Gatekeeper {
    pub(crate) fn new(authority: Authority, cache: CacheSettings) -> Self {
        Gatekeeper {
            authority,
            users: TtlCache::new(cache.ttl, cache.entries),
            decisions: TtlCache::new(cache.ttl, cache.entries),
            pending: HashMap::new(),
        }
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
                let decision = file.decide(&msg.token_hash, &msg.impersonate, &msg.access);
                return Box::pin(std::future::ready(decision));
            }
            Authority::Kubernetes(reviewer) => reviewer.clone(),
        };
        let now = Instant::now();
        let key = DecisionKey {
            token_hash: msg.token_hash,
            impersonate: msg.impersonate,
            access: msg.access,
        };
        if let Some(decision) = self.decisions.get(&key, now) {
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
                        let now = Instant::now();
                        if let Some(user) = reviewed {
                            keeper.users.insert(key.token_hash, user, now);
                        }
                        // An outage is not an answer: the next request asks again.
                        if !matches!(decision, Err(AuthError::Unavailable(_))) {
                            keeper.decisions.insert(key.clone(), decision.clone(), now);
                        }
                        for waiter in keeper.pending.remove(&key).unwrap_or_default() {
                            let _ = waiter.send(decision.clone());
                        }
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
