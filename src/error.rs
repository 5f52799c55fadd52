//! The CLI's error type. The exit code is decided by who is at fault (`Fault`): a user's
//! mistake exits 2, a failure of the tool or its environment exits 1.

use std::path::Path;

pub use executor::Fault;

/// An error that ends a `burstsim` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad user input (config, flags, paths given on the command line). The message names the
    /// file, the field path and what was expected.
    #[error("{0}")]
    Input(String),
    /// Anything else (I/O on outputs, a bug, the environment). `{:#}` prints the whole context
    /// chain on one line: "out/x.csv: permission denied".
    #[error("{0:#}")]
    Other(anyhow::Error),
    /// An error of the live executor, which knows who is at fault.
    #[error(transparent)]
    Live(#[from] executor::Error),
}

impl Error {
    /// Bad user input with this message.
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }

    /// A failure to write or read an output file at `path`.
    pub fn io(path: &Path, err: std::io::Error) -> Self {
        Error::Other(anyhow::Error::new(err).context(format!("{}", path.display())))
    }

    /// A failure of the tool or its environment with this message.
    pub fn environment(message: impl std::fmt::Display) -> Self {
        Error::Other(anyhow::anyhow!("{message}"))
    }

    /// Who must act for this error to go away.
    pub fn fault(&self) -> Fault {
        match self {
            Error::Input(_) => Fault::User,
            Error::Other(_) => Fault::Environment,
            Error::Live(e) => e.fault(),
        }
    }

    /// The process exit code for this error: 2 for the user's mistakes, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self.fault() {
            Fault::User => 2,
            Fault::Environment => 1,
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        Error::Other(err)
    }
}

impl From<sim_core::config::ConfigError> for Error {
    fn from(err: sim_core::config::ConfigError) -> Self {
        Error::Input(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_follows_the_fault() {
        assert_eq!(Error::input("bad").exit_code(), 2);
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = Error::io(Path::new("out/x.csv"), io);
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().starts_with("out/x.csv: "), "{e}");
        let bad_cluster = executor::Error::input("at `agents[0].cpus`: expected >= 1");
        assert_eq!(Error::from(bad_cluster).exit_code(), 2);
        let broker_down = executor::Error::Broker("cannot reach the broker".into());
        let e = Error::from(broker_down);
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "cannot reach the broker");
    }
}
