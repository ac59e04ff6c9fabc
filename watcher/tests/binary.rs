//! The `results-watcher` binary itself, configured the way an operator would (a kubeconfig
//! file and environment variables), records a run and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use integration::tekton;
use integration::{Backend, FakeKube, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_records_a_run_and_stops_on_sigterm() {
    let api = TestServer::start(Backend::Sqlite);
    let kube = FakeKube::start();
    let dir = std::env::temp_dir().join(format!("watcher-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: nobody, user: {{}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: nobody}}}}]\n",
            kube.url()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_results-watcher"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env(
            "RESULTS_WATCHER_API_URL",
            format!("http://{}", api.grpc_addr()),
        )
        .env("RESULTS_WATCHER_METRICS_ADDR", "")
        .env("RESULTS_WATCHER_KUBERNETES_NAMESPACE", "ci")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Not in the watched namespace, and created first: a watcher of every namespace would
    // have recorded it before the run below.
    kube.create(tekton::task_run("elsewhere", "ignored", None));
    let mut run = tekton::task_run("ci", "from-the-binary", None);
    tekton::set_running(&mut run, "2026-11-29T10:00:00Z");
    tekton::set_finished(&mut run, "True", "Succeeded", "2026-11-29T10:01:00Z");
    kube.create(run);
    let stored = kube
        .wait_for(
            tekton::API_VERSION,
            tekton::TASK_RUNS,
            "ci",
            "from-the-binary",
            Duration::from_secs(30),
            |o| {
                o.is_some_and(|o| {
                    o["metadata"]["annotations"]["results.tekton.dev/stored"] == "true"
                })
            },
        )
        .await
        .unwrap();
    let record = stored["metadata"]["annotations"]["results.tekton.dev/record"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = api
        .grpc()
        .await
        .get_record(results_watcher::pb::GetRecordRequest { name: record })
        .await
        .expect("the record is stored")
        .into_inner();
    assert_eq!(got.data.unwrap().r#type, "tekton.dev/v1.TaskRun");
    let ignored = kube
        .get(
            tekton::API_VERSION,
            tekton::TASK_RUNS,
            "elsewhere",
            "ignored",
        )
        .unwrap();
    assert!(ignored["metadata"]
        .get("annotations")
        .is_none_or(|a| a.get("results.tekton.dev/record").is_none()));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}
