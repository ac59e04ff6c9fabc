//! What the tests that run the `results-api` binary share.
#![allow(dead_code)]

use std::path::PathBuf;

/// A scratch directory of its own under the system's temporary directory (named after the
/// test and the process), removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory `results-<name>-<pid>`.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("results-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A path in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
