//! `[log]`, the same section in both binaries, and the tracing subscriber it sets up.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::error::{invalid, Result};

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `results_grpc=debug,info`.
    pub filter: String,
    /// How each line is written.
    pub format: LogFormat,
}

/// `log.format`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`, `span`,
    /// `spans`), for log collectors.
    Json,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl LogSettings {
    /// Checks that the filter parses.
    pub fn validate(&self) -> Result<()> {
        EnvFilter::try_new(&self.filter)
            .map(drop)
            .map_err(|e| invalid("log.filter", e.to_string()))
    }

    /// Installs the process-wide subscriber on stdout, filtered by `filter`, in `format`.
    ///
    /// # Panics
    /// If a global subscriber is already installed (call it once, from `main`).
    pub fn init(&self) {
        use std::io::IsTerminal as _;
        let builder = tracing_subscriber::fmt().with_env_filter(EnvFilter::new(&self.filter));
        match self.format {
            // Colours only on a terminal: log collectors (`kubectl logs`, files) get plain
            // text.
            LogFormat::Text => builder
                .with_ansi(
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                )
                .init(),
            LogFormat::Json => builder.json().with_current_span(true).init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_must_parse() {
        assert!(LogSettings::default().validate().is_ok());
        let targeted = LogSettings {
            filter: "results_grpc=debug,info".into(),
            ..LogSettings::default()
        };
        assert!(targeted.validate().is_ok());
        let err = LogSettings {
            filter: "=[".into(),
            ..LogSettings::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("log.filter"), "{err}");
    }
}
