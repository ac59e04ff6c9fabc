//! The arguments of `results-api import`.

use std::path::PathBuf;

use results_actors::blobs::BlobConfig;
use results_actors::import::{DEFAULT_BATCH, MAX_BATCH};

/// How `results-api import` is called.
pub const USAGE: &str = "usage: results-api [--config FILE] import --from postgres://USER@HOST/DB \
[--batch N] [--logs-dir DIR | --logs-s3-bucket BUCKET [--logs-s3-endpoint URL] \
[--logs-s3-region REGION] [--logs-s3-prefix PREFIX] [--logs-s3-allow-http]]";

/// What `results-api import` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportArgs {
    /// The upstream database URL (`--from`).
    pub from: String,
    /// Where upstream keeps its logs, if they are to be imported.
    pub logs: Option<LogSource>,
    /// Rows per page and transaction (`--batch`).
    pub batch: usize,
}

/// Where upstream keeps its logs (its `LOGS_PATH`, on a filesystem or in a bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// `--logs-dir DIR`: upstream's `LOGS_PATH` directory.
    Dir(PathBuf),
    /// `--logs-s3-bucket` and friends; upstream's `LOGS_PATH` is the key prefix.
    S3 {
        /// `--logs-s3-bucket`.
        bucket: String,
        /// `--logs-s3-endpoint` (empty: AWS).
        endpoint: String,
        /// `--logs-s3-region`.
        region: String,
        /// `--logs-s3-prefix`: upstream's `LOGS_PATH` without its leading `/`.
        prefix: String,
        /// `--logs-s3-allow-http`.
        allow_http: bool,
    },
}

/// Environment variables with the access key of upstream's bucket (else the usual `AWS_*`).
pub const S3_KEY_VARS: (&str, &str) =
    ("UPSTREAM_S3_ACCESS_KEY_ID", "UPSTREAM_S3_SECRET_ACCESS_KEY");

impl LogSource {
    /// As a blob store configuration; the keys come from `env` ([`S3_KEY_VARS`]).
    pub fn blob_config(&self, env: &std::collections::BTreeMap<String, String>) -> BlobConfig {
        match self {
            LogSource::Dir(dir) => BlobConfig::Filesystem { dir: dir.clone() },
            LogSource::S3 {
                bucket,
                endpoint,
                region,
                prefix,
                allow_http,
            } => BlobConfig::S3 {
                bucket: bucket.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
                access_key_id: env.get(S3_KEY_VARS.0).cloned().unwrap_or_default(),
                secret_access_key: env.get(S3_KEY_VARS.1).cloned().unwrap_or_default(),
                allow_http: *allow_http,
                prefix: prefix.trim_matches('/').to_owned(),
            },
        }
    }
}

/// Arguments that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportArgsError {
    /// An argument this command does not know.
    #[error("unknown argument {0:?}")]
    Unknown(String),
    /// A flag without its value.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// `--from` is missing.
    #[error("--from postgres://… (the upstream database) is required")]
    MissingFrom,
    /// `--batch` is not a number in range.
    #[error("--batch must be a number from 1 to {MAX_BATCH}, got {0:?}")]
    BadBatch(String),
    /// S3 flags without a bucket, or both a directory and a bucket.
    #[error("{0}")]
    Logs(String),
}

impl ImportArgs {
    /// Parses the arguments after `import`.
    pub fn parse(args: &[String]) -> Result<ImportArgs, ImportArgsError> {
        let mut from = None;
        let mut batch = DEFAULT_BATCH;
        let mut dir = None;
        let (mut bucket, mut endpoint, mut region, mut prefix) =
            (None, String::new(), String::new(), String::new());
        let mut allow_http = false;
        let mut s3_flags = false;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .ok_or_else(|| ImportArgsError::MissingValue(flag.to_owned()))
            };
            match flag {
                "--from" => from = Some(value()?),
                "--batch" => {
                    let text = value()?;
                    batch = text
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_BATCH).contains(n))
                        .ok_or(ImportArgsError::BadBatch(text))?;
                }
                "--logs-dir" => dir = Some(PathBuf::from(value()?)),
                "--logs-s3-bucket" => bucket = Some(value()?),
                "--logs-s3-endpoint" => (endpoint, s3_flags) = (value()?, true),
                "--logs-s3-region" => (region, s3_flags) = (value()?, true),
                "--logs-s3-prefix" => (prefix, s3_flags) = (value()?, true),
                "--logs-s3-allow-http" if inline.is_none() => (allow_http, s3_flags) = (true, true),
                _ => return Err(ImportArgsError::Unknown(arg.clone())),
            }
        }
        let from = from.ok_or(ImportArgsError::MissingFrom)?;
        let logs = match (dir, bucket) {
            (Some(_), Some(_)) => {
                return Err(ImportArgsError::Logs(
                    "give --logs-dir or --logs-s3-bucket, not both".into(),
                ))
            }
            (Some(dir), None) if !s3_flags => Some(LogSource::Dir(dir)),
            (None, Some(bucket)) => Some(LogSource::S3 {
                bucket,
                endpoint,
                region,
                prefix,
                allow_http,
            }),
            (None, None) if !s3_flags => None,
            _ => {
                return Err(ImportArgsError::Logs(
                    "the --logs-s3-… flags need --logs-s3-bucket".into(),
                ))
            }
        };
        Ok(ImportArgs { from, logs, batch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ImportArgs, ImportArgsError> {
        ImportArgs::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags() {
        let args = parse(&[
            "--from",
            "postgres://u@h/db",
            "--batch=7",
            "--logs-dir",
            "/logs",
        ])
        .unwrap();
        assert_eq!(args.from, "postgres://u@h/db");
        assert_eq!(args.batch, 7);
        assert_eq!(args.logs, Some(LogSource::Dir("/logs".into())));
        let args = parse(&[
            "--from=postgres://h/db",
            "--logs-s3-bucket",
            "b",
            "--logs-s3-prefix",
            "/logs",
            "--logs-s3-allow-http",
        ])
        .unwrap();
        assert_eq!(args.batch, DEFAULT_BATCH);
        let Some(LogSource::S3 {
            bucket,
            prefix,
            allow_http,
            ..
        }) = &args.logs
        else {
            panic!("{args:?}")
        };
        assert_eq!(
            (bucket.as_str(), prefix.as_str(), *allow_http),
            ("b", "/logs", true)
        );
        let env = [(S3_KEY_VARS.0.to_string(), "AK".to_string())]
            .into_iter()
            .collect();
        let BlobConfig::S3 {
            prefix,
            access_key_id,
            ..
        } = args.logs.unwrap().blob_config(&env)
        else {
            panic!()
        };
        assert_eq!((prefix.as_str(), access_key_id.as_str()), ("logs", "AK"));
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(parse(&[]).unwrap_err(), ImportArgsError::MissingFrom);
        assert_eq!(
            parse(&["--from"]).unwrap_err().to_string(),
            "--from needs a value"
        );
        for bad in ["0", "1001", "x"] {
            assert!(matches!(
                parse(&["--from", "postgres://h/d", "--batch", bad]),
                Err(ImportArgsError::BadBatch(_))
            ));
        }
        assert!(matches!(
            parse(&["--from", "p", "--bogus"]),
            Err(ImportArgsError::Unknown(_))
        ));
        assert!(matches!(
            parse(&["--from", "p", "--logs-s3-region", "r"]),
            Err(ImportArgsError::Logs(_))
        ));
        assert!(matches!(
            parse(&["--from", "p", "--logs-dir", "d", "--logs-s3-bucket", "b"]),
            Err(ImportArgsError::Logs(_))
        ));
    }
}
