//! What can go wrong between the command line and a validated settings struct.

/// A setting, the config file or the command line could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the config file failed.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The path given.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Parsing the config file as TOML failed.
    #[error("config file {path} is not valid TOML: {source}")]
    ParseFile {
        /// The path given.
        path: String,
        /// The parser's error.
        #[source]
        source: toml::de::Error,
    },
    /// A key has a bad value or is unknown.
    #[error("invalid setting `{key}`: {message}")]
    Invalid {
        /// `section.key`, or the environment variable.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A command-line flag came without its value.
    #[error("{flag} needs a file")]
    MissingValue {
        /// The flag as given, e.g. `--config`.
        flag: String,
    },
    /// A command-line argument is not one the binary knows.
    #[error("unknown argument {0:?}")]
    UnknownArgument(String),
}

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An [`Error::Invalid`] for `key`.
pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid {
        key: key.into(),
        message: message.into(),
    }
}
