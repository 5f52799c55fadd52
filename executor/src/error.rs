//! The executor's error type. Each variant says what failed; `Error::fault` says who must act
//! for it to go away: the user (a bad cluster file, flag or value, exit code 2 in `burstsim`)
//! or the environment (broker, container runtime or engine, agents, files, exit code 1).
//! Messages are complete (context and cause on one line), so callers print `{err}` alone.

use std::fmt::Display;

/// Who is at fault for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bad input: a cluster file, a command-line value, a directory without a cluster.
    User,
    /// The machine or a service: broker, runtime, engine, agents, file system.
    Environment,
}

/// An error of the live executor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cluster file, flag or value the user gave is wrong; the message names the file or
    /// flag, the field and what was expected.
    #[error("{0}")]
    Input(String),
    /// Something this machine lacks: root, a runtime, redis-server, the worker binary.
    #[error("{0}")]
    Missing(String),
    /// The broker cannot be reached or refused a command.
    #[error("{0}")]
    Broker(String),
    /// The container runtime or engine refused or failed.
    #[error("{0}")]
    Container(String),
    /// Agents did not start, or stopped answering.
    #[error("{0}")]
    Agents(String),
    /// A message, report or state file that does not parse (or cannot be encoded).
    #[error("{0}")]
    Protocol(String),
    /// A file or process operation failed; `what` was being done.
    #[error("{}", with_cause(what, cause))]
    Io { what: String, cause: std::io::Error },
}

/// The executor's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn with_cause(what: &str, cause: &dyn Display) -> String {
    if what.is_empty() {
        cause.to_string()
    } else {
        format!("{what}: {cause}")
    }
}

impl Error {
    /// Who must act for this error to go away.
    pub fn fault(&self) -> Fault {
        match self {
            Error::Input(_) => Fault::User,
            Error::Missing(_)
            | Error::Broker(_)
            | Error::Container(_)
            | Error::Agents(_)
            | Error::Protocol(_)
            | Error::Io { .. } => Fault::Environment,
        }
    }

    /// Bad user input with this message.
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }

    /// The same error, its message prefixed by `context` ("context: message").
    pub fn context(self, context: impl Display) -> Self {
        let prefix = |m: String| format!("{context}: {m}");
        match self {
            Error::Input(m) => Error::Input(prefix(m)),
            Error::Missing(m) => Error::Missing(prefix(m)),
            Error::Broker(m) => Error::Broker(prefix(m)),
            Error::Container(m) => Error::Container(prefix(m)),
            Error::Agents(m) => Error::Agents(prefix(m)),
            Error::Protocol(m) => Error::Protocol(prefix(m)),
            Error::Io { what, cause } => Error::Io {
                what: if what.is_empty() {
                    context.to_string()
                } else {
                    prefix(what)
                },
                cause,
            },
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(cause: std::io::Error) -> Self {
        Error::Io {
            what: String::new(),
            cause,
        }
    }
}

impl From<nix::Error> for Error {
    fn from(errno: nix::Error) -> Self {
        std::io::Error::from(errno).into()
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Protocol(format!("JSON: {e}"))
    }
}

/// `.context(..)` on any result whose error converts into an `Error`: keeps the kind, prefixes
/// the message.
pub trait Context<T> {
    fn context(self, context: impl Display) -> Result<T>;
    fn with_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(context()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind_and_prefixes_the_message() {
        let e = Err::<(), _>(Error::input("at `cpus`: expected >= 1"))
            .context("in cluster file c.toml")
            .unwrap_err();
        assert_eq!(e.fault(), Fault::User);
        assert_eq!(
            e.to_string(),
            "in cluster file c.toml: at `cpus`: expected >= 1"
        );
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = Err::<(), _>(io).context("reading x").unwrap_err();
        assert_eq!(e.fault(), Fault::Environment);
        assert!(e.to_string().starts_with("reading x: "), "{e}");
        let e = e.context("agent 0");
        assert!(e.to_string().starts_with("agent 0: reading x: "), "{e}");
        assert!(matches!(e, Error::Io { .. }));
    }
}
