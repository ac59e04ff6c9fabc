//! Layered settings: a TOML file, then `<PREFIX><SECTION>_<KEY>` environment variables on
//! top (the environment wins), deserialised into a typed struct and validated, every
//! problem naming the key or variable at fault.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cli::CommandLine;
use crate::error::{invalid, Error, Result};

/// Which environment variables override settings.
#[derive(Debug, Clone, Copy)]
pub struct EnvOverrides<'a> {
    /// Variables named `<prefix><SECTION>_<KEY>` override `section.key`.
    pub prefix: &'a str,
    /// The variable naming the config file (the `--config` flag wins over it); it starts
    /// with the prefix but is no setting.
    pub config_file: &'a str,
    /// Variables starting with one of these belong to something else and are ignored.
    pub skip: &'a [&'a str],
}

/// Settings of a binary: a TOML file, then environment overrides, then validation.
pub trait Layered: Serialize + DeserializeOwned + Default {
    /// Which environment variables override these settings.
    const OVERRIDES: EnvOverrides<'static>;

    /// Checks what deserialising cannot (ranges, addresses, combinations).
    fn validate(&self) -> Result<()>;

    /// Loads the file the command line names, else the one `env` names under
    /// [`EnvOverrides::config_file`], else none; applies overrides from `env`; validates.
    fn from_command_line(cli: &CommandLine, env: &BTreeMap<String, String>) -> Result<Self> {
        Self::load(cli.config_file(Self::OVERRIDES.config_file, env), env)
    }

    /// Loads the file at `path` (if any), applies overrides from `env`, validates.
    fn load(path: Option<&str>, env: &BTreeMap<String, String>) -> Result<Self> {
        let text = read_file(path)?;
        Self::from_toml(&text, path.unwrap_or("(none)"), env)
    }

    /// Parses TOML text (from `path`, for messages), applies overrides from `env`,
    /// validates.
    fn from_toml(text: &str, path: &str, env: &BTreeMap<String, String>) -> Result<Self> {
        let settings: Self = merge(text, path, env, &Self::OVERRIDES)?;
        settings.validate()?;
        Ok(settings)
    }
}

/// For [`Layered::validate`]: fails on the first `(key, value)` whose value is 0, naming
/// its key.
pub fn positive<'a>(values: impl IntoIterator<Item = (&'a str, u64)>) -> Result<()> {
    match values.into_iter().find(|&(_, value)| value == 0) {
        Some((key, _)) => Err(invalid(key, "must be greater than 0")),
        None => Ok(()),
    }
}

/// Reads the file at `path`, or nothing when there is no path.
fn read_file(path: Option<&str>) -> Result<String> {
    match path {
        Some(path) => std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.into(),
            source,
        }),
        None => Ok(String::new()),
    }
}

