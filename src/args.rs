//! The command-line options shared by every command that runs a scenario config, defined once:
//! `--config FILE`, `--out DIR`, `--seed N` and `--set KEY=VALUE`.
//!
//! A command with one config flattens [`ConfigArgs`] into its own arguments and adds what is
//! its own (`burstsim live` adds `--cluster`, `burstsim validate` `--cluster` and `--repeat`):
//!
//! ```
//! use burstsim::args::ConfigArgs;
//!
//! #[derive(clap::Args)]
//! struct LiveArgs {
//!     #[command(flatten)]
//!     config: ConfigArgs,
//!     /// The cluster file.
//!     #[arg(long, value_name = "FILE")]
//!     cluster: std::path::PathBuf,
//! }
//! ```
//!
//! A command with several configs (`burstsim compare`) declares its repeated `--config` itself and
//! flattens only [`RunOptions`], the part that applies to every config.

use std::path::{Path, PathBuf};

use clap::Args;
use sim_core::Scenario;

use crate::report::RecordsMode;
use crate::Error;

/// `--config FILE` and the options of a run of it.
#[derive(Debug, Clone, Args)]
#[group(id = "config-args")]
pub struct ConfigArgs {
    /// The scenario config (TOML).
    // Named into the group by hand: clap (4.6, issue 4697) leaves the group of a struct with a
    // flattened field empty, and an optional flattened `ConfigArgs` (the bare
    // `burstsim --config FILE` form) would then always be `None`.
    #[arg(long, value_name = "FILE", group = "config-args")]
    pub config: PathBuf,
    #[command(flatten)]
    pub options: RunOptions,
}

/// `--out`, `--seed`, `--set` and `--records`: how a config is run and where its files go.
#[derive(Debug, Clone, Default, Args)]
pub struct RunOptions {
    /// Output folder (default: a folder under results/ named after the config).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed (overrides the config's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a config value: `--set key.path=value` (TOML value), repeatable; applies to
    /// every config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Per-function record files to write (streamed as the run goes): `none` keeps only the
    /// summary and the plots.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = RecordsMode::Both)]
    pub records: RecordsMode,
}

impl ConfigArgs {
    /// The config with the `--set` overrides, validated; errors name the file and the field.
    pub fn load(&self) -> Result<Scenario, Error> {
        self.options.load(&self.config)
    }
}

impl RunOptions {
    /// `path` with the `--set` overrides, validated; errors name the file and the field.
    pub fn load(&self, path: &Path) -> Result<Scenario, Error> {
        Ok(Scenario::load(path, &self.sets)?)
    }

    /// `--seed`, or else the scenario's own seed.
    pub fn seed_for(&self, scenario: &Scenario) -> u64 {
        self.seed.unwrap_or(scenario.seed())
    }

    /// `--out`, or else `results/<default_name>` ([`crate::run::default_out_dir`]).
    pub fn out_dir(&self, default_name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| crate::run::default_out_dir(default_name))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The bare `burstsim --config FILE` form: `ConfigArgs` flattened as an option.
    #[derive(Parser)]
    struct Bare {
        #[command(flatten)]
        run: Option<ConfigArgs>,
    }

    #[test]
    fn optional_config_args_are_present_when_config_is_given() {
        let bare = Bare::try_parse_from(["x", "--config", "a.toml", "--seed", "4", "--set", "k=1"])
            .unwrap();
        let run = bare.run.expect("--config given");
        assert_eq!(run.config, Path::new("a.toml"));
        assert_eq!(run.options.seed, Some(4));
        assert_eq!(run.options.sets, ["k=1"]);
        assert!(Bare::try_parse_from(["x", "--seed", "4"]).is_err());
    }

    #[test]
    fn out_dir_defaults_under_results() {
        let mut options = RunOptions::default();
        assert_eq!(options.out_dir("hetero"), Path::new("results/hetero"));
        options.out = Some("elsewhere".into());
        assert_eq!(options.out_dir("hetero"), Path::new("elsewhere"));
    }
}
