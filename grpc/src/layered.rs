//! What both binaries share: layered settings — a TOML file, then
//! `<PREFIX><SECTION>_<KEY>` environment variables on top (the environment wins),
//! deserialised into a typed struct, every problem naming the key or variable at fault —
//! and the shutdown signal.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A setting could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The path given.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A key has a bad value or is unknown.
    #[error("invalid setting `{key}`: {message}")]
    Invalid {
        /// `section.key`, or the environment variable.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// A [`SettingsError::Invalid`] for `key`.
pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Which environment variables override settings.
#[derive(Debug, Clone, Copy)]
pub struct EnvOverrides<'a> {
    /// Variables named `<prefix><SECTION>_<KEY>` override `section.key`.
    pub prefix: &'a str,
    /// Variables starting with one of these belong to something else and are ignored.
    pub skip: &'a [&'a str],
}

/// Settings of a binary: a TOML file, then environment overrides, then validation.
pub trait Layered: Serialize + DeserializeOwned + Default {
    /// Which environment variables override these settings.
    const OVERRIDES: EnvOverrides<'static>;

    /// Checks what deserialising cannot (ranges, addresses, combinations).
    fn validate(&self) -> Result<(), SettingsError>;

    /// Loads the file at `path` (if any), applies overrides from `env`, validates.
    fn load(path: Option<&str>, env: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let text = read_file(path)?;
        Self::from_toml(&text, path.unwrap_or("(none)"), env)
    }

    /// Parses TOML text (from `path`, for messages), applies overrides from `env`,
    /// validates.
    fn from_toml(
        text: &str,
        path: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let settings: Self = load(text, path, env, &Self::OVERRIDES)?;
        settings.validate()?;
        Ok(settings)
    }
}

/// `[log]`, the same for both binaries.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `results_grpc=debug,info`.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: "info".into(),
        }
    }
}

impl LogSettings {
    /// Checks that the filter parses.
    pub fn validate(&self) -> Result<(), SettingsError> {
        tracing_subscriber::EnvFilter::try_new(&self.filter)
            .map(drop)
            .map_err(|e| invalid("log.filter", e.to_string()))
    }
}

/// Reads the file at `path`, or nothing when there is no path.
pub fn read_file(path: Option<&str>) -> Result<String, SettingsError> {
    match path {
        Some(path) => std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.into(),
            source,
        }),
        None => Ok(String::new()),
    }
}

/// Parses TOML `text` (from `path`, for messages), applies the overrides found in `env`
/// and deserialises. Sections and keys are those of `T::default()`; unknown ones fail.
pub fn load<T>(
    text: &str,
    path: &str,
    env: &BTreeMap<String, String>,
    overrides: &EnvOverrides<'_>,
) -> Result<T, SettingsError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut table: toml::Table = toml::from_str(text).map_err(|e| SettingsError::Syntax {
        path: path.into(),
        message: e.to_string(),
    })?;
    let defaults = toml::Table::try_from(T::default()).expect("defaults serialise");
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(overrides.prefix) else {
            continue;
        };
        if overrides.skip.iter().any(|skip| var.starts_with(skip)) {
            continue;
        }
        apply_env(
            &mut table,
            &defaults,
            var,
            &rest.to_ascii_lowercase(),
            value,
        )?;
    }
    serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))
}

/// Applies one `<PREFIX><SECTION>_<KEY>` override, typed like the default it replaces.
fn apply_env(
    table: &mut toml::Table,
    defaults: &toml::Table,
    var: &str,
    name: &str,
    value: &str,
) -> Result<(), SettingsError> {
    let found = defaults.iter().find_map(|(section, keys)| {
        let key = name.strip_prefix(section.as_str())?.strip_prefix('_')?;
        let default = keys.as_table()?.get(key)?;
        Some((section.clone(), key.to_owned(), default))
    });
    let Some((section, key, default)) = found else {
        return Err(invalid(
            var,
            "unknown setting (see the README for the keys)",
        ));
    };
    let typed = match default {
        toml::Value::Integer(_) => toml::Value::Integer(
            value
                .trim()
                .parse()
                .map_err(|_| invalid(var, format!("{value:?} is not an integer")))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(
            value
                .trim()
                .parse()
                .map_err(|_| invalid(var, format!("{value:?} is not true or false")))?,
        ),
        _ => toml::Value::String(value.to_owned()),
    };
    let section = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| invalid(section, "must be a table"))?;
    section.insert(key, typed);
    Ok(())
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
