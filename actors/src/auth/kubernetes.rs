//! TokenReview and SubjectAccessReview through kube-rs: who a token belongs to, and
//! whether a user may do something.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::Api;

use super::{Access, AuthError, Impersonation, User, API_GROUP};

/// Asks the Kubernetes API; each review is bounded by a timeout.
pub struct Reviewer {
    tokens: Api<TokenReview>,
    access: Api<SubjectAccessReview>,
    timeout: Duration,
}

/// The resource attributes of a SubjectAccessReview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    /// Empty: all namespaces (or a cluster-scoped resource).
    namespace: String,
    group: &'static str,
    resource: String,
    verb: &'static str,
    name: String,
}

impl Attributes {
    /// The attributes of an access to this API.
    pub(crate) fn of(access: &Access) -> Attributes {
        Attributes {
            namespace: access.namespace.clone().unwrap_or_default(),
            group: API_GROUP,
            resource: access.resource.as_str().to_owned(),
            verb: access.verb.as_str(),
            name: String::new(),
        }
    }

    /// The accesses impersonating as `impersonate` needs, as the Kubernetes API checks
    /// them (verb `impersonate` on users, groups, uids and userextras), each with what it
    /// allows in words.
    pub(crate) fn impersonation(impersonate: &Impersonation) -> Vec<(String, Attributes)> {
        let check = |group: &'static str, resource: String, name: &str| Attributes {
            namespace: String::new(),
            group,
            resource,
            verb: "impersonate",
            name: name.to_owned(),
        };
        let mut checks = Vec::new();
        if let Some(user) = &impersonate.user {
            // As the Kubernetes API: a service account's user name is checked as the
            // service account, in its namespace.
            let attributes = match service_account(user) {
                Some((namespace, name)) => Attributes {
                    namespace: namespace.to_owned(),
                    ..check("", "serviceaccounts".into(), name)
                },
                None => check("", "users".into(), user),
            };
            checks.push((format!("user {user:?}"), attributes));
        }
        for group in &impersonate.groups {
            checks.push((
                format!("group {group:?}"),
                check("", "groups".into(), group),
            ));
        }
        if let Some(uid) = &impersonate.uid {
            checks.push((
                format!("uid {uid:?}"),
                check("authentication.k8s.io", "uids".into(), uid),
            ));
        }
        for (key, values) in &impersonate.extra {
            for value in values {
                checks.push((
                    format!("extra {key:?}={value:?}"),
                    check("authentication.k8s.io", format!("userextras/{key}"), value),
                ));
            }
        }
        checks
    }
}

/// The namespace and name of a service account's user name
/// (`system:serviceaccount:<namespace>:<name>`).
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

impl Reviewer {
    /// Reviews through `client`, giving each review up to `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> Reviewer {
        Reviewer {
            tokens: Api::all(client.clone()),
            access: Api::all(client),
            timeout,
        }
    }

    /// The user `token` belongs to; `None` when the cluster does not accept it.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Option<User>, AuthError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: None,
            },
            ..Default::default()
        };
        let answer = self
            .ask(
                "TokenReview",
                self.tokens.create(&PostParams::default(), &review),
            )
            .await?;
        let Some(status) = answer.status.filter(|s| s.authenticated == Some(true)) else {
            return Ok(None);
        };
        let info = status.user.unwrap_or_default();
        Ok(Some(User {
            name: info.username.unwrap_or_default(),
            uid: info.uid.unwrap_or_default(),
            groups: info.groups.unwrap_or_default(),
            extra: info.extra.unwrap_or_default(),
        }))
    }

    /// Whether `user` may do what `attributes` say.
    pub(crate) async fn allowed(
        &self,
        user: &User,
        attributes: &Attributes,
    ) -> Result<bool, AuthError> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: some(&user.name),
                uid: some(&user.uid),
                groups: (!user.groups.is_empty()).then(|| user.groups.clone()),
                extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: some(&attributes.namespace),
                    group: Some(attributes.group.to_owned()),
                    resource: some(&attributes.resource),
                    verb: Some(attributes.verb.to_owned()),
                    name: some(&attributes.name),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = self
            .ask(
                "SubjectAccessReview",
                self.access.create(&PostParams::default(), &review),
            )
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    async fn ask<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = kube::Result<T>>,
    ) -> Result<T, AuthError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                tracing::warn!(%error, review = what, "the Kubernetes API refused a review");
                Err(AuthError::Unavailable(format!(
                    "the Kubernetes API could not answer a {what}; try again later"
                )))
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, review = what, "a review timed out");
                Err(AuthError::Unavailable(format!(
                    "the Kubernetes API did not answer a {what} within {:?}",
                    self.timeout
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impersonation_is_checked_as_the_kubernetes_api_checks_it() {
        let impersonate = Impersonation {
            user: Some("system:serviceaccount:ci:bot".into()),
            groups: vec!["dev".into()],
            uid: Some("42".into()),
            extra: [("scopes".to_owned(), vec!["view".to_owned()])].into(),
        };
        let attributes = Attributes::impersonation(&impersonate);
        let checks: Vec<(&str, &str, &str, &str)> = attributes
            .iter()
            .map(|(_, a)| {
                assert_eq!(a.verb, "impersonate");
                (
                    a.namespace.as_str(),
                    a.group,
                    a.resource.as_str(),
                    a.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            checks,
            [
                ("ci", "", "serviceaccounts", "bot"),
                ("", "", "groups", "dev"),
                ("", "authentication.k8s.io", "uids", "42"),
                ("", "authentication.k8s.io", "userextras/scopes", "view"),
            ]
        );
        let plain = Impersonation {
            user: Some("alice".into()),
            ..Impersonation::default()
        };
        let checks = Attributes::impersonation(&plain);
        assert_eq!(checks[0].1.resource, "users");
        assert_eq!(checks[0].1.name, "alice");
        assert_eq!(service_account("system:serviceaccount:ci"), None);
        assert_eq!(service_account("system:serviceaccount::x"), None);
    }
}
