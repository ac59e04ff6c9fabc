//! `--auth`: the server checks callers, as in a cluster. `static` gives the load's token
//! every right in a token file; `kubernetes` starts a fake apiserver in this process whose
//! TokenReview/SubjectAccessReview allow that token everything (so after the first call per
//! namespace and verb, calls are answered from the server's review cache).

use anyhow::bail;
use integration::fake_kube::{AccessRule, ReviewedUser, Subject};
use integration::secured::TempDir;
use integration::FakeKube;
use results_grpc::settings::{AuthMode, Settings};

/// The token every load client sends when auth is on.
pub const TOKEN: &str = "results-load-token";

/// What the server checks, and what it needs for that.
pub enum Auth {
    /// Nothing.
    None,
    /// A token file.
    Static { dir: TempDir },
    /// A fake cluster.
    Kubernetes { kube: FakeKube, dir: TempDir },
}

impl Auth {
    /// Sets up `mode` (`none`, `static` or `kubernetes`).
    pub fn new(mode: &str) -> anyhow::Result<Auth> {
        Ok(match mode {
            "none" => Auth::None,
            "static" => {
                let dir = TempDir::new("results-load-auth");
                std::fs::write(
                    dir.path().join("tokens.toml"),
                    format!(
                        "[[subjects]]\nname = \"results-load\"\ntoken = \"{TOKEN}\"\n\
                         [[subjects.grants]]\nnamespaces = [\"*\"]\nresources = [\"*\"]\n\
                         verbs = [\"*\"]\n"
                    ),
                )?;
                Auth::Static { dir }
            }
            "kubernetes" => {
                let kube = FakeKube::start();
                kube.add_token(TOKEN, ReviewedUser::named("results-load", &[]));
                kube.allow(AccessRule::results(
                    Subject::User("results-load".into()),
                    None,
                    &["*"],
                ));
                let dir = TempDir::new("results-load-auth");
                kube.write_kubeconfig(dir.path());
                Auth::Kubernetes { kube, dir }
            }
            other => bail!("--auth must be none, static or kubernetes, not {other:?}"),
        })
    }

    /// The mode's name.
    pub fn name(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Static { .. } => "static",
            Auth::Kubernetes { .. } => "kubernetes",
        }
    }

    /// The headers clients send.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Auth::None => Vec::new(),
            _ => vec![("authorization", format!("Bearer {TOKEN}"))],
        }
    }

    /// The settings (as `RESULTS_*` variables) that make a server check callers this way.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let path = |dir: &TempDir, file: &str| dir.path().join(file).display().to_string();
        match self {
            Auth::None => Vec::new(),
            Auth::Static { dir } => vec![
                ("RESULTS_AUTH_MODE", "static".into()),
                ("RESULTS_AUTH_TOKENS_FILE", path(dir, "tokens.toml")),
            ],
            Auth::Kubernetes { dir, .. } => vec![
                ("RESULTS_AUTH_MODE", "kubernetes".into()),
                ("RESULTS_AUTH_KUBECONFIG", path(dir, "kubeconfig")),
            ],
        }
    }

    /// Applies the mode to in-process settings.
    pub fn apply(&self, settings: &mut Settings) {
        let path = |dir: &TempDir, file: &str| dir.path().join(file).display().to_string();
        match self {
            Auth::None => {}
            Auth::Static { dir } => {
                settings.auth.mode = AuthMode::Static;
                settings.auth.tokens_file = path(dir, "tokens.toml");
            }
            Auth::Kubernetes { dir, .. } => {
                settings.auth.mode = AuthMode::Kubernetes;
                settings.auth.kubeconfig = path(dir, "kubeconfig");
            }
        }
    }

    /// TokenReviews and SubjectAccessReviews the fake cluster answered (kubernetes mode).
    pub fn reviews(&self) -> Option<(usize, usize)> {
        match self {
            Auth::Kubernetes { kube, .. } => {
                Some((kube.token_reviews().len(), kube.access_reviews().len()))
            }
            _ => None,
        }
    }
}
