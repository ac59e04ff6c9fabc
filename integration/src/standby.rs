//! A PostgreSQL primary and a hot standby streaming from it, private to one test: both
//! clusters are made in a temporary directory (`initdb`, then `pg_basebackup -R`) and run
//! on free loopback ports, so the machine's own PostgreSQL is left alone. PostgreSQL
//! refuses to run as root: as root, the clusters run as the `postgres` user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::secured::TempDir;

/// A primary and its standby; both stopped (immediately) and removed on drop.
pub struct PrimaryAndStandby {
    bin: PathBuf,
    dir: TempDir,
    primary_port: u16,
    standby_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The newest PostgreSQL's binaries.
fn binaries() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_basebackup").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL with pg_basebackup")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrimaryAndStandby {
    /// Makes and starts both clusters.
    pub fn start() -> PrimaryAndStandby {
        let dir = TempDir::new("results-standby");
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(owned.success(), "chown the standby directory to postgres");
        }
        let pair = PrimaryAndStandby {
            bin: binaries(),
            dir,
            primary_port: free_port(),
            standby_port: free_port(),
        };
        let primary = pair.dir.path().join("primary");
        pair.run(
            "initdb",
            &[
                "-D",
                path(&primary),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pair.configure(&primary, pair.primary_port);
        pair.pg_ctl(&primary, "start");
        let standby = pair.dir.path().join("standby");
        let port = pair.primary_port.to_string();
        pair.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                path(&standby),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        pair.configure(&standby, pair.standby_port);
        pair.pg_ctl(&standby, "start");
        pair
    }

    /// Appends what both clusters need to a cluster's `postgresql.conf` (later lines win).
    fn configure(&self, data: &Path, port: u16) {
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n\
             wal_receiver_status_interval = 1s\n",
            self.dir.path().display()
        ));
        std::fs::write(&conf, text).expect("write postgresql.conf");
    }

    fn pg_ctl(&self, data: &Path, action: &str) {
        let log = data.with_extension("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                path(data),
                "-l",
                path(&log),
                "-w",
                "-m",
                "immediate",
                action,
            ],
        );
    }

    /// A PostgreSQL binary's command line, as `postgres` when root.
    fn command(&self, binary: &str) -> Command {
        let program = self.bin.join(binary);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.current_dir(self.dir.path());
        command
    }

    /// Runs a PostgreSQL binary, which must succeed.
    fn run(&self, binary: &str, args: &[&str]) {
        let out = self
            .command(binary)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
        assert!(
            out.status.success(),
            "{binary} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The primary's URL for `database`.
    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    /// The standby's URL for `database`.
    pub fn standby_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.standby_port
        )
    }

    /// Creates `database` on the primary (the standby gets it by replication).
    pub fn create_database(&self, database: &str) {
        let mut admin = PgConnection::establish(&self.primary_url("postgres")).expect("primary");
        diesel::sql_query(format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .expect("create the database");
    }

    /// Runs `sql` on the standby's `database`.
    pub fn on_standby(&self, database: &str, sql: &str) {
        let mut standby = PgConnection::establish(&self.standby_url(database)).expect("standby");
        diesel::sql_query(sql).execute(&mut standby).expect(sql);
    }

    /// Stops the standby at once.
    pub fn stop_standby(&self) {
        self.pg_ctl(&self.dir.path().join("standby"), "stop");
    }

    /// Starts the standby again.
    pub fn start_standby(&self) {
        self.pg_ctl(&self.dir.path().join("standby"), "start");
    }
}

impl Drop for PrimaryAndStandby {
    fn drop(&mut self) {
        for data in ["standby", "primary"] {
            let data = self.dir.path().join(data);
            let _ = self
                .command("pg_ctl")
                .args(["-D", path(&data), "-m", "immediate", "stop"])
                .output();
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
