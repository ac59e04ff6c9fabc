//! RBAC-like access rules of the fake apiserver and how a SubjectAccessReview's resource
//! attributes are matched against them, with the wildcards and scoping of real RBAC.

use std::fmt;

use serde_json::Value;

/// The group of the Tekton Results API resources.
const RESULTS_GROUP: &str = "results.tekton.dev";

/// Who a rule is bound to, as the subject of a RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user name (`alice`, `system:serviceaccount:ns:name`).
    User(String),
    /// A group name (`team-a`, `system:authenticated`).
    Group(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(name) => write!(f, "User {name:?}"),
            Subject::Group(name) => write!(f, "Group {name:?}"),
        }
    }
}

/// One grant, as a role rule bound to one subject: `verbs` on `resources` of API `group`,
/// in `namespaces` (a RoleBinding in each) or in all of them (a ClusterRoleBinding, the only
/// kind that allows cluster-wide requests such as a list across all namespaces).
///
/// `"*"` in `group`, `resources` and `verbs` matches anything, as in real RBAC; a resource
/// `"plural/subresource"` (or `"*/subresource"`) matches only that subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Whom the rule applies to.
    pub subject: Subject,
    /// The namespaces it applies in; `None`: all namespaces and cluster-wide requests.
    pub namespaces: Option<Vec<String>>,
    /// The API group (`""` for the core group).
    pub group: String,
    /// Resource plurals, `plural/subresource` or `"*"`.
    pub resources: Vec<String>,
    /// Verbs (`get`, `list`, `create`, `impersonate`, …) or `"*"`.
    pub verbs: Vec<String>,
    /// Object names the rule is limited to; empty: any. As in real RBAC, `"*"` here is a
    /// name like any other, and a rule with names never allows a request without a name.
    pub names: Vec<String>,
}

impl AccessRule {
    /// `verbs` on the Tekton Results resources (`results`, `records`, `logs` of
    /// `results.tekton.dev`) in `namespaces` (`None`: all namespaces).
    pub fn results(subject: Subject, namespaces: Option<&[&str]>, verbs: &[&str]) -> AccessRule {
        AccessRule {
            subject,
            namespaces: namespaces.map(strings),
            group: RESULTS_GROUP.to_owned(),
            resources: strings(&["results", "records", "logs"]),
            verbs: strings(verbs),
            names: Vec::new(),
        }
    }

    /// The `impersonate` verb on `resource` (`users`, `groups`, `uids` or
    /// `userextras/<key>`), limited to `names` (empty: any), as a ClusterRole grants it:
    /// group `""` for users and groups, `authentication.k8s.io` for uids and userextras.
    pub fn impersonate(subject: Subject, resource: &str, names: &[&str]) -> AccessRule {
        let group = if resource == "uids" || resource.starts_with("userextras") {
            "authentication.k8s.io"
        } else {
            ""
        };
        AccessRule {
            subject,
            namespaces: None,
            group: group.to_owned(),
            resources: vec![resource.to_owned()],
            verbs: strings(&["impersonate"]),
            names: strings(names),
        }
    }

    /// Whether the rule allows `request`.
    pub(crate) fn allows(&self, request: &AccessRequest) -> bool {
        self.binds(request)
            && self.covers_namespace(&request.namespace)
            && matches(&self.verbs, &request.verb)
            && (self.group == "*" || self.group == request.group)
            && self.covers_resource(&request.resource, &request.subresource)
            && (self.names.is_empty() || self.names.contains(&request.name))
    }

    fn binds(&self, request: &AccessRequest) -> bool {
        match &self.subject {
            Subject::User(name) => *name == request.user,
            Subject::Group(name) => request.groups.contains(name),
        }
    }

    fn covers_namespace(&self, namespace: &str) -> bool {
        match &self.namespaces {
            None => true,
            // A RoleBinding never grants cluster-wide requests.
            Some(namespaces) => !namespace.is_empty() && namespaces.iter().any(|n| n == namespace),
        }
    }

    fn covers_resource(&self, resource: &str, subresource: &str) -> bool {
        if subresource.is_empty() {
            return matches(&self.resources, resource);
        }
        let combined = format!("{resource}/{subresource}");
        let any_parent = format!("*/{subresource}");
        self.resources
            .iter()
            .any(|r| r == "*" || *r == combined || *r == any_parent)
    }
}

impl fmt::Display for AccessRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match &self.namespaces {
            None => "all namespaces".to_owned(),
            Some(namespaces) => format!("namespaces {namespaces:?}"),
        };
        write!(
            f,
            "{} may {:?} {:?} of group {:?} in {scope}",
            self.subject, self.verbs, self.resources, self.group
        )?;
        if !self.names.is_empty() {
            write!(f, " named {:?}", self.names)?;
        }
        Ok(())
    }
}

/// The attributes of a SubjectAccessReview that rules are matched against.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AccessRequest {
    pub user: String,
    pub groups: Vec<String>,
    pub namespace: String,
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

