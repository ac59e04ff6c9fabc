//! The fixed catalogue the workload draws from: namespaces, pipelines and their tasks,
//! container images and the script lines that pad step scripts.

pub(crate) const NAMESPACES: &[&str] = &["ci", "team-payments", "team-search", "default"];

pub(crate) struct Pipeline {
    pub(crate) name: &'static str,
    pub(crate) repo: &'static str,
    pub(crate) tasks: [&'static str; 4],
}

pub(crate) const PIPELINES: &[Pipeline] = &[
    Pipeline {
        name: "build-and-push",
        repo: "https://github.com/acme/checkout",
        tasks: ["git-clone", "golang-build", "trivy-scan", "kaniko"],
    },
    Pipeline {
        name: "unit-tests",
        repo: "https://github.com/acme/search-api",
        tasks: ["git-clone", "golangci-lint", "golang-build", "golang-test"],
    },
    Pipeline {
        name: "integration-tests",
        repo: "https://github.com/acme/ledger",
        tasks: ["git-clone", "golang-build", "kaniko", "e2e-tests"],
    },
    Pipeline {
        name: "deploy-staging",
        repo: "https://github.com/acme/checkout",
        tasks: ["git-clone", "kaniko", "kubectl-deploy", "e2e-tests"],
    },
    Pipeline {
        name: "deploy-prod",
        repo: "https://github.com/acme/ledger",
        tasks: ["git-clone", "trivy-scan", "kaniko", "kubectl-deploy"],
    },
    Pipeline {
        name: "nightly-e2e",
        repo: "https://github.com/acme/search-api",
        tasks: ["git-clone", "golang-build", "golang-test", "e2e-tests"],
    },
    Pipeline {
        name: "docs-site",
        repo: "https://github.com/acme/docs",
        tasks: ["git-clone", "golang-build", "kaniko", "kubectl-deploy"],
    },
    Pipeline {
        name: "release",
        repo: "https://github.com/acme/cli",
        tasks: ["git-clone", "golang-test", "kaniko", "trivy-scan"],
    },
];

/// The pipeline whose label the pipeline-filter listing asks for.
pub const FILTER_PIPELINE: &str = "build-and-push";

pub(crate) const GIT_INIT: &str =
    "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/git-init:v0.59.2";
pub(crate) const GO: &str = "docker.io/library/golang:1.22";
pub(crate) const ALPINE: &str = "docker.io/library/alpine:3.20";
pub(crate) const KUBECTL: &str = "docker.io/bitnami/kubectl:1.30";

pub(crate) fn task_steps(task: &str) -> &'static [(&'static str, &'static str)] {
    match task {
        "git-clone" => &[
            ("init", ALPINE),
            ("clone", GIT_INIT),
            ("report-commit", ALPINE),
        ],
        "golang-build" => &[
            ("fetch-deps", GO),
            ("vet", GO),
            ("build", GO),
            ("archive", ALPINE),
        ],
        "golang-test" => &[("fetch-deps", GO), ("unit-test", GO), ("coverage", GO)],
        "golangci-lint" => &[
            ("fetch-deps", GO),
            ("lint", "docker.io/golangci/golangci-lint:v1.59"),
            ("summary", ALPINE),
        ],
        "kaniko" => &[
            ("build-and-push", "gcr.io/kaniko-project/executor:v1.23.0"),
            ("write-url", "docker.io/library/bash:5.2"),
            ("sbom", "docker.io/anchore/syft:v1.8.0"),
        ],
        "trivy-scan" => &[
            ("db-update", "docker.io/aquasec/trivy:0.52.0"),
            ("scan", "docker.io/aquasec/trivy:0.52.0"),
            ("report", ALPINE),
        ],
        "kubectl-deploy" => &[
            ("render", "docker.io/alpine/kustomize:5.4.2"),
            ("apply", KUBECTL),
            ("rollout-status", KUBECTL),
            ("smoke-test", ALPINE),
        ],
        _ => &[("setup", ALPINE), ("run-e2e", GO), ("collect-logs", ALPINE)],
    }
}

pub(crate) const SCRIPT_LINES: &[&str] = &[
    "echo \"==> $(date -u +%FT%TZ) starting step in $(pwd)\"",
    "cd \"$(workspaces.source.path)\"",
    "git config --global --add safe.directory \"$(workspaces.source.path)\"",
    "export GOFLAGS=\"-mod=readonly\" GOCACHE=/workspace/.cache/go-build GOMODCACHE=/workspace/.cache/mod",
    "go mod download -x 2>&1 | tail -n 20",
    "go vet ./...",
    "go build -trimpath -ldflags \"-s -w -X main.version=$(params.revision)\" -o bin/ ./...",
    "go test -race -count=1 -coverprofile=coverage.out ./... | tee /workspace/test.log",
    "go tool cover -func=coverage.out | tail -n 1",
    "if [ -n \"${DOCKER_CONFIG:-}\" ]; then cp /tekton/creds/.docker/config.json \"$DOCKER_CONFIG/\"; fi",
    "kubectl -n \"$(params.namespace)\" apply --server-side --field-manager=tekton -f manifests/",
    "kubectl -n \"$(params.namespace)\" rollout status deploy/\"$(params.app)\" --timeout=300s",
    "trivy image --exit-code 1 --severity HIGH,CRITICAL --no-progress \"$(params.image)\"",
    "printf '%s' \"$(params.image)@${DIGEST}\" | tee \"$(results.IMAGE_URL.path)\"",
    "for f in $(find . -name '*.yaml' -newer .git/HEAD); do yq -i '.metadata.labels.app = \"demo\"' \"$f\"; done",
    "test -f go.sum || { echo 'go.sum is missing' >&2; exit 1; }",
    "curl -fsSL --retry 3 \"https://artifacts.example.com/$(params.revision)/manifest.json\" -o /tmp/manifest.json",
    "# retry flaky network operations up to three times before giving up",
    "attempt=0; until [ $attempt -ge 3 ]; do make check && break; attempt=$((attempt+1)); sleep 5; done",
    "echo \"step finished in ${SECONDS}s\"",
];
