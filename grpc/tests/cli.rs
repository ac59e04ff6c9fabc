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

#[test]
fn an_unreadable_certificate_stops_the_server_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("results-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("tls.crt");
    std::fs::write(&cert, "not a certificate\n").unwrap();
    let mut child = results_api()
        .env(
            "RESULTS_DATABASE_URL",
            format!("sqlite://{}", dir.join("r.db").display()),
        )
        .env("RESULTS_SERVER_GRPC_ADDR", "127.0.0.1:0")
        .env("RESULTS_SERVER_REST_ADDR", "127.0.0.1:0")
        .env("RESULTS_SERVER_TLS_CERT_FILE", &cert)
        .env("RESULTS_SERVER_TLS_KEY_FILE", dir.join("tls.key"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It must exit by itself, never serve in plaintext.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("results-api kept running with an unreadable certificate");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains(cert.to_str().unwrap()), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