impl AccessRequest {
    /// The request of a review's `spec` with `resourceAttributes` (absent fields are empty).
    pub fn from_spec(spec: &Value) -> AccessRequest {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let attributes = &spec["resourceAttributes"];
        AccessRequest {
            user: text(&spec["user"]),
            groups: spec["groups"]
                .as_array()
                .map(|groups| groups.iter().filter_map(Value::as_str).map(str::to_owned))
                .into_iter()
                .flatten()
                .collect(),
            namespace: text(&attributes["namespace"]),
            verb: text(&attributes["verb"]),
            group: text(&attributes["group"]),
            resource: text(&attributes["resource"]),
            subresource: text(&attributes["subresource"]),
            name: text(&attributes["name"]),
        }
    }
}

/// Whether `patterns` holds `"*"` or `value`.
fn matches(patterns: &[String], value: &str) -> bool {
    patterns.iter().any(|p| p == "*" || p == value)
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|&v| v.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(namespace: &str, verb: &str, resource: &str) -> AccessRequest {
        AccessRequest {
            user: "alice".into(),
            groups: vec!["team".into()],
            namespace: namespace.into(),
            verb: verb.into(),
            group: RESULTS_GROUP.into(),
            resource: resource.into(),
            ..AccessRequest::default()
        }
    }

    fn alice() -> Subject {
        Subject::User("alice".into())
    }

    #[test]
    fn namespaced_rules_cover_only_their_namespaces_and_never_cluster_wide_requests() {
        let rule = AccessRule::results(alice(), Some(&["a", "b"]), &["get", "list"]);
        assert!(rule.allows(&request("a", "get", "records")));
        assert!(rule.allows(&request("b", "list", "logs")));
        assert!(!rule.allows(&request("c", "get", "records")));
        assert!(!rule.allows(&request("", "list", "results")));
        assert!(!rule.allows(&request("a", "delete", "records")));
        assert!(!rule.allows(&request("a", "get", "taskruns")));

        let everywhere = AccessRule::results(alice(), None, &["list"]);
        assert!(everywhere.allows(&request("", "list", "results")));
        assert!(everywhere.allows(&request("c", "list", "results")));
    }

    #[test]
    fn subjects_match_the_user_name_or_one_of_the_groups() {
        let by_group = AccessRule::results(Subject::Group("team".into()), None, &["get"]);
        assert!(by_group.allows(&request("a", "get", "results")));
        let other_group = AccessRule::results(Subject::Group("alice".into()), None, &["get"]);
        assert!(!other_group.allows(&request("a", "get", "results")));
        let other_user = AccessRule::results(Subject::User("team".into()), None, &["get"]);
        assert!(!other_user.allows(&request("a", "get", "results")));
    }

    #[test]
    fn wildcards_and_subresources_match_as_in_rbac() {
        let mut rule = AccessRule::results(alice(), None, &["*"]);
        rule.group = "*".into();
        rule.resources = vec!["*".into()];
        assert!(rule.allows(&request("a", "deletecollection", "anything")));

        rule.resources = vec!["records".into()];
        let mut status = request("a", "get", "records");
        status.subresource = "status".into();
        assert!(
            !rule.allows(&status),
            "a parent resource does not cover its subresources"
        );
        rule.resources = vec!["records/status".into()];
        assert!(rule.allows(&status));
        rule.resources = vec!["*/status".into()];
        assert!(rule.allows(&status));
        assert!(!rule.allows(&request("a", "get", "records")));
    }

    #[test]
    fn impersonation_rules_name_their_group_and_limit_names() {
        let users = AccessRule::impersonate(alice(), "users", &["bob"]);
        assert_eq!(users.group, "");
        let mut impersonate = AccessRequest {
            verb: "impersonate".into(),
            resource: "users".into(),
            name: "bob".into(),
            ..request("", "", "")
        };
        impersonate.group = String::new();
        assert!(users.allows(&impersonate));
        impersonate.name = "carol".into();
        assert!(!users.allows(&impersonate));
        impersonate.name = String::new();
        assert!(!users.allows(&impersonate), "named rules need a name");

        let extras = AccessRule::impersonate(alice(), "userextras/scopes", &[]);
        assert_eq!(extras.group, "authentication.k8s.io");
        let extra = AccessRequest {
            verb: "impersonate".into(),
            group: "authentication.k8s.io".into(),
            resource: "userextras".into(),
            subresource: "scopes".into(),
            name: "view".into(),
            ..request("", "", "")
        };
        assert!(extras.allows(&extra));
        assert_eq!(
            AccessRule::impersonate(alice(), "uids", &[]).group,
            "authentication.k8s.io"
        );
    }

    #[test]
    fn requests_are_read_from_the_review_spec() {
        let spec = json!({
            "user": "alice",
            "groups": ["team", "system:authenticated"],
            "resourceAttributes": {"namespace": "ns", "verb": "get", "group": RESULTS_GROUP, "resource": "records", "name": "r"},
        });
        let request = AccessRequest::from_spec(&spec);
        assert_eq!(request.groups, ["team", "system:authenticated"]);
        assert_eq!(
            (request.namespace.as_str(), request.name.as_str()),
            ("ns", "r")
        );
        assert_eq!(
            AccessRequest::from_spec(&json!({})),
            AccessRequest::default()
        );
    }
}
