//! TokenReview and SubjectAccessReview: the tokens and access rules tests register, and the
//! two cluster-scoped create endpoints that answer reviews against them as the apiserver
//! does (201 with the review and its `status`, for unknown tokens and denials too).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};

use super::meta::Resource;
use super::rbac::{AccessRequest, AccessRule};
use super::status::{ApiError, ApiResult};

/// What a token authenticates as: the `status.user` of a TokenReview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewedUser {
    /// The user name (`alice`, `system:serviceaccount:ns:name`).
    pub username: String,
    /// A unique id of the user; empty: none.
    pub uid: String,
    /// The groups the user belongs to.
    pub groups: Vec<String>,
    /// Extra attributes (for instance `scopes`).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl ReviewedUser {
    /// `username` in `groups`, with uid `uid-{username}` and no extra attributes.
    pub fn named(username: &str, groups: &[&str]) -> ReviewedUser {
        ReviewedUser {
            username: username.to_owned(),
            uid: format!("uid-{username}"),
            groups: groups.iter().map(|&g| g.to_owned()).collect(),
            extra: BTreeMap::new(),
        }
    }

    /// The `UserInfo` object, leaving out empty fields as the apiserver does.
    fn to_json(&self) -> Value {
        let mut user = json!({"username": self.username});
        if !self.uid.is_empty() {
            user["uid"] = self.uid.clone().into();
        }
        if !self.groups.is_empty() {
            user["groups"] = json!(self.groups);
        }
        if !self.extra.is_empty() {
            user["extra"] = json!(self.extra);
        }
        user
    }
}

/// Which review endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Review {
    /// `POST /apis/authentication.k8s.io/v1/tokenreviews`.
    Token,
    /// `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`.
    Access,
}

impl Review {
    /// The review endpoint at `path`, if it is one.
    pub fn at(path: &str) -> Option<Review> {
        match path.trim_end_matches('/') {
            "/apis/authentication.k8s.io/v1/tokenreviews" => Some(Review::Token),
            "/apis/authorization.k8s.io/v1/subjectaccessreviews" => Some(Review::Access),
            _ => None,
        }
    }

    fn resource(self) -> Resource {
        match self {
            Review::Token => Resource::new("authentication.k8s.io/v1", "tokenreviews"),
            Review::Access => Resource::new("authorization.k8s.io/v1", "subjectaccessreviews"),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Review::Token => "TokenReview",
            Review::Access => "SubjectAccessReview",
        }
    }
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, ReviewedUser>,
    rules: Vec<AccessRule>,
    token_reviews: Vec<Value>,
    access_reviews: Vec<Value>,
    failure: Option<u16>,
}

impl State {
    fn log(&mut self, review: Review) -> &mut Vec<Value> {
        match review {
            Review::Token => &mut self.token_reviews,
            Review::Access => &mut self.access_reviews,
        }
    }

    /// The `status` of a TokenReview with `spec`.
    fn token_status(&self, spec: &Value) -> ApiResult<Value> {
        let token = spec["token"].as_str().unwrap_or_default();
        if token.is_empty() {
            return Err(ApiError::bad_request(
                "token is required for TokenReview in authentication",
            ));
        }
        let Some(user) = self.tokens.get(token) else {
            // The apiserver leaves `authenticated: false` out (omitempty).
            return Ok(json!({"user": {}, "error": "invalid bearer token"}));
        };
        let mut status = json!({"authenticated": true, "user": user.to_json()});
        // Every registered token is valid for any audience: the requested ones are echoed.
        if let Some(audiences) = spec["audiences"].as_array().filter(|a| !a.is_empty()) {
            status["audiences"] = Value::Array(audiences.clone());
        }
        Ok(status)
    }

    /// The `status` of a SubjectAccessReview with `spec`.
    fn access_status(&self, spec: &Value) -> ApiResult<Value> {
        let invalid = |why: &str| Err(ApiError::invalid(&Review::Access.resource(), "", why));
        let resource = spec["resourceAttributes"].is_object();
        let non_resource = spec["nonResourceAttributes"].is_object();
        if resource == non_resource {
            return invalid(
                "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes \
                 or resourceAttributes must be specified",
            );
        }
        let request = AccessRequest::from_spec(spec);
        if request.user.is_empty() && request.groups.is_empty() {
            return invalid(
                "spec.user: Invalid value: \"\": at least one of user or group must be specified",
            );
        }
        // No rule covers non-resource URLs: they are denied like unmatched resources.
        let allowing = resource
            .then(|| self.rules.iter().position(|rule| rule.allows(&request)))
            .flatten();
        Ok(match allowing {
            Some(index) => json!({
                "allowed": true,
                "reason": format!("RBAC: allowed by fake rule #{index}: {}", self.rules[index]),
            }),
            // RBAC never denies outright: no opinion, so no `denied` and no reason.
            None => json!({"allowed": false}),
        })
    }
}

/// The registered tokens and rules, the reviews received, and the failure to answer with.
#[derive(Default)]
pub(crate) struct Reviews {
    state: Mutex<State>,
}

impl Reviews {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take the server down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add_token(&self, token: &str, user: ReviewedUser) {
        self.lock().tokens.insert(token.to_owned(), user);
    }

    pub fn remove_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    pub fn allow(&self, rule: AccessRule) {
        self.lock().rules.push(rule);
    }

    pub fn revoke_all(&self) {
        self.lock().rules.clear();
    }

