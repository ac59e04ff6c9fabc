//! `--seed-upstream URL`: fills an (existing, empty) PostgreSQL database with upstream
//! Tekton Results' tables and the workload's Results and Records, as upstream's API server
//! would have stored them, for measuring `results-api import`. Documents are 5 to 15 KiB
//! (by record index), Results one per PipelineRun with its summary. Rows go in 500 at a
//! time as bound arrays (`unnest`), so the statement text never changes.

use std::time::Instant;

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{Array, BigInt, Integer, Text};
use diesel::{Connection, PgConnection, RunQueryDsl};
use results_storage::testing::UPSTREAM_SCHEMA;

use crate::workload::{Rng, Workload, RECORDS_PER_RESULT};

const CHUNK: u64 = 500;

const INSERT_RESULTS: &str = "INSERT INTO results (parent, id, name, annotations, created_time, \
    updated_time, recordsummary_record, recordsummary_type, recordsummary_start_time, \
    recordsummary_end_time, recordsummary_status, recordsummary_annotations, etag) \
    SELECT p, i, n, a::jsonb, timestamptz 'epoch' + c * interval '1 microsecond', \
    timestamptz 'epoch' + u * interval '1 microsecond', sr, st, \
    timestamptz 'epoch' + ss * interval '1 microsecond', \
    timestamptz 'epoch' + se * interval '1 microsecond', s, '{}'::jsonb, i || '-' || (u * 1000) \
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
    $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::int[]) \
    AS t(p, i, n, a, c, u, sr, st, ss, se, s)";

const INSERT_RECORDS: &str = "INSERT INTO records (parent, result_id, result_name, id, name, \
    type, data, created_time, updated_time, etag) \
    SELECT p, r, rn, i, n, ty, d::jsonb, timestamptz 'epoch' + c * interval '1 microsecond', \
    timestamptz 'epoch' + u * interval '1 microsecond', i || '-' || (u * 1000) \
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::bigint[], $9::bigint[]) AS t(p, r, rn, i, n, ty, d, c, u)";

fn status(reason: &str) -> i32 {
    match reason {
        "Succeeded" => 1,
        "Failed" => 2,
        r if r.ends_with("Timeout") => 3,
        r if r.starts_with("Cancelled") => 4,
        _ => 0,
    }
}

/// Creates upstream's tables in `url` and seeds `records` Records (one Result per five).
pub fn seed(url: &str, records: u64, seed: u64) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url).with_context(|| format!("connecting to {url}"))?;
    conn.batch_execute(UPSTREAM_SCHEMA)
        .context("creating upstream's tables (the database must be empty)")?;
    let started = Instant::now();
    let results = records.div_ceil(RECORDS_PER_RESULT);
    let result_id = |j: u64| Rng::item(seed, 9, j).uuid();
    let base = Workload {
        seed,
        record_bytes: 0,
    };
    let mut j = 0;
    while j < results {
        let end = (j + CHUNK).min(results);
        let mut cols: (Vec<String>, Vec<String>, Vec<String>, Vec<String>) = Default::default();
        let mut times: (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        let (mut sr, mut st, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for k in j..end {
            let result = base.result(k);
            let run = base.record(k * RECORDS_PER_RESULT);
            let (start, finish) = run.times();
            cols.0.push(result.namespace.to_owned());
            cols.1.push(result_id(k));
            cols.2.push(result.run.clone());
            cols.3.push(format!(
                r#"{{"object.metadata.name":"{}","tekton.dev/pipeline":"{}"}}"#,
                result.run,
                result.pipeline()
            ));
            times
                .0
                .push(result.created() as i64 * 1_000_000 + (k as i64 * 7919) % 1_000_000);
            times.1.push(finish as i64 * 1_000_000 + 123_456);
            times.2.push(start as i64 * 1_000_000);
            times.3.push(finish as i64 * 1_000_000);
            sr.push(run.name.clone());
            st.push(run.type_().to_owned());
            s.push(status(run.reason));
        }
        diesel::sql_query(INSERT_RESULTS)
            .bind::<Array<Text>, _>(&cols.0)
            .bind::<Array<Text>, _>(&cols.1)
            .bind::<Array<Text>, _>(&cols.2)
            .bind::<Array<Text>, _>(&cols.3)
            .bind::<Array<BigInt>, _>(&times.0)
            .bind::<Array<BigInt>, _>(&times.1)
            .bind::<Array<Text>, _>(&sr)
            .bind::<Array<Text>, _>(&st)
            .bind::<Array<BigInt>, _>(&times.2)
            .bind::<Array<BigInt>, _>(&times.3)
            .bind::<Array<Integer>, _>(&s)
            .execute(&mut conn)
            .context("inserting results")?;
        j = end;
    }
    let mut i = 0;
    let mut bytes = 0u64;
    while i < records {
        let end = (i + CHUNK).min(records);
        let mut text: [Vec<String>; 7] = Default::default();
        let (mut created, mut updated) = (Vec::new(), Vec::new());
        for k in i..end {
            let workload = Workload {
                seed,
                record_bytes: (5 + (k % 11) as usize) * 1024,
            };
            let r = workload.record(k);
            let document = String::from_utf8(workload.document(&r, true)).context("utf-8")?;
            bytes += document.len() as u64;
            let (start, finish) = r.times();
            text[0].push(r.result.namespace.to_owned());
            text[1].push(result_id(k / RECORDS_PER_RESULT));
            text[2].push(r.result.run.clone());
            text[3].push(Rng::item(seed, 10, k).uuid());
            text[4].push(r.uid.clone());
            text[5].push(r.type_().to_owned());
            text[6].push(document);
            created.push(start as i64 * 1_000_000 + (k as i64 * 104_729) % 1_000_000);
            updated.push(finish as i64 * 1_000_000 + (k as i64 * 7919) % 1_000_000);
        }
        let q = diesel::sql_query(INSERT_RECORDS);
        let q = text
            .iter()
            .fold(q.into_boxed(), |q, col| q.bind::<Array<Text>, _>(col));
        q.bind::<Array<BigInt>, _>(created)
            .bind::<Array<BigInt>, _>(updated)
            .execute(&mut conn)
            .context("inserting records")?;
        i = end;
        if i % 10_000 == 0 {
            eprintln!("seeded {i} of {records} records");
        }
    }
    conn.batch_execute("ANALYZE results; ANALYZE records")?;
    println!(
        "seeded {results} results and {records} records ({:.0} MiB of documents, {:.1} KiB mean) in {:.0} s",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / records as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
