//! The command line both binaries share: `[--config FILE] [COMMAND [ARGS…]]`, with `-c` and
//! `--help`/`-h`; where the config file comes from when the flag is absent. What a
//! command's own arguments mean is the binary's business.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Print the usage and exit successfully.
    Help,
    /// Run with these arguments.
    Run(CommandLine),
}

/// The arguments of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandLine {
    /// The file `--config` names.
    pub config: Option<String>,
    /// The subcommand given, if the binary has any.
    pub command: Option<String>,
    /// The arguments after the subcommand, other than `--config`/`-c` and `--help`/`-h`,
    /// in order.
    pub args: Vec<String>,
}

impl CommandLine {
    /// Parses `args` (without the program name); `commands` are the subcommands the binary
    /// accepts. Everything after the subcommand but the global flags is the command's own
    /// arguments. `--help` anywhere after valid arguments wins over what follows it.
    pub fn parse(args: impl IntoIterator<Item = String>, commands: &[&str]) -> Result<Invocation> {
        let mut args = args.into_iter();
        let mut line = CommandLine::default();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--config" | "-c" => match args.next() {
                    Some(path) => line.config = Some(path),
                    None => return Err(Error::MissingValue { flag: arg }),
                },
                "--help" | "-h" => return Ok(Invocation::Help),
                _ if line.command.is_some() => line.args.push(arg),
                command if commands.contains(&command) => line.command = Some(arg),
                _ => return Err(Error::UnknownArgument(arg)),
            }
        }
        Ok(Invocation::Run(line))
    }

    /// Refuses arguments after the subcommand, for commands that take none.
    pub fn no_args(&self) -> Result<()> {
        match self.args.first() {
            Some(arg) => Err(Error::UnknownArgument(arg.clone())),
            None => Ok(()),
        }
    }

    /// The config file: the one `--config` names, else the one the environment variable
    /// `var` names in `env`, else none.
    pub fn config_file<'a>(
        &'a self,
        var: &str,
        env: &'a BTreeMap<String, String>,
    ) -> Option<&'a str> {
        self.config.as_deref().or(env.get(var).map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], commands: &[&str]) -> Result<Invocation> {
        CommandLine::parse(args.iter().map(|a| a.to_string()), commands)
    }

    fn run(config: Option<&str>, command: Option<&str>, args: &[&str]) -> Invocation {
        Invocation::Run(CommandLine {
            config: config.map(Into::into),
            command: command.map(Into::into),
            args: args.iter().map(|a| a.to_string()).collect(),
        })
    }

    #[test]
    fn flags_and_commands() {
        let commands = &["serve", "migrate"];
        assert_eq!(parse(&[], commands).unwrap(), run(None, None, &[]));
        assert_eq!(
            parse(&["--config", "a.toml", "migrate"], commands).unwrap(),
            run(Some("a.toml"), Some("migrate"), &[])
        );
        // After the command: its own arguments, the global flags still global.
        let line = parse(
            &[
                "serve",
                "-c",
                "a.toml",
                "--dry-run",
                "-c",
                "b.toml",
                "migrate",
            ],
            commands,
        )
        .unwrap();
        assert_eq!(
            line,
            run(Some("b.toml"), Some("serve"), &["--dry-run", "migrate"])
        );
        let Invocation::Run(line) = line else {
            unreachable!()
        };
        assert_eq!(
            line.no_args().unwrap_err().to_string(),
            "unknown argument \"--dry-run\""
        );
        let Invocation::Run(bare) = parse(&["migrate"], commands).unwrap() else {
            unreachable!()
        };
        bare.no_args().unwrap();
        assert_eq!(
            parse(&["-c", "a", "--help", "bogus"], commands).unwrap(),
            Invocation::Help
        );
        assert_eq!(parse(&["-h"], &[]).unwrap(), Invocation::Help);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let err = parse(&["serve"], &[]).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownArgument(a) if a == "serve"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "unknown argument \"serve\"");
        let err = parse(&["--bogus", "--help"], &["serve"]).unwrap_err();
        assert!(matches!(err, Error::UnknownArgument(_)), "{err:?}");
        let err = parse(&["--config"], &[]).unwrap_err();
        assert_eq!(err.to_string(), "--config needs a file");
        let err = parse(&["-c"], &[]).unwrap_err();
        assert_eq!(err.to_string(), "-c needs a file");
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let env: BTreeMap<String, String> = [("APP_CONFIG".to_string(), "env.toml".to_string())]
            .into_iter()
            .collect();
        let flagged = CommandLine {
            config: Some("flag.toml".into()),
            ..CommandLine::default()
        };
        assert_eq!(flagged.config_file("APP_CONFIG", &env), Some("flag.toml"));
        let bare = CommandLine::default();
        assert_eq!(bare.config_file("APP_CONFIG", &env), Some("env.toml"));
        assert_eq!(bare.config_file("OTHER_CONFIG", &env), None);
    }
}
