//! Blob keys: validated `/`-separated paths, safe both as relative file paths and as object
//! names.

use std::fmt;

use super::BlobError;

/// Longest segment of a key, in bytes (the filesystem store adds about 50 bytes to a name for
/// its temporary files, and file names stop at 255).
pub const MAX_SEGMENT_BYTES: usize = 128;

/// Longest key, in bytes (S3 object names stop at 1024, with the store's prefix).
pub const MAX_KEY_BYTES: usize = 512;

/// Where a blob lives: segments of `a-z`, `0-9`, `_`, `.` and `-`, joined by `/`; no empty
/// segment, none starting with `.` (the stores keep their own files under such names), no
/// `..`, at most [`MAX_SEGMENT_BYTES`] per segment and [`MAX_KEY_BYTES`] in all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key made of `segments`, in order.
    pub fn new(segments: &[&str]) -> Result<BlobKey, BlobError> {
        if segments.is_empty() {
            return Err(BlobError::InvalidKey(
                "a blob key needs at least one segment".into(),
            ));
        }
        for segment in segments {
            check_segment(segment)?;
        }
        let key = segments.join("/");
        if key.len() > MAX_KEY_BYTES {
            return Err(BlobError::InvalidKey(format!(
                "blob key is {} bytes long; at most {MAX_KEY_BYTES} are allowed",
                key.len()
            )));
        }
        Ok(BlobKey(key))
    }

    /// Parses a key as [`BlobKey::as_str`] wrote it (e.g. a path kept in a Log Record).
    pub fn parse(key: &str) -> Result<BlobKey, BlobError> {
        let segments: Vec<&str> = key.split('/').collect();
        BlobKey::new(&segments)
    }

    /// This key with `segment` appended.
    pub fn join(&self, segment: &str) -> Result<BlobKey, BlobError> {
        let mut segments: Vec<&str> = self.segments().collect();
        segments.push(segment);
        BlobKey::new(&segments)
    }

    /// The key as `/`-separated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments of the key, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether `other` is this key or lies under it (segment-wise: `a/b` covers `a/b` and
    /// `a/b/c`, not `a/bc`); what [`BlobStore::delete_prefix`](super::BlobStore) deletes.
    pub fn covers(&self, other: &BlobKey) -> bool {
        other.0 == self.0
            || (other.0.starts_with(&self.0) && other.0.as_bytes()[self.0.len()] == b'/')
    }
}

fn check_segment(segment: &str) -> Result<(), BlobError> {
    if segment.is_empty() {
        return Err(BlobError::InvalidKey(
            "blob key has an empty segment".into(),
        ));
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(BlobError::InvalidKey(format!(
            "blob key segment is {} bytes long; at most {MAX_SEGMENT_BYTES} are allowed",
            segment.len()
        )));
    }
    if let Some(bad) = segment
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-'))
    {
        return Err(BlobError::InvalidKey(format!(
            "blob key segment {segment:?} contains {bad:?}; only a-z, 0-9, '_', '.' and '-' are allowed"
        )));
    }
    if segment.starts_with('.') || segment.contains("..") {
        return Err(BlobError::InvalidKey(format!(
            "blob key segment {segment:?} starts with '.' or contains '..'"
        )));
    }
    Ok(())
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_keys_join_segments_with_slashes() {
        let key = BlobKey::new(&["ns", "result-1", "log_2.txt"]).unwrap();
        assert_eq!(key.as_str(), "ns/result-1/log_2.txt");
        assert_eq!(BlobKey::parse("ns/result-1/log_2.txt").unwrap(), key);
        assert_eq!(
            BlobKey::new(&["ns"]).unwrap().join("r").unwrap().as_str(),
            "ns/r"
        );
        let long = "a".repeat(MAX_SEGMENT_BYTES);
        assert!(BlobKey::new(&[&long, &long, &long]).is_ok());
    }

    #[test]
    fn keys_that_could_escape_or_collide_are_refused() {
        let long = "a".repeat(MAX_SEGMENT_BYTES + 1);
        let segment = "a".repeat(MAX_SEGMENT_BYTES);
        let too_long: Vec<&str> = std::iter::repeat_n(segment.as_str(), 5).collect();
        for bad in [
            &[][..],
            &[""][..],
            &["a", ""],
            &[".."],
            &["a", "..", "b"],
            &["."],
            &[".hidden"],
            &["a..b"],
            &["a/b"],
            &["/etc"],
            &["A"],
            &["a b"],
            &["é"],
            &["a\\b"],
            &["a\0"],
            &[long.as_str()],
            &too_long[..],
        ] {
            let err = BlobKey::new(bad).unwrap_err();
            assert!(matches!(err, BlobError::InvalidKey(_)), "{bad:?}: {err}");
        }
        for bad in ["", "/a", "a/", "a//b", "../a", "a/./b"] {
            assert!(BlobKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn covers_is_segment_wise() {
        let prefix = BlobKey::parse("ns/r").unwrap();
        assert!(prefix.covers(&BlobKey::parse("ns/r").unwrap()));
        assert!(prefix.covers(&BlobKey::parse("ns/r/x").unwrap()));
        assert!(!prefix.covers(&BlobKey::parse("ns/rx").unwrap()));
        assert!(!prefix.covers(&BlobKey::parse("ns").unwrap()));
    }
}
