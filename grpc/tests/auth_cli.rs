//! The `results-api` binary with authentication: a token file that cannot be used stops
//! it naming the file; mode `none` off loopback is refused naming the settings to change;
//! a denied request is logged with who, what and where, and no token is ever printed.

mod support;

use support::Scratch;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API: &str = "/apis/results.tekton.dev/v1alpha2";
/// How long the server may take to stop or to start before a test gives up.
const WAIT: Duration = Duration::from_secs(30);

/// `results-api` on a SQLite file in `dir`, on loopback ports the OS picks.
fn results_api(dir: &Scratch) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_results-api"));
    command
        .env(
            "RESULTS_DATABASE_URL",
            format!("sqlite://{}", dir.path("r.db").display()),
        )
        .env("RESULTS_SERVER_GRPC_ADDR", "127.0.0.1:0")
        .env("RESULTS_SERVER_REST_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The lines a child writes to one of its pipes, collected as they come.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn collect(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                sink.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// Waits for a line containing `needle` while `child` runs; returns it.
    fn wait_for(&self, needle: &str, child: &mut Child) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.0.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("results-api exited ({status}) before logging {needle:?}");
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?}: {}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `command`, which must exit by itself; returns how, with its stdout and stderr.
fn exit_of(mut command: Command) -> (ExitStatus, String, String) {
    let mut child = command.spawn().unwrap();
    let stdout = Lines::collect(child.stdout.take().unwrap());
    let stderr = Lines::collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "results-api kept running: {}\n{}",
                stdout.text(),
                stderr.text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The readers end with the pipes; give them a moment to take the last lines.
    std::thread::sleep(Duration::from_millis(100));
    (status, stdout.text(), stderr.text())
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_token_file_that_cannot_be_used_stops_the_server_naming_the_file() {
    let dir = Scratch::new("auth-cli-tokens");
    let missing = dir.path("missing.toml");
    let unparsable = dir.path("unparsable.toml");
    std::fs::write(&unparsable, "[[subjects]]\nname = \n").unwrap();
    let tokenless = dir.path("tokenless.toml");
    std::fs::write(&tokenless, "[[subjects]]\nname = \"ci\"\n").unwrap();
    for (file, reason) in [
        (&missing, "cannot be read"),
        (&unparsable, "TOML parse error"),
        (&tokenless, "subjects[0] (\"ci\")"),
    ] {
        let mut command = results_api(&dir);
        command
            .env("RESULTS_AUTH_MODE", "static")
            .env("RESULTS_AUTH_TOKENS_FILE", file);
        let (status, stdout, stderr) = exit_of(command);
        assert!(!status.success(), "{file:?}: {status}");
        assert!(
            stderr.contains(path_str(file)) && stderr.contains(reason),
            "{file:?} should be named with {reason:?}: {stderr}"
        );
        assert!(!stdout.contains("results-api serving"), "{stdout}");
    }
}

#[test]
fn no_authentication_off_loopback_is_refused_unless_forced() {
    let dir = Scratch::new("auth-cli-open");
    for (key, addr) in [
        ("RESULTS_SERVER_GRPC_ADDR", "0.0.0.0:0"),
        ("RESULTS_SERVER_REST_ADDR", "[::]:0"),
    ] {
        let mut command = results_api(&dir);
        command.env(key, addr);
        let (status, stdout, stderr) = exit_of(command);
        assert!(!status.success(), "{key}={addr}: {status}");
        assert!(
            stderr.contains("auth.mode") && stderr.contains("allow_unauthenticated_network"),
            "{key}={addr}: {stderr}"
        );
        assert!(!stdout.contains("results-api serving"), "{stdout}");
    }

    // Forced, it serves (and warns): the refusal above is about the setting alone.
    let mut child = results_api(&dir)
        .env("RESULTS_SERVER_GRPC_ADDR", "0.0.0.0:0")
        .env("RESULTS_AUTH_ALLOW_UNAUTHENTICATED_NETWORK", "true")
        .spawn()
        .unwrap();
    let stdout = Lines::collect(child.stdout.take().unwrap());
    let _stderr = Lines::collect(child.stderr.take().unwrap());
    stdout.wait_for("results-api serving", &mut child);
    assert!(
        stdout.text().contains("auth.mode = none"),
        "{}",
        stdout.text()
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_is_logged_with_who_what_and_where_but_no_token() {
    const TOKEN: &str = "reader-token-9d4c1e";
    const UNKNOWN: &str = "nobody-token-77ab02";
    let dir = Scratch::new("auth-cli-denied");
    let tokens = dir.path("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[subjects]]\nname = \"ci-reader\"\ntoken = \"{TOKEN}\"\n\
             [[subjects.grants]]\nnamespaces = [\"ci\"]\nresources = [\"results\"]\n\
             verbs = [\"get\", \"list\"]\n"
        ),
    )
    .unwrap();
    let mut child = results_api(&dir)
        .env("RESULTS_AUTH_MODE", "static")
        .env("RESULTS_AUTH_TOKENS_FILE", &tokens)
        // Our own crates at debug: no token at any level operators may turn on.
        .env(
            "RESULTS_LOG_FILTER",
            "results_grpc=debug,results_actors=debug,info",
        )
        .spawn()
        .unwrap();
    let stdout = Lines::collect(child.stdout.take().unwrap());
    let stderr = Lines::collect(child.stderr.take().unwrap());
    let serving = stdout.wait_for("results-api serving", &mut child);
    let at = serving.find("rest=").expect("the REST address is logged") + 5;
    let rest = serving[at..].split_whitespace().next().unwrap().to_owned();

    let http = reqwest::Client::new();
    let get = |path: &str, token: &str| {
        http.get(format!("http://{rest}{API}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    let allowed = get("/parents/ci/results/r", TOKEN).await.unwrap();
    assert_eq!(
        allowed.status(),
        404,
        "allowed, and there is no such Result"
    );
    let denied = get("/parents/prod/results/r", TOKEN).await.unwrap();
    assert_eq!(denied.status(), 403);
    let denied = get("/parents/ci/results/r/records", TOKEN).await.unwrap();
    assert_eq!(denied.status(), 403);
    let unknown = get("/parents/ci/results/r", UNKNOWN).await.unwrap();
    assert_eq!(unknown.status(), 401);

    let line = stdout.wait_for("namespace=\"prod\"", &mut child);
    for part in [
        "WARN",
        "request denied",
        "subject=\"ci-reader\"",
        "verb=\"get\"",
        "resource=\"results\"",
    ] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }
    let line = stdout.wait_for("resource=\"records\"", &mut child);
    for part in [
        "request denied",
        "subject=\"ci-reader\"",
        "verb=\"list\"",
        "namespace=\"ci\"",
    ] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }
    stdout.wait_for("unauthenticated request refused", &mut child);

    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(100));
    let output = format!("{}\n{}", stdout.text(), stderr.text());
    for token in [TOKEN, UNKNOWN] {
        assert!(!output.contains(token), "{token} printed:\n{output}");
    }
}
