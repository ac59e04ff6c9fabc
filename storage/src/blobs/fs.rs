//! Blobs as files under a directory: `<dir>/<key>`. A blob is written to a temporary file
//! beside its target (`.<name>.<uuid>.partial`), synced, then renamed over the target, so a
//! reader sees the old file or the whole new one; readers keep the file they opened.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::stream;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{BlobError, BlobKey, BlobStore, BlobStream, BlobWriter};

/// Suffix of the temporary files of uploads in progress.
const PARTIAL_SUFFIX: &str = ".partial";

/// A `.partial` file untouched for this long belongs to an upload that died with its process
/// (a live upload writes to it as data arrives); [`FsStore::open`] removes it. Younger ones
/// may belong to another replica sharing the volume.
pub const STALE_PARTIAL_AGE: Duration = Duration::from_secs(15 * 60);

/// Blobs as files under a directory.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens the store at `dir`: creates it, checks that a file can be written there, and
    /// removes `.partial` files older than [`STALE_PARTIAL_AGE`] left by crashed uploads.
    pub async fn open(dir: &Path) -> Result<FsStore, BlobError> {
        let unusable = |what: &str, err: io::Error| BlobError::Config {
            setting: "dir",
            message: format!("cannot {what} {}: {err}", dir.display()),
        };
        fs::create_dir_all(dir)
            .await
            .map_err(|e| unusable("create the blob directory", e))?;
        let probe = dir.join(format!(".probe.{}{PARTIAL_SUFFIX}", uuid::Uuid::new_v4()));
        let written = async {
            let mut file = File::create(&probe).await?;
            file.write_all(b"probe").await?;
            file.sync_all().await
        }
        .await;
        let _ = fs::remove_file(&probe).await;
        written.map_err(|e| unusable("write in the blob directory", e))?;
        let root = dir.to_path_buf();
        let removed = tokio::task::spawn_blocking({
            let root = root.clone();
            move || remove_stale_partials(&root, STALE_PARTIAL_AGE)
        })
        .await
        .map_err(|e| unusable("scan", io::Error::other(e)))?
        .map_err(|e| unusable("scan", e))?;
        if removed > 0 {
            tracing::info!(dir = %root.display(), removed, "removed temporary files of interrupted uploads");
        }
        Ok(FsStore { root })
    }

    /// Opens the existing directory `dir` for reading only (another server's logs, for an
    /// import): nothing is created, written or removed there.
    pub fn open_read_only(dir: &Path) -> Result<FsStore, BlobError> {
        if !dir.is_dir() {
            return Err(BlobError::Config {
                setting: "dir",
                message: format!("{} is not a directory", dir.display()),
            });
        }
        Ok(FsStore {
            root: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        // A valid key has no empty, `.`-leading or `..` segment: it stays under the root.
        self.root.join(key.as_str())
    }
}

#[async_trait::async_trait]
impl BlobStore for FsStore {
    async fn create(&self, key: &BlobKey) -> Result<Box<dyn BlobWriter>, BlobError> {
        let target = self.path(key);
        let dir = target
            .parent()
            .expect("a blob path has a parent")
            .to_path_buf();
        let name = target.file_name().expect("a blob path has a name");
        let temp = dir.join(format!(
            ".{}.{}{PARTIAL_SUFFIX}",
            name.to_string_lossy(),
            uuid::Uuid::new_v4()
        ));
        // A delete of the last blob in `dir` may remove the directory between the two steps.
        let mut attempts = 0;
        let file = loop {
            attempts += 1;
            fs::create_dir_all(&dir)
                .await
                .map_err(|e| BlobError::io("creating the directory of", key, e))?;
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .await
            {
                Ok(file) => break file,
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => continue,
                Err(e) => return Err(BlobError::io("creating a temporary file for", key, e)),
            }
        };
        Ok(Box::new(FsWriter {
            file,
            temp,
            target,
            key: key.clone(),
            size: 0,
            failed: false,
            done: false,
        }))
    }

    async fn open(
        &self,
        key: &BlobKey,
        chunk: usize,
    ) -> Result<Option<(u64, BlobStream)>, BlobError> {
        let path = self.path(key);
        let file = match File::open(&path).await {
            Ok(file) => file,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(BlobError::io("opening", key, e)),
        };
        // The size of the file opened, not of whatever is at the path by now.
        let meta = file
            .metadata()
            .await
            .map_err(|e| BlobError::io("reading the size of", key, e))?;
        if meta.is_dir() {
            return Ok(None);
        }
        let chunk = chunk.max(1);
        let key = key.clone();
        // Blob files are never written in place: exactly `size` bytes are there to read.
        let stream = stream::try_unfold((file, meta.len()), move |(mut file, remaining)| {
            let key = key.clone();
            async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let want = usize::try_from(remaining).map_or(chunk, |r| r.min(chunk));
                let mut buf = BytesMut::with_capacity(want);
                // tokio reads at most its buffer size at a time: fill the chunk.
                while buf.len() < want {
                    let read = file
                        .read_buf(&mut buf)
                        .await
                        .map_err(|e| BlobError::io("reading", &key, e))?;
                    if read == 0 {
                        return Err(BlobError::io(
                            "reading",
                            &key,
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "the file is shorter than it was when opened",
                            ),
                        ));
                    }
                }
                let remaining = remaining - buf.len() as u64;
                Ok(Some((buf.freeze(), (file, remaining))))
            }
        });
        Ok(Some((meta.len(), Box::pin(stream))))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path(key);
        match fs::remove_file(&path).await {
            Ok(()) => {}
            // A directory at `key` holds other blobs, not this one.
            Err(e) if is_absent(&e) || e.kind() == io::ErrorKind::IsADirectory => return Ok(()),
            Err(e) => return Err(BlobError::io("deleting", key, e)),
        }
        self.remove_empty_parents(&path).await;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &BlobKey) -> Result<u64, BlobError> {
        let path = self.path(prefix);
        let removed = tokio::task::spawn_blocking({
            let path = path.clone();
            move || remove_tree(&path)
        })
        .await
        .map_err(|e| BlobError::io("deleting", prefix, io::Error::other(e)))?
        .map_err(|e| BlobError::io("deleting", prefix, e))?;
        self.remove_empty_parents(&path).await;
        Ok(removed)
    }
}

