//! Every plot is written the same way: one drawing routine ([`Plot::draw`]) rendered twice, to
//! `<stem>.png` and `<stem>.svg`, each through the atomic-write rule of [`crate::atomic`], with
//! one error type ([`DrawError`]) for whatever the drawing backend reports.
//!
//! A new plot is a type holding what it shows plus an `impl Plot`, then one call:
//!
//! ```
//! use burstsim::report::render::{write_png_svg, DrawError, Plot};
//! use plotters::coord::Shift;
//! use plotters::prelude::*;
//!
//! struct Blank;
//!
//! impl Plot for Blank {
//!     fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
//!         root.fill(&WHITE)?;
//!         root.present()?;
//!         Ok(())
//!     }
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! write_png_svg(dir.path(), "blank", (200, 100), &Blank).unwrap();
//! assert!(dir.path().join("blank.png").exists() && dir.path().join("blank.svg").exists());
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::plots::register_fonts;
use crate::{atomic, Error};

/// What a drawing step failed with, as text (the backends' error types differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawError(pub String);

impl fmt::Display for DrawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DrawError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(err: DrawingAreaErrorKind<E>) -> Self {
        DrawError(err.to_string())
    }
}

/// For drawing routines written against `Result<(), String>`.
impl From<String> for DrawError {
    fn from(message: String) -> Self {
        DrawError(message)
    }
}

/// A figure that can draw itself on any plotters backend.
pub trait Plot {
    /// Draws the whole figure on `root` (filling the background) and presents it.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>;
}

/// Writes `plot` as `dir/<stem>.png` and `dir/<stem>.svg` of `size` pixels, each atomically;
/// returns the two paths.
pub fn write_png_svg(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    plot: &impl Plot,
) -> Result<[PathBuf; 2], Error> {
    register_fonts();
    let png = dir.join(format!("{stem}.png"));
    atomic::write_via_temp(&png, |temp| {
        Ok(plot.draw(&BitMapBackend::new(temp, size).into_drawing_area())?)
    })?;
    let svg = dir.join(format!("{stem}.svg"));
    atomic::write_via_temp(&svg, |temp| {
        Ok(plot.draw(&SVGBackend::new(temp, size).into_drawing_area())?)
    })?;
    Ok([png, svg])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws the background, then fails.
    struct Broken;

    impl Plot for Broken {
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
            root.fill(&WHITE)?;
            Err(DrawError::from("no data to draw".to_string()))
        }
    }

    #[test]
    fn a_failed_drawing_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_png_svg(dir.path(), "cdf", (120, 80), &Broken).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("cdf.png") && message.contains("no data to draw"),
            "{message}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
