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
        use tracing_subscriber::util::SubscriberInitExt as _;
        // Colours only on a terminal: log collectors (`kubectl logs`, files) get plain text.
        let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        self.subscriber(std::io::stdout, ansi).init();
    }

    /// The subscriber [`LogSettings::init`] installs, writing to `writer`.
    fn subscriber<W>(&self, writer: W, ansi: bool) -> Box<dyn tracing::Subscriber + Send + Sync>
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(&self.filter))
            .with_writer(writer);
        match self.format {
            LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
            LogFormat::Json => Box::new(builder.json().with_current_span(true).finish()),
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

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(settings: &LogSettings) -> String {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = settings.subscriber(move || sink.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", rpc = "GetRecord");
            let _entered = span.enter();
            tracing::info!(namespace = "ci", count = 3, "stored");
            tracing::debug!("filtered out");
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn json_logs_are_one_object_per_line() {
        let settings = LogSettings {
            format: LogFormat::Json,
            ..LogSettings::default()
        };
        let text = written(&settings);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).expect(lines[0]);
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["fields"]["message"], "stored", "{line}");
        assert_eq!(line["fields"]["namespace"], "ci", "{line}");
        assert_eq!(line["fields"]["count"], 3, "{line}");
        assert_eq!(line["span"]["name"], "request", "{line}");
        assert_eq!(line["span"]["rpc"], "GetRecord", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert_eq!(line["target"], module_path!(), "{line}");
    }

    #[test]
    fn text_logs_are_for_people() {
        let text = written(&LogSettings::default());
        assert!(
            text.contains("INFO") && text.contains("stored") && text.contains("namespace=\"ci\""),
            "{text}"
        );
        assert!(serde_json::from_str::<serde_json::Value>(text.trim()).is_err());
        assert_eq!(text.lines().count(), 1, "debug is filtered out: {text}");
    }

    #[test]
    fn the_format_is_a_setting() {
        let parsed: LogSettings = toml::from_str("format = \"json\"").unwrap();
        assert_eq!(parsed.format, LogFormat::Json);
        assert!(toml::from_str::<LogSettings>("format = \"xml\"").is_err());
    }
}