/// Parses TOML `text` (from `path`, for messages), applies the overrides found in `env`
/// and deserialises. Sections and keys are those of `T::default()`; unknown ones fail.
fn merge<T>(
    text: &str,
    path: &str,
    env: &BTreeMap<String, String>,
    overrides: &EnvOverrides<'_>,
) -> Result<T>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut table: toml::Table = toml::from_str(text).map_err(|source| Error::ParseFile {
        path: path.into(),
        source,
    })?;
    let defaults = toml::Table::try_from(T::default()).expect("defaults serialise");
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(overrides.prefix) else {
            continue;
        };
        if var == overrides.config_file || overrides.skip.iter().any(|skip| var.starts_with(skip)) {
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
) -> Result<()> {
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
        // A list of strings: comma-separated.
        toml::Value::Array(_) => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{env, load_error};
    use serde::Deserialize;

    /// Settings shaped like the binaries': sections of typed keys.
    #[derive(Debug, PartialEq, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        server: Server,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Server {
        port: u16,
        name: String,
        tls: bool,
        max_body: u64,
        mirrors: Vec<String>,
    }

    impl Default for Server {
        fn default() -> Self {
            Server {
                port: 8080,
                name: "demo".into(),
                tls: false,
                max_body: 1024,
                mirrors: Vec::new(),
            }
        }
    }

    impl Layered for Demo {
        const OVERRIDES: EnvOverrides<'static> = EnvOverrides {
            prefix: "DEMO_",
            config_file: "DEMO_CONFIG",
            skip: &["DEMO_OTHER_"],
        };

        fn validate(&self) -> Result<()> {
            positive([
                ("server.port", self.server.port.into()),
                ("server.max_body", self.server.max_body),
            ])
        }
    }

    #[test]
    fn nothing_given_means_the_defaults() {
        assert_eq!(Demo::load(None, &env(&[])).unwrap(), Demo::default());
    }

    #[test]
    fn the_environment_wins_over_the_file_typed_like_the_default() {
        let demo = Demo::from_toml(
            "[server]\nport = 9000\nname = \"file\"\nmax_body = 5\n",
            "demo.toml",
            &env(&[
                ("DEMO_SERVER_PORT", " 9100 "),
                ("DEMO_SERVER_TLS", "true"),
                ("DEMO_SERVER_NAME", "42"),
                ("DEMO_SERVER_MIRRORS", "a://x, b://y,"),
                // Not settings: the config file variable, another program's, unprefixed.
                ("DEMO_CONFIG", "/ignored"),
                ("DEMO_OTHER_THING", "x"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(
            demo.server,
            Server {
                port: 9100,
                name: "42".into(),
                tls: true,
                max_body: 5,
                mirrors: vec!["a://x".into(), "b://y".into()],
            }
        );
    }

    #[test]
    fn errors_name_the_key_or_variable() {
        let cases = [
            ("[server]\nprot = 1", &[][..], "prot"),
            ("[server]\nport = \"x\"", &[], "server.port"),
            ("[server]\nport = 0", &[], "server.port"),
            ("[server]\nmax_body = 0", &[], "server.max_body"),
            ("[client]\nport = 1", &[], "client"),
            ("", &[("DEMO_SERVER_PORT", "many")], "DEMO_SERVER_PORT"),
            ("", &[("DEMO_SERVER_TLS", "yes")], "DEMO_SERVER_TLS"),
            ("", &[("DEMO_SERVER_PROT", "1")], "DEMO_SERVER_PROT"),
            ("", &[("DEMO_NOPE_X", "1")], "DEMO_NOPE_X"),
            ("server = 1", &[("DEMO_SERVER_PORT", "1")], "server"),
        ];
        for (text, vars, key) in cases {
            let err = load_error::<Demo>(text, vars);
            assert!(err.contains(key), "{err} should name {key}");
        }
        let err = Demo::from_toml("[server", "demo.toml", &env(&[])).unwrap_err();
        assert!(matches!(err, Error::ParseFile { .. }), "{err:?}");
        assert!(err.to_string().contains("demo.toml"), "{err}");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = Demo::load(Some("/nonexistent/demo.toml"), &env(&[])).unwrap_err();
        assert!(matches!(err, Error::ReadFile { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/demo.toml"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn the_flag_wins_over_the_config_file_variable() {
        let dir = std::env::temp_dir().join(format!("results-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flagged = dir.join("flag.toml");
        std::fs::write(&flagged, "[server]\nname = \"flag\"\n").unwrap();
        let named = dir.join("env.toml");
        std::fs::write(&named, "[server]\nname = \"env\"\n").unwrap();
        let vars = env(&[("DEMO_CONFIG", named.to_str().unwrap())]);

        let from_env = Demo::from_command_line(&CommandLine::default(), &vars).unwrap();
        assert_eq!(from_env.server.name, "env");
        let cli = CommandLine {
            config: Some(flagged.to_str().unwrap().into()),
            ..CommandLine::default()
        };
        assert_eq!(
            Demo::from_command_line(&cli, &vars).unwrap().server.name,
            "flag"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
