//! `results-api retention run [--dry-run]` through the real binary, on a SQLite file: a
//! dry run prints what would go and deletes nothing; a run deletes exactly that (log
//! files included) and prints it; bad arguments print the usage and exit with 2.

mod support;

use support::Scratch;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use results_storage::model::{NewRecord, NewResult, RecordData, RecordName, ResultName, Timestamp};
use results_storage::{store, Database, PoolSettings};

const DAY: i64 = 86_400_000_000_000;

fn url(dir: &Scratch) -> String {
    format!("sqlite://{}", dir.0.join("r.db").display())
}

/// `results-api` over the scratch database and log directory, keeping 30 days.
fn results_api(dir: &Scratch, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_results-api"))
        .args(args)
        .env("RESULTS_DATABASE_URL", url(dir))
        .env("RESULTS_LOGS_DIR", dir.0.join("logs"))
        .env("RESULTS_RETENTION_DEFAULT_MAX_AGE", "30d")
        .env("RESULTS_LOG_FILTER", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Results `old/results/r0..3` (ended 100 days ago, two Records each, a log file for
/// r0) and `new/results/r0` (created now).
fn seed(dir: &Scratch) -> Database {
    let db = Database::connect(&url(dir), PoolSettings::default()).unwrap();
    db.migrate().unwrap();
    let now = Timestamp::now();
    let add = |name: &str, at: Timestamp| {
        db.run(|c| {
            let name = ResultName::parse(name).unwrap();
            let new = NewResult {
                name: name.clone(),
                annotations: BTreeMap::new(),
                summary: None,
            };
            store::create_result(c, new, format!("uid-{name}"), at)?;
            for record in ["a", "b"] {
                let new = NewRecord {
                    name: RecordName {
                        parent: name.parent.clone(),
                        result: name.result.clone(),
                        record: record.into(),
                    },
                    data: RecordData::new("t".into(), b"{}".to_vec()).unwrap(),
                };
                store::create_record(c, new, format!("uid-{name}-{record}"), at)?;
            }
            Ok(())
        })
        .unwrap();
    };
    for i in 0..3 {
        add(
            &format!("old/results/r{i}"),
            Timestamp::from_nanos(now.as_nanos() - 100 * DAY),
        );
    }
    add("new/results/r0", now);
    let log = dir.0.join("logs/logs/old/r0/a/log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "a log\n").unwrap();
    db
}

fn count(db: &Database, name: &str) -> bool {
    db.run(|c| Ok(store::get_result(c, &ResultName::parse(name).unwrap()).is_ok()))
        .unwrap()
}

#[test]
fn a_dry_run_reports_and_a_run_deletes() {
    let dir = Scratch::new("retention-cli-run");
    let db = seed(&dir);

    let (code, out, err) = results_api(&dir, &["retention", "run", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with("retention dry run: would delete 3 results, 6 records (0 log records)"),
        "{out}"
    );
    // Quiet at the end too (the actor system is not torn down behind the report).
    assert!(!err.contains("panicked"), "{err}");
    for i in 0..3 {
        assert!(out.contains(&format!("  old/results/r{i}\n")), "{out}");
        assert!(
            count(&db, &format!("old/results/r{i}")),
            "a dry run deletes nothing"
        );
    }
    assert!(dir.0.join("logs/logs/old/r0/a/log").exists());

    let (code, out, err) = results_api(&dir, &["retention", "run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.starts_with(
            "retention pass: deleted 3 results, 6 records (0 log records), 1 log blobs in 1 batches"
        ),
        "{out}"
    );
    for i in 0..3 {
        assert!(!count(&db, &format!("old/results/r{i}")));
    }
    assert!(count(&db, "new/results/r0"), "what is not expired stays");
    assert!(
        !dir.0.join("logs/logs/old/r0").exists(),
        "its log went with it"
    );

    let (code, out, _) = results_api(&dir, &["retention", "run", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("retention dry run: would delete 0 results"),
        "{out}"
    );
}

#[test]
fn bad_arguments_print_the_usage_and_exit_with_2() {
    let dir = Scratch::new("retention-cli-usage");
    for args in [
        &["retention"][..],
        &["retention", "go"],
        &["retention", "run", "--wet"],
    ] {
        let (code, out, err) = results_api(&dir, args);
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert!(
            err.contains("usage: results-api [--config FILE] retention run [--dry-run]"),
            "{args:?}: {err}"
        );
        assert!(out.is_empty(), "{out}");
    }
    // A bad policy is refused naming the key.
    let output = Command::new(env!("CARGO_BIN_EXE_results-api"))
        .args(["retention", "run", "--dry-run"])
        .env("RESULTS_DATABASE_URL", url(&dir))
        .env("RESULTS_RETENTION_DEFAULT_MAX_AGE", "a while")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("retention.default_max_age"), "{err}");
}