    /// The bodies of the reviews received by `review`'s endpoint, in order.
    pub fn received(&self, review: Review) -> Vec<Value> {
        self.lock().log(review).clone()
    }

    pub fn fail(&self, status: Option<u16>) {
        if let Some(code) = status {
            assert!(
                (400..=599).contains(&code),
                "reviews can only fail with a 4xx or 5xx status, not {code}"
            );
        }
        self.lock().failure = status;
    }

    /// Answers a POST to `review`'s endpoint: 201 with the review and its `status`; 400 or
    /// 422 for bodies the apiserver rejects; the set failure while there is one. Every JSON
    /// body is logged, failed ones included.
    pub fn answer(&self, review: Review, body: &[u8]) -> ApiResult<(u16, Value)> {
        let mut object: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
        let mut state = self.lock();
        state.log(review).push(object.clone());
        if let Some(code) = state.failure {
            return Err(ApiError::failure(code));
        }
        let kind = review.kind();
        if !object.is_object() || object.get("kind").is_some_and(|k| k != kind) {
            return Err(ApiError::bad_request(format!("the body is not a {kind}")));
        }
        let status = match review {
            Review::Token => state.token_status(&object["spec"])?,
            Review::Access => state.access_status(&object["spec"])?,
        };
        object["apiVersion"] = review.resource().api_version().into();
        object["kind"] = kind.into();
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        object["status"] = status;
        Ok((201, object))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rbac::Subject;
    use super::*;

    fn token_review(token: &str) -> Vec<u8> {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {}, "spec": {"token": token}})
            .to_string()
            .into_bytes()
    }

    fn access_review(spec: Value) -> Vec<u8> {
        json!({"kind": "SubjectAccessReview", "spec": spec})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn token_reviews_answer_the_registered_user_and_leave_out_empty_fields() {
        let reviews = Reviews::default();
        reviews.add_token("t", ReviewedUser::named("alice", &[]));
        let (code, answer) = reviews
            .answer(Review::Token, &token_review("t"))
            .expect("a review");
        assert_eq!(code, 201);
        assert_eq!(
            answer["status"],
            json!({"authenticated": true, "user": {"username": "alice", "uid": "uid-alice"}})
        );
        assert_eq!(answer["spec"]["token"], "t");

        reviews.remove_token("t");
        let (code, answer) = reviews.answer(Review::Token, &token_review("t")).unwrap();
        assert_eq!(code, 201);
        assert_eq!(answer["status"]["error"], "invalid bearer token");
        assert_eq!(answer["status"].get("authenticated"), None);
    }

    #[test]
    fn malformed_reviews_are_rejected_like_the_apiserver_does() {
        let reviews = Reviews::default();
        let code = |review, body: &[u8]| reviews.answer(review, body).unwrap_err().code;
        assert_eq!(code(Review::Token, b"{"), 400);
        assert_eq!(code(Review::Token, &token_review("")), 400);
        assert_eq!(code(Review::Access, &token_review("t")), 400, "wrong kind");
        let no_attributes = access_review(json!({"user": "alice"}));
        assert_eq!(code(Review::Access, &no_attributes), 422);
        let nobody = access_review(json!({"resourceAttributes": {"verb": "get"}}));
        assert_eq!(code(Review::Access, &nobody), 422);
        assert_eq!(reviews.received(Review::Token).len(), 1, "JSON bodies only");
        assert_eq!(reviews.received(Review::Access).len(), 3);
    }

    #[test]
    fn access_reviews_name_the_allowing_rule_and_deny_non_resource_urls() {
        let reviews = Reviews::default();
        reviews.allow(AccessRule::results(
            Subject::User("alice".into()),
            None,
            &["*"],
        ));
        let get = access_review(json!({"user": "alice", "resourceAttributes": {
            "namespace": "ns", "verb": "get", "group": "results.tekton.dev", "resource": "results"}}));
        let (_, answer) = reviews.answer(Review::Access, &get).unwrap();
        assert_eq!(answer["status"]["allowed"], true);
        assert!(answer["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("User \"alice\""));
        assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1");

        let url = access_review(
            json!({"user": "alice", "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}),
        );
        let (_, answer) = reviews.answer(Review::Access, &url).unwrap();
        assert_eq!(answer["status"], json!({"allowed": false}));

        reviews.revoke_all();
        let (_, answer) = reviews.answer(Review::Access, &get).unwrap();
        assert_eq!(answer["status"], json!({"allowed": false}));
    }

    #[test]
    fn a_set_failure_answers_every_review_until_cleared() {
        let reviews = Reviews::default();
        reviews.add_token("t", ReviewedUser::named("alice", &[]));
        reviews.fail(Some(503));
        let error = reviews
            .answer(Review::Token, &token_review("t"))
            .unwrap_err();
        assert_eq!((error.code, error.reason), (503, "ServiceUnavailable"));
        reviews.fail(None);
        assert!(reviews.answer(Review::Token, &token_review("t")).is_ok());
        assert_eq!(reviews.received(Review::Token).len(), 2);
    }

    #[test]
    fn review_paths() {
        assert_eq!(
            Review::at("/apis/authentication.k8s.io/v1/tokenreviews"),
            Some(Review::Token)
        );
        assert_eq!(
            Review::at("/apis/authorization.k8s.io/v1/subjectaccessreviews"),
            Some(Review::Access)
        );
        assert_eq!(
            Review::at("/apis/authorization.k8s.io/v1/namespaces/ns/subjectaccessreviews"),
            None
        );
    }
}
