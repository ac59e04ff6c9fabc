//! `results-load`: starts the real `results-api` in-process on loopback ports and drives it
//! over gRPC with a realistic Tekton workload, then prints a plain-text report: create,
//! get and update rates, latencies of typical listings, memory, and the yardstick of the
//! same records inserted with plain autocommit INSERT loops (into a primary-key-only table,
//! and into a copy of the records table with all its indexes).
//!
//! ```sh
//! cargo run --release -p integration --bin results-load -- \
//!     [--database-url URL] [--records N] [--concurrency C] [--record-kb K] \
//!     [--max-seconds S] [--seed S] [--reuse] [--keep] [--server-binary PATH] \
//!     [--auth none|static|kubernetes] [--gets N] [--index-costs [--index-cost-records M]]
//!     [--yardstick-records M] [--index-json-path PATH]…
//! cargo run --release -p integration --bin results-load -- --watch \
//!     [--subscribers S] [--namespaces N] [--wildcard W] [--rate R] [--seconds T] \
//!     [--record-kb K] [--poll-ms P] [--replica] [--no-baseline] [--database-url URL] \
//!     [--server-binary PATH]
//! cargo run --release -p integration --bin results-load -- --seed-upstream URL [--records N]
//! ```

mod auth;
mod catalog;
mod cpu;
mod drive;
mod raw;
mod report;
mod size;
mod stats;
mod upstream;
mod watch;
mod workload;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use results_grpc::pb::v1alpha2 as pb;

use crate::drive::Client;
use crate::raw::Backend;
use crate::report::{print_report, Report, PHASE_CREATE_1, PHASE_CREATE_C};
use crate::stats::Stats;
use crate::workload::{Kind, Workload, FILTER_PIPELINE, RECORDS_PER_RESULT};

