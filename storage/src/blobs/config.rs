//! Which blob store the server uses and how to reach it, as read from its settings.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Configuration of the blob store, e.g. in TOML:
///
/// ```toml
/// type = "filesystem"
/// dir = "/var/lib/results/logs"
/// ```
///
/// ```toml
/// type = "s3"
/// bucket = "results-logs"
/// endpoint = "http://minio.example:9000"   # empty (the default): AWS
/// region = "us-east-1"
/// allow_http = true
/// prefix = "logs"
/// # access_key_id / secret_access_key: empty (the default) takes the credentials from the
/// # environment (AWS_ACCESS_KEY_ID …, web identity) or the instance metadata
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlobConfig {
    /// Files under a local directory (a volume in Kubernetes).
    Filesystem {
        /// The directory blobs are kept under; created if missing.
        dir: PathBuf,
    },
    /// Objects in an S3-compatible bucket.
    S3 {
        /// The bucket; it must exist.
        bucket: String,
        /// The endpoint URL, e.g. `http://minio:9000`; empty for AWS.
        #[serde(default)]
        endpoint: String,
        /// The region; empty for `us-east-1` (or `AWS_REGION` from the environment).
        #[serde(default)]
        region: String,
        /// The access key; empty to take credentials from the environment or instance.
        #[serde(default)]
        access_key_id: String,
        /// The secret key; empty to take credentials from the environment or instance.
        #[serde(default)]
        secret_access_key: String,
        /// Whether a plain `http://` endpoint is allowed.
        #[serde(default)]
        allow_http: bool,
        /// A key prefix, e.g. `logs`, for sharing a bucket; empty for none.
        #[serde(default)]
        prefix: String,
    },
}

// By hand, so that the secret key never reaches a log.
impl fmt::Debug for BlobConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobConfig::Filesystem { dir } => {
                f.debug_struct("Filesystem").field("dir", dir).finish()
            }
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
                prefix,
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field(
                    "secret_access_key",
                    &if secret_access_key.is_empty() {
                        ""
                    } else {
                        "<redacted>"
                    },
                )
                .field("allow_http", allow_http)
                .field("prefix", prefix)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BlobConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn both_kinds_parse_with_defaults() {
        assert_eq!(
            parse(r#"{"type": "filesystem", "dir": "/data/logs"}"#).unwrap(),
            BlobConfig::Filesystem {
                dir: "/data/logs".into()
            }
        );
        assert_eq!(
            parse(r#"{"type": "s3", "bucket": "b"}"#).unwrap(),
            BlobConfig::S3 {
                bucket: "b".into(),
                endpoint: String::new(),
                region: String::new(),
                access_key_id: String::new(),
                secret_access_key: String::new(),
                allow_http: false,
                prefix: String::new(),
            }
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let err = parse(r#"{"type": "s3", "bucket": "b", "buckt": "c"}"#).unwrap_err();
        assert!(err.to_string().contains("buckt"), "{err}");
        let err = parse(r#"{"type": "filesystem", "dir": "/d", "bucket": "c"}"#).unwrap_err();
        assert!(err.to_string().contains("bucket"), "{err}");
        assert!(parse(r#"{"type": "gcs", "bucket": "b"}"#).is_err());
        assert!(parse(r#"{"type": "s3"}"#).is_err(), "bucket is required");
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let config = parse(
            r#"{"type": "s3", "bucket": "b", "access_key_id": "AKIA", "secret_access_key": "hunter2"}"#,
        )
        .unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("AKIA"), "{text}");
    }
}
