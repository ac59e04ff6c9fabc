//! The `results-api` binary: bad config fails fast naming the key; `migrate` works on a
//! fresh SQLite file.

use std::process::Command;

fn results_api() -> Command {
    Command::new(env!("CARGO_BIN_EXE_results-api"))
}

#[test]
fn invalid_config_names_the_key_and_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("results-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[server]\ngrpc_addr = \"not an address\"\n").unwrap();
    let out = results_api().arg("--config").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.grpc_addr"), "{stderr}");

    let out = results_api()
        .env("RESULTS_ACTORS_WRITERS", "lots")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RESULTS_ACTORS_WRITERS"));

    let out = results_api().arg("--bogus").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn migrate_applies_then_has_nothing_pending() {
    let dir = std::env::temp_dir().join(format!("results-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("r.db").display());
    let run = || {
        let out = results_api()
            .env("RESULTS_DATABASE_URL", &url)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run().contains("20261129000001"));
    assert!(run().contains("none pending"));
    let _ = std::fs::remove_dir_all(dir);
}