const USAGE: &str = "usage: results-load [--database-url URL] [--records N] [--concurrency C] \
[--record-kb K] [--max-seconds S] [--seed S] [--reuse] [--keep] [--server-binary PATH]
[--auth none|static|kubernetes] [--gets N] [--index-costs [--index-cost-records M]]
[--yardstick-records M] [--index-json-path PATH]…

  --database-url URL  sqlite://PATH, postgres://… or mysql://… (the database must exist);
                      default: a SQLite file in a new temporary directory
  --records N         records to create (default 100000; one Result per 5 records)
  --concurrency C     concurrent clients (default 8)
  --record-kb K       size of each record's JSON document in KiB (default 15)
  --max-seconds S     stop every phase after S seconds in all (default 1800)
  --seed S            workload seed (default 42; with --reuse, derived from the clock)
  --reuse             run even if the database already holds results
  --keep              keep the default temporary SQLite database
  --server-binary P   run this results-api binary (default settings) as a child process
                      instead of in-process: the reported RSS is then the server's alone
  --auth MODE         none (default), static (a token file) or kubernetes (a fake apiserver
                      in this process answers TokenReviews and SubjectAccessReviews): the
                      clients send a bearer token allowed everything
  --gets N            random GetRecord calls (default 5000)
  --index-costs       after the yardsticks, the concurrent INSERT loop into the copy of
                      `records` once per index with only that index dropped
  --index-cost-records M  records per such run (default 20000)
  --yardstick-records M   the concurrent yardstick loops insert only the first M of the
                      records created at concurrency C (default: all of them)

  --index-json-path P the server indexes this JSON path (`[database] indexed_json_paths`,
                      e.g. \"data.status.conditions[0].reason\"); repeat for more

Yardsticks (after the server has stopped, on the same records): plain single-row
autocommit INSERT loops at concurrency 1 and C into load_raw (a primary key only) and
into load_records (a copy of the records table with every index, no foreign key).

--watch: watch streams under write load instead (see watch.rs); first the writes alone
(the baseline), then the same writes with the subscribers:
  --subscribers S     WatchRecords streams, each on one namespace (default 1000)
  --namespaces N      namespaces written to and watched (default 100)
  --wildcard W        more streams on '-/results/-' (default 2)
  --rate R            target CreateRecord calls per second, open loop (default 1000)
  --seconds T         seconds of writes per run (default 20)
  --record-kb K       record size (default 2 in this mode)
  --poll-ms P         the servers' watch.poll_interval_ms (default: theirs, 100)
  --replica           a second server on the same database takes the writes; the
                      subscribers stay on the first (cross-replica delivery)
  --no-baseline       skip the run without subscribers

--seed-upstream URL: instead, create upstream Tekton Results' tables in the (empty)
PostgreSQL database URL and seed --records records of 5 to 15 KiB (one Result per 5), for
measuring `results-api import` (see upstream.rs)";

#[derive(Debug)]
struct Args {
    database_url: Option<String>,
    records: u64,
    concurrency: usize,
    record_kb: usize,
    max_seconds: u64,
    seed: Option<u64>,
    reuse: bool,
    keep: bool,
    server_binary: Option<String>,
    auth: String,
    gets: u64,
    index_costs: bool,
    index_cost_records: u64,
    yardstick_records: Option<u64>,
    watch: Option<watch::WatchArgs>,
    poll_ms: Option<u64>,
    replica: bool,
    record_kb_set: bool,
    seed_upstream: Option<String>,
    indexed_json_paths: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        database_url: None,
        records: 100_000,
        concurrency: 8,
        record_kb: 15,
        max_seconds: 1800,
        seed: None,
        reuse: false,
        keep: false,
        server_binary: None,
        auth: "none".into(),
        gets: 5000,
        index_costs: false,
        index_cost_records: 20_000,
        yardstick_records: None,
        watch: None,
        poll_ms: None,
        replica: false,
        record_kb_set: false,
        seed_upstream: None,
        indexed_json_paths: Vec::new(),
    };
    let mut w = watch::WatchArgs {
        subscribers: 1000,
        namespaces: 100,
        wildcard: 2,
        rate: 1000,
        seconds: 20,
        record_bytes: 2048,
        baseline: true,
    };
    let mut watch_mode = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> anyhow::Result<T> {
            v.parse()
                .map_err(|_| anyhow::anyhow!("{flag}: {v:?} is not a number"))
        }
        match flag.as_str() {
            "--database-url" => args.database_url = Some(value(&flag)?),
            "--records" => args.records = num(&flag, value(&flag)?)?,
            "--concurrency" => args.concurrency = num(&flag, value(&flag)?)?,
            "--record-kb" => {
                args.record_kb = num(&flag, value(&flag)?)?;
                args.record_kb_set = true;
            }
            "--watch" => watch_mode = true,
            "--seed-upstream" => args.seed_upstream = Some(value(&flag)?),
            "--subscribers" => w.subscribers = num(&flag, value(&flag)?)?,
            "--namespaces" => w.namespaces = num(&flag, value(&flag)?)?,
            "--wildcard" => w.wildcard = num(&flag, value(&flag)?)?,
            "--rate" => w.rate = num(&flag, value(&flag)?)?,
            "--seconds" => w.seconds = num(&flag, value(&flag)?)?,
            "--poll-ms" => args.poll_ms = Some(num(&flag, value(&flag)?)?),
            "--replica" => args.replica = true,
            "--no-baseline" => w.baseline = false,
            "--max-seconds" => args.max_seconds = num(&flag, value(&flag)?)?,
            "--seed" => args.seed = Some(num(&flag, value(&flag)?)?),
            "--reuse" => args.reuse = true,
            "--keep" => args.keep = true,
            "--server-binary" => args.server_binary = Some(value(&flag)?),
            "--auth" => args.auth = value(&flag)?,
            "--gets" => args.gets = num(&flag, value(&flag)?)?,
            "--index-costs" => args.index_costs = true,
            "--index-cost-records" => args.index_cost_records = num(&flag, value(&flag)?)?,
            "--yardstick-records" => args.yardstick_records = Some(num(&flag, value(&flag)?)?),
            "--index-json-path" => args.indexed_json_paths.push(value(&flag)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    if !(1..=10_000_000).contains(&args.records) {
        bail!("--records must be 1…10000000");
    }
    if !(1..=256).contains(&args.concurrency) {
        bail!("--concurrency must be 1…256");
    }
    if !(1..=4096).contains(&args.record_kb) {
        bail!("--record-kb must be 1…4096");
    }
    if args.max_seconds == 0 {
        bail!("--max-seconds must be positive");
    }
    if watch_mode {
        if args.record_kb_set {
            w.record_bytes = args.record_kb * 1024;
        }
        if w.namespaces == 0 || w.rate == 0 || w.seconds == 0 {
            bail!("--namespaces, --rate and --seconds must be positive");
        }
        args.watch = Some(w);
    }
    Ok(args)
}

/// `VmRSS` and `VmHWM` of process `pid` (`self` = this one) in MB.
fn memory_mb(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("results-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    if let Some(url) = &args.seed_upstream {
        return upstream::seed(url, args.records, args.seed.unwrap_or(42));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let (url, temp_dir) = match &args.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = std::env::temp_dir()
                .join(format!("results-load-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            (
                format!("sqlite://{}", dir.join("results.db").display()),
                Some(dir),
            )
        }
    };
    let backend = Backend::of(&url)?;
    if let Some(w) = args.watch.clone() {
        let outcome = run_watch(&args, &w, &url, backend);
        if let Some(dir) = temp_dir.filter(|_| !args.keep) {
            let _ = std::fs::remove_dir_all(dir);
        }
        return outcome;
    }
    let seed = args.seed.unwrap_or_else(|| {
        if args.reuse {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        } else {
            42
        }
    });
    let workload = Workload {
        seed,
        record_bytes: args.record_kb * 1024,
    };
    let n = args.records;
    let c = args.concurrency;
    eprintln!(
        "results-load: {} {url}, {n} records, concurrency {c}, ~{} KiB per record, seed {seed}, at most {} s",
        backend.name(), args.record_kb, args.max_seconds
    );
    if temp_dir.is_none() {
        eprintln!("note: results-load leaves the records it creates in {url}; drop that database when done");
    }

    if !raw::check_empty(&url)? && !args.reuse {
        bail!(
            "{url} already holds results; pass --reuse to add to them (figures are then not \
             comparable) or point --database-url at an empty database"
        );
    }

    let auth = auth::Auth::new(&args.auth)?;
    let mut server = Server::start(&url, &args, &auth)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let headers = auth.headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let meter = cpu::Meter::new(server.child_pid(), backend);
    let mut report = rt.block_on(drive_server(
        server.grpc_addr(),
        &meter,
        &headers,
        &workload,
        &args,
        deadline,
    ))?;
    report.auth = auth.name();
    report.reviews = auth.reviews();
    report.rss_mb = server.memory_mb();
    report.server_alone = matches!(server, Server::Child { .. });
    drop(rt);
    if let Err(e) = server.stop() {
        report.notes.push(format!("server shutdown: {e:#}"));
    }

    // The yardsticks, on the same records, after the server has stopped.
    let ops = |k: usize| report.phases.get(k).map_or(0, |(_, s)| s.ops());
    let (c1, cn) = (ops(PHASE_CREATE_1), ops(PHASE_CREATE_C));
    let cn = args.yardstick_records.map_or(cn, |m| cn.min(m));
    let scratch = raw::scratch_url(&url);
    eprintln!(
        "yardsticks: plain INSERT loops into load_raw and load_records ({})",
        if backend == Backend::Sqlite {
            raw::sqlite_path(&scratch)
        } else {
            "same database"
        }
    );
    match size::measure(&url) {
        Ok(size) => report.db_size = Some(size),
        Err(e) => report.notes.push(format!("database size: {e:#}")),
    }
    let outcome = yardsticks(
        &url,
        &scratch,
        &workload,
        (c1, cn),
        c,
        &args,
        deadline,
        &mut report,
    );
    let dropped = raw::drop_scratch(&scratch);
    outcome?;
    dropped?;

    print_report(&report, &args, backend, &url, seed, started.elapsed());
    match temp_dir {
        Some(dir) if !args.keep => {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            println!(
                "\n(the temporary database {} was removed; --keep keeps it)",
                dir.display()
            );
        }
        _ => println!(
            "\nreminder: the {n} records are left in {url}; drop the database (or file) when done"
        ),
    }
    Ok(())
}

/// The plain INSERT loops over the records the server created (`c1` at concurrency 1, then
/// `cn` at `c`): into a primary-key-only table, then into a copy of `records` with all its
/// indexes; with `--index-costs`, the concurrent loop again once per index with only that
/// index dropped (on the first `--index-cost-records` of those records).
#[allow(clippy::too_many_arguments)]
fn yardsticks(
    url: &str,
    scratch: &str,
    workload: &Workload,
    (c1, cn): (u64, u64),
    c: usize,
    args: &Args,
    deadline: Instant,
    report: &mut Report,
) -> anyhow::Result<()> {
    use raw::Table;
    raw::create_scratch(scratch)?;
    // The server has stopped: the CPU is this process's and the database's.
    let meter = cpu::Meter::new(None, Backend::of(url)?);
    let timed = |table: Table, range: std::ops::Range<u64>, c: usize| -> anyhow::Result<Stats> {
        let cpu = meter.read();
        let mut s = raw::insert_loop(scratch, table, workload, range, c, deadline)?;
        s.cpu = Some(meter.since(&cpu));
        Ok(s)
    };
    let s = timed(Table::PkOnly, 0..c1, 1)?;
    report.raw.push(("raw INSERT c=1".into(), s));
    let s = timed(Table::PkOnly, c1..c1 + cn, c)?;
    report.raw.push((format!("raw INSERT c={c}"), s));
    raw::create_schema_copy(url, scratch)?;
    let s = timed(Table::SchemaCopy, 0..c1, 1)?;
    report.raw.push(("schema INSERT c=1".into(), s));
    let s = timed(Table::SchemaCopy, c1..c1 + cn, c)?;
    report.raw.push((format!("schema INSERT c={c}"), s));
    if !args.index_costs {
        return Ok(());
    }
    let subset = c1..c1 + cn.min(args.index_cost_records);
    let indexes = {
        raw::create_schema_copy(url, scratch)?;
        raw::Raw::connect(scratch)?.copy_indexes()?
    };
    eprintln!(
        "index costs: {} indexes, {} records each run",
        indexes.len(),
        subset.end - subset.start
    );
    // A fresh copy of `records`, without index `drop`.
    let fresh_copy = |drop: Option<&str>| -> anyhow::Result<()> {
        raw::create_schema_copy(url, scratch)?;
        if let Some(name) = drop {
            raw::Raw::connect(scratch)?.drop_copy_index(name)?;
        }
        Ok(())
    };
    let copy = Table::SchemaCopy;
    // All indexes before and after the per-index runs, to show the drift between them.
    fresh_copy(None)?;
    let before = raw::insert_loop(scratch, copy, workload, subset.clone(), c, deadline)?;
    for (name, def) in &indexes {
        fresh_copy(Some(name))?;
        let s = raw::insert_loop(scratch, copy, workload, subset.clone(), c, deadline)?;
        report.index_costs.push((name.clone(), def.clone(), s));
    }
    fresh_copy(None)?;
    let after = raw::insert_loop(scratch, copy, workload, subset.clone(), c, deadline)?;
    report.index_baseline = vec![before, after];
    Ok(())
}

/// The server under load: in this process, or the real binary as a child.
enum Server {
    InProcess(integration::ServerThread),
    Child {
        child: std::process::Child,
        grpc_addr: SocketAddr,
    },
}

impl Server {
    fn start(url: &str, args: &Args, auth: &auth::Auth) -> anyhow::Result<Server> {
        let poll_ms = args.poll_ms;
        let indexed = &args.indexed_json_paths;
        let Some(binary) = args.server_binary.as_deref() else {
            let mut settings = integration::loopback_settings(url, "results-load-key");
            settings.server.shutdown_grace_secs = 5;
            settings.database.indexed_json_paths = indexed.clone();
            if let Some(ms) = poll_ms {
                settings.watch.poll_interval_ms = ms;
            }
            auth.apply(&mut settings);
            return Ok(Server::InProcess(integration::ServerThread::start(
                settings,
            )?));
        };
        let free = || -> anyhow::Result<SocketAddr> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
        };
        let (grpc_addr, rest_addr) = (free()?, free()?);
        let mut child = std::process::Command::new(binary)
            .env("RESULTS_DATABASE_URL", url)
            .env("RESULTS_SERVER_GRPC_ADDR", grpc_addr.to_string())
            .env("RESULTS_SERVER_REST_ADDR", rest_addr.to_string())
            .env("RESULTS_PAGING_TOKEN_KEY", "results-load-key")
            .env("RESULTS_LOG_FILTER", "warn")
            .envs(poll_ms.map(|ms| ("RESULTS_WATCH_POLL_INTERVAL_MS", ms.to_string())))
            .envs(
                (!indexed.is_empty())
                    .then(|| ("RESULTS_DATABASE_INDEXED_JSON_PATHS", indexed.join(","))),
            )
            .envs(auth.env())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        // Ready once it accepts connections (after its migrations).
        let until = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(grpc_addr).is_err() {
            // A server that fails its start (a bad setting, a database it cannot reach)
            // has said why on its stderr; stop here rather than wait out the two minutes.
            if let Some(status) = child.try_wait().context("waiting for the server")? {
                bail!("{binary} exited ({status}) before listening on {grpc_addr}");
            }
            if Instant::now() > until {
                bail!("{binary} did not listen on {grpc_addr} within 120 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Server::Child { child, grpc_addr })
    }

    fn grpc_addr(&self) -> SocketAddr {
        match self {
            Server::InProcess(server) => server.grpc_addr(),
            Server::Child { grpc_addr, .. } => *grpc_addr,
        }
    }

    /// The server's process id, when it runs as a child.
    fn child_pid(&self) -> Option<u32> {
        match self {
            Server::InProcess(_) => None,
            Server::Child { child, .. } => Some(child.id()),
        }
    }

    fn memory_mb(&self) -> (f64, f64) {
        match self {
            Server::InProcess(_) => memory_mb("self"),
            Server::Child { child, .. } => memory_mb(&child.id().to_string()),
        }
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        match self {
            Server::InProcess(server) => server.stop(),
            Server::Child { child, .. } => {
                let pid = child.id().to_string();
                std::process::Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()?;
                let status = child.wait()?;
                anyhow::ensure!(status.success(), "results-api exited with {status}");
                Ok(())
            }
        }
    }
}

/// Runs `phase` and notes the CPU it spent, by process.
async fn metered(meter: &cpu::Meter, phase: impl std::future::Future<Output = Stats>) -> Stats {
    // The phase's future does nothing until awaited: the reading comes first.
    let start = meter.read();
    let mut stats = phase.await;
    stats.cpu = Some(meter.since(&start));
    stats
}

async fn drive_server(
    addr: SocketAddr,
    meter: &cpu::Meter,
    headers: &[(&str, &str)],
    workload: &Workload,
    args: &Args,
    deadline: Instant,
) -> anyhow::Result<Report> {
    let (n, c) = (args.records, args.concurrency);
    let w = *workload;
    let mut clients = Vec::new();
    for _ in 0..c {
        clients.push(drive::connect(addr, headers).await?);
    }
    let mut report = Report::default();
    let sample = (0..50)
        .map(|i| w.document(&w.record(i * 7), false).len())
        .sum::<usize>();
    report.mean_doc_kb = sample as f64 / 50.0 / 1024.0;

    let results = n.div_ceil(RECORDS_PER_RESULT);
    eprintln!("creating {results} results…");
    let s = metered(
        meter,
        drive::run(
            &clients,
            c,
            0..results,
            deadline,
            move |mut client, j| async move {
                let r = w.result(j);
                let result = pb::Result {
                    name: r.name.clone(),
                    ..Default::default()
                };
                let request = pb::CreateResultRequest {
                    parent: r.namespace.into(),
                    result: Some(result),
                };
                client.create_result(request).await.map(|_| ())
            },
        ),
    )
    .await;
    report.phases.push((format!("CreateResult c={c}"), s));

    let create = move |mut client: Client, i: u64| async move {
        let r = w.record(i);
        let record = pb::Record {
            name: r.name.clone(),
            data: Some(pb::Any {
                r#type: r.type_().into(),
                value: w.document(&r, false),
            }),
            ..Default::default()
        };
        let request = pb::CreateRecordRequest {
            parent: r.result.name.clone(),
            record: Some(record),
        };
        client.create_record(request).await.map(|_| ())
    };
    let n1 = (n * 2 / 100).max(200).min(n);
    eprintln!("creating records 0..{n1} with 1 client…");
    let s1 = metered(meter, drive::run(&clients, 1, 0..n1, deadline, create)).await;
    let done1 = s1.ops();
    report.phases.push(("CreateRecord c=1".into(), s1));
    eprintln!("creating records {n1}..{n} with {c} clients…");
    let s2 = metered(meter, drive::run(&clients, c, n1..n, deadline, create)).await;
    // Indices below `reached` were all attempted (bar a few at a deadline).
    let reached = if done1 < n1 { done1 } else { n1 + s2.ops() };
    report.phases.push((format!("CreateRecord c={c}"), s2));
    if reached == 0 {
        report
            .notes
            .push("no record was created; later phases skipped".into());
        return Ok(report);
    }

    let gets = args.gets;
    eprintln!("{gets} random GetRecord…");
    let s = metered(
        meter,
        drive::run(
            &clients,
            c,
            0..gets,
            deadline,
            move |mut client, i| async move {
                let r = w.record(workload::Rng::item(w.seed, 10, i).below(reached));
                let got = client
                    .get_record(pb::GetRecordRequest {
                        name: r.name.clone(),
                    })
                    .await?
                    .into_inner();
                if got.data.is_none_or(|d| d.value.is_empty()) {
                    return Err(tonic::Status::data_loss(format!(
                        "{} came back without data",
                        r.name
                    )));
                }
                Ok(())
            },
        ),
    )
    .await;
    report.phases.push((format!("GetRecord c={c}"), s));

    let updates = 2000;
    eprintln!("{updates} random UpdateRecord…");
    let s = metered(
        meter,
        drive::run(
            &clients,
            c,
            0..updates,
            deadline,
            move |mut client, i| async move {
                let r = w.record(workload::Rng::item(w.seed, 11, i).below(reached));
                let record = pb::Record {
                    name: r.name.clone(),
                    // An empty type leaves the stored one; the value replaces the document.
                    data: Some(pb::Any {
                        r#type: String::new(),
                        value: w.document(&r, true),
                    }),
                    ..Default::default()
                };
                let request = pb::UpdateRecordRequest {
                    record: Some(record),
                    update_mask: None,
                    etag: String::new(),
                };
                client.update_record(request).await.map(|_| ())
            },
        ),
    )
    .await;
    report.phases.push((format!("UpdateRecord c={c}"), s));

    // Expected row counts of the listings, from the workload itself.
    let (mut task_runs, mut failed, mut pipeline) = (0, 0, 0);
    for i in 0..reached {
        let r = w.record(i);
        task_runs += u64::from(r.kind == Kind::TaskRun);
        failed += u64::from(r.reason == "Failed");
        pipeline += u64::from(r.result.pipeline() == FILTER_PIPELINE);
    }
    let listings = [
        ("data_type == TASK_RUN".to_owned(), task_runs),
        (
            "data.status.conditions[0].reason == 'Failed'".to_owned(),
            failed,
        ),
        (
            format!("data.metadata.labels['tekton.dev/pipeline'] == '{FILTER_PIPELINE}'"),
            pipeline,
        ),
        (String::new(), reached),
    ];
    let max_pages = (reached as usize / drive::PAGE_SIZE as usize) + 10;
    for (filter, expected) in listings {
        let label = if filter.is_empty() {
            "(no filter)".to_owned()
        } else {
            filter.clone()
        };
        eprintln!("listing {label}…");
        let l = drive::listing(&mut clients[0], &label, &filter, 20, max_pages, deadline).await;
        report.listings.push((l, expected));
    }
    Ok(report)
}

impl Drop for Server {
    fn drop(&mut self) {
        // A child left running after an error would outlive the tool.
        if let Server::Child { child, .. } = self {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// `--watch`: the baseline run (writes alone), then the run with subscribers.
fn run_watch(args: &Args, w: &watch::WatchArgs, url: &str, backend: Backend) -> anyhow::Result<()> {
    eprintln!(
        "results-load --watch: {} {url}, {} subscribers over {} namespaces + {} on '-', \
         {} writes/s for {} s, {} B records, poll {}, {}",
        backend.name(),
        w.subscribers,
        w.namespaces,
        w.wildcard,
        w.rate,
        w.seconds,
        w.record_bytes,
        args.poll_ms
            .map_or("(server default)".to_owned(), |ms| format!("{ms} ms")),
        if args.replica {
            "writes through a second replica"
        } else {
            "one server"
        },
    );
    let auth = auth::Auth::new(&args.auth)?;
    let mut server = Server::start(url, args, &auth)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let headers = auth.headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let watch_addr = server.grpc_addr();
    // The Results through the first server; the replica starts after it has migrated the
    // database (two servers migrating a new PostgreSQL database at once can collide).
    rt.block_on(async {
        let client = drive::connect(watch_addr, &headers).await?;
        watch::prepare(&client, w).await
    })?;
    let mut replica = if args.replica {
        Some(Server::start(url, args, &auth)?)
    } else {
        None
    };
    let write_addr = replica.as_ref().map_or(watch_addr, Server::grpc_addr);
    let memory = || server.memory_mb();
    let runs = rt.block_on(async {
        let writers = watch::writers(write_addr, &headers, 8).await?;
        let mut runs = Vec::new();
        if w.baseline {
            eprintln!("baseline: writes without subscribers…");
            runs.push(
                watch::run("baseline", &writers, watch_addr, &headers, w, 0, 0, &memory).await?,
            );
        }
        eprintln!(
            "opening {} streams, then the same writes…",
            w.subscribers + w.wildcard
        );
        runs.push(
            watch::run(
                "watched",
                &writers,
                watch_addr,
                &headers,
                w,
                w.subscribers,
                w.wildcard,
                &memory,
            )
            .await?,
        );
        anyhow::Ok(runs)
    })?;
    drop(rt);
    println!(
        "\nresults-load --watch on {} ({}), server {}{}",
        backend.name(),
        url,
        if matches!(server, Server::Child { .. }) {
            "as its own process (RSS is the server's alone)"
        } else {
            "in this process (RSS includes the load generator)"
        },
        if args.replica {
            ", writes through a second replica"
        } else {
            ""
        }
    );
    for run in &runs {
        watch::print_run(run, w);
    }
    if let [base, watched] = &runs[..] {
        let (b, r) = (base.write_rate(w.seconds), watched.write_rate(w.seconds));
        println!(
            "write rate with subscribers / without: {:.0}/s / {:.0}/s = {:.3}",
            r,
            b,
            if b > 0.0 { r / b } else { 0.0 }
        );
    }
    if let Some(mut r) = replica.take() {
        r.stop()?;
    }
    server.stop()?;
    Ok(())
}
