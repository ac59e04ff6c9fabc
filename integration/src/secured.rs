//! A `results-api` that checks callers: in `kubernetes` mode against a [`FakeKube`] (its
//! TokenReview and SubjectAccessReview endpoints), or in `static` mode with a token file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use results_grpc::settings::{AuthMode, Settings};
use results_storage::Backend;

use crate::{FakeKube, TestServer};

/// A directory of its own under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        let path = Self::unique_path(prefix);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    /// A path under the system's temporary directory that no other call returns (not
    /// created, not removed).
    pub fn unique_path(prefix: &str) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server in `kubernetes` auth mode and the fake cluster it asks.
pub struct KubeAuthServer {
    /// The server (declared first: stopped before the cluster goes away).
    pub api: TestServer,
    /// The cluster: register tokens and rules here.
    pub kube: FakeKube,
    _dir: TempDir,
}

impl KubeAuthServer {
    /// Starts the fake cluster, then the server on `backend` in kubernetes mode after
    /// `adjust` has changed its settings.
    pub fn start(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> KubeAuthServer {
        let kube = FakeKube::start();
        let dir = TempDir::new("kube-auth");
        let kubeconfig = kube.write_kubeconfig(dir.path());
        let api = TestServer::start_with(backend, |s| {
            s.auth.mode = AuthMode::Kubernetes;
            s.auth.kubeconfig = kubeconfig.to_string_lossy().into_owned();
            adjust(s);
        });
        KubeAuthServer {
            api,
            kube,
            _dir: dir,
        }
    }
}

/// A server in `static` auth mode and its token file.
pub struct StaticAuthServer {
    /// The server (declared first: stopped before its token file goes away).
    pub api: TestServer,
    tokens_file: PathBuf,
    _dir: TempDir,
}

impl StaticAuthServer {
    /// Writes `tokens_toml` (the format of `results_actors::auth::tokens`) to a token file,
    /// then starts the server on `backend` in static mode reading it.
    pub fn start(backend: Backend, tokens_toml: &str) -> StaticAuthServer {
        let dir = TempDir::new("static-auth");
        let tokens_file = dir.path().join("tokens.toml");
        std::fs::write(&tokens_file, tokens_toml).expect("write the token file");
        let api = TestServer::start_with(backend, |s| {
            s.auth.mode = AuthMode::Static;
            s.auth.tokens_file = tokens_file.to_string_lossy().into_owned();
        });
        StaticAuthServer {
            api,
            tokens_file,
            _dir: dir,
        }
    }

    /// The token file the server reads (rewrite it to change the tokens; the server reads
    /// it again within a few seconds).
    pub fn tokens_file(&self) -> &Path {
        &self.tokens_file
    }
}

/// `authorization: Bearer <token>`, as a header pair.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}
