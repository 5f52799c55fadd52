//! The CLI's error type. Two kinds, because the exit code must tell a user's mistake (2) from a
//! failure of the tool or its environment (1).

use std::fmt;
use std::path::Path;

/// An error that ends a `burstsim` command.
#[derive(Debug)]
pub enum Error {
    /// Bad user input (config, flags, paths given on the command line): exit code 2. The message
    /// names the file, the field path and what was expected.
    Input(String),
    /// Anything else (I/O on outputs, a bug, the environment): exit code 1.
    Other(anyhow::Error),
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

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) => 2,
            Error::Other(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(message) => f.write_str(message),
            // `{:#}` prints the whole context chain on one line: "out/x.csv: permission denied".
            Error::Other(err) => write!(f, "{err:#}"),
        }
    }
}

impl std::error::Error for Error {}

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