impl FsStore {
    /// Removes the now empty directories above `path`, up to the root, so that deleted
    /// Results leave no directories behind; stops at the first that is not empty.
    async fn remove_empty_parents(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(current) = dir {
            if current == self.root || !current.starts_with(&self.root) {
                break;
            }
            if fs::remove_dir(current).await.is_err() {
                break;
            }
            dir = current.parent();
        }
    }
}

/// A blob being written to its temporary file.
struct FsWriter {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    key: BlobKey,
    size: u64,
    /// A write failed: the temporary file misses data and must not become the blob.
    failed: bool,
    /// Renamed into place or removed: nothing for `drop` to clean up.
    done: bool,
}

#[async_trait::async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        if self.failed {
            return Err(failed_earlier(&self.key));
        }
        if let Err(e) = self.file.write_all(&chunk).await {
            self.failed = true;
            return Err(BlobError::io("writing", &self.key, e));
        }
        self.size += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, BlobError> {
        // On any error (or if this future is dropped) `drop` removes the temporary file.
        if self.failed {
            return Err(failed_earlier(&self.key));
        }
        self.file
            .flush()
            .await
            .map_err(|e| BlobError::io("writing", &self.key, e))?;
        self.file
            .sync_all()
            .await
            .map_err(|e| BlobError::io("syncing", &self.key, e))?;
        fs::rename(&self.temp, &self.target)
            .await
            .map_err(|e| BlobError::io("renaming into place", &self.key, e))?;
        self.done = true;
        // The rename itself is durable once the directory is synced.
        let dir = self
            .target
            .parent()
            .expect("a blob path has a parent")
            .to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
            .await
            .map_err(|e| BlobError::io("syncing the directory of", &self.key, io::Error::other(e)))?
            .map_err(|e| BlobError::io("syncing the directory of", &self.key, e))?;
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), BlobError> {
        match fs::remove_file(&self.temp).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BlobError::io(
                    "removing the temporary file of",
                    &self.key,
                    e,
                ))
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let temp = std::mem::take(&mut self.temp);
        let remove = move || {
            if let Err(e) = std::fs::remove_file(&temp) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(file = %temp.display(), error = %e, "cannot remove the temporary file of an interrupted upload");
                }
            }
        };
        // Unlinking is quick, but still a blocking call: off the async workers if possible.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(remove);
            }
            Err(_) => remove(),
        }
    }
}

fn failed_earlier(key: &BlobKey) -> BlobError {
    BlobError::Unexpected {
        step: "writing",
        key: key.to_string(),
        message: "an earlier write failed; the upload must be aborted".into(),
    }
}

/// Whether an error opening a blob's path means there is no blob there (also when a key's
/// parent is a blob file: `a/b` under a file `a`).
fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn is_partial(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX)
}

/// Removes the file or directory tree at `path`; returns how many blobs (not temporary
/// files) it held. Absent is fine.
fn remove_tree(path: &Path) -> io::Result<u64> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if is_absent(&e) => return Ok(0),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        std::fs::remove_file(path)?;
        return Ok(1);
    }
    let mut blobs = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            blobs += remove_tree(&entry.path())?;
        } else {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => blobs += u64::from(!is_partial(&entry.file_name())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(blobs),
        // Gone already, or an upload just created a file in it: that one stays.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(blobs),
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(blobs),
        Err(e) => Err(e),
    }
}

/// Removes the `.partial` files under `root` not modified for `age`; returns how many.
pub fn remove_stale_partials(root: &Path, age: Duration) -> io::Result<u64> {
    let now = SystemTime::now();
    let mut removed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
                continue;
            }
            if !is_partial(&entry.file_name()) {
                continue;
            }
            let modified = entry.metadata()?.modified()?;
            if now.duration_since(modified).unwrap_or_default() >= age {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}
