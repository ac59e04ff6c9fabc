//! The `results-watcher` binary: bad settings and a missing cluster fail fast with a clear
//! message and a non-zero exit.

use std::process::Command;

fn results_watcher() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_results-watcher"));
    command.env_remove("KUBERNETES_SERVICE_HOST");
    command
}

#[test]
fn bad_settings_name_the_key_and_exit_non_zero() {
    let dir = std::env::temp_dir().join(format!("watcher-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[kubernetes]\ntekton_version = \"v2\"\n").unwrap();
    let out = results_watcher()
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kubernetes.tekton_version"), "{stderr}");

    let out = results_watcher()
        .env("RESULTS_WATCHER_WATCHER_WORKERS", "many")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RESULTS_WATCHER_WATCHER_WORKERS"));

    let out = results_watcher().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_a_cluster_it_says_so_and_exits() {
    let out = results_watcher()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .env("RESULTS_WATCHER_METRICS_ADDR", "")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let output = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(output.contains("Kubernetes client"), "{output}");
}
