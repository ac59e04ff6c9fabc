//! Helpers for the settings tests of the binaries (feature `test-support`).

use std::collections::BTreeMap;
use std::fmt::Debug;

use crate::layered::Layered;

/// An environment of `(variable, value)` pairs.
pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The message `T` refuses TOML `text` with under the environment `vars`.
///
/// # Panics
/// If `T` loads.
pub fn load_error<T: Layered + Debug>(text: &str, vars: &[(&str, &str)]) -> String {
    T::from_toml(text, "-", &env(vars)).unwrap_err().to_string()
}
