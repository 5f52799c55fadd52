//! `burstsim merge DIR...`: joins the folders of one sweep's shards (or partial runs) into one
//! folder, as if the sweep had run there unsharded: same log, same tables, plots when complete.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use super::row::Row;
use super::store::{self, Manifest};
use crate::Error;

/// Arguments of `burstsim merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Output folders of `burstsim sweep` (typically one per shard).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged sweep goes (default: results/sweeps/<name>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not draw the sweep plots.
    #[arg(long)]
    pub no_plots: bool,
}

/// What a merge produced.
#[derive(Debug, Clone)]
pub struct Merged {
    pub dir: PathBuf,
    pub rows: u64,
    pub runs: u64,
}

/// `burstsim merge`.
pub fn main(args: &MergeArgs) -> Result<(), Error> {
    let merged = merge(args)?;
    println!(
        "merged {} folder{}: {}/{} runs in {}",
        args.dirs.len(),
        if args.dirs.len() == 1 { "" } else { "s" },
        merged.rows,
        merged.runs,
        merged.dir.display()
    );
    if merged.rows < merged.runs {
        eprintln!(
            "warning: {} runs of the sweep are missing (a shard not run or not finished); \
             no plots drawn. Merge again when they are done.",
            merged.runs - merged.rows
        );
    }
    Ok(())
}

/// Checks that all folders hold the same sweep, joins their rows, writes the merged folder.
pub fn merge(args: &MergeArgs) -> Result<Merged, Error> {
    let mut first: Option<(PathBuf, Manifest)> = None;
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    let mut origin: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for dir in &args.dirs {
        let manifest = store::read_manifest(dir)?.ok_or_else(|| {
            Error::input(format!(
                "{}: not a sweep output folder (no {})",
                dir.display(),
                store::MANIFEST
            ))
        })?;
        if let Some((first_dir, first)) = &first {
            if first.hash != manifest.hash {
                return Err(Error::input(format!(
                    "{} and {} hold different sweeps (`{}`, hash {} vs `{}`, hash {}): \
                     only shards of the same sweep (same base config, axes and seeds) can be merged",
                    first_dir.display(),
                    dir.display(),
                    first.name,
                    first.hash,
                    manifest.name,
                    manifest.hash
                )));
            }
        } else {
            first = Some((dir.clone(), manifest.clone()));
        }
        add_rows(
            &mut rows,
            &mut origin,
            dir,
            store::load_rows(dir, &manifest.hash)?,
        )?;
    }
    let Some((_, manifest)) = first else {
        return Err(Error::input("merge: expected at least one folder"));
    };
    let manifest = Manifest {
        shard: None,
        ..manifest
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| super::default_dir(&manifest.name, None));
    // An existing merged folder of the same sweep keeps its rows; one of another sweep is refused.
    if store::read_manifest(&dir)?.is_some() {
        store::prepare(&dir, &manifest)?;
        if !args.dirs.contains(&dir) {
            add_rows(
                &mut rows,
                &mut origin,
                &dir,
                store::load_rows(&dir, &manifest.hash)?,
            )?;
        }
    }
    rows.retain(|run, _| manifest.wants(*run));
    store::prepare(&dir, &manifest)?;
    store::write_log(&dir, &manifest.hash, &rows)?;
    store::write_tables(&dir, &rows)?;
    if !args.no_plots && rows.len() as u64 == manifest.runs {
        super::plot::write_plots(&dir, &manifest, &rows)?;
    }
    Ok(Merged {
        dir,
        rows: rows.len() as u64,
        runs: manifest.runs,
    })
}

/// Adds a folder's rows; a run present twice must have the same row (it is deterministic).
fn add_rows(
    rows: &mut BTreeMap<u64, Row>,
    origin: &mut BTreeMap<u64, PathBuf>,
    dir: &std::path::Path,
    found: BTreeMap<u64, Row>,
) -> Result<(), Error> {
    for (run, row) in found {
        match rows.get(&run) {
            Some(existing) if *existing != row => {
                return Err(Error::input(format!(
                    "run {run} differs between {} and {}: were they made by different versions of burstsim?",
                    origin[&run].display(),
                    dir.display()
                )))
            }
            Some(_) => {}
            None => {
                rows.insert(run, row);
                origin.insert(run, dir.to_path_buf());
            }
        }
    }
    Ok(())
}
