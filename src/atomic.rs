//! The one rule for every file the tool writes: write a temporary sibling, then rename it over
//! the target. The rename is atomic within a folder, so an interrupted or failed command leaves
//! the previous file or the new one, never a half-written one, and no temporary file behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;

/// The temporary sibling of `path`: same folder (so the rename is atomic) and same extension
/// (writers that pick a format by extension, like the PNG encoder, still work).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Lets `write` create and fill the file at the path it is given (the temporary sibling of
/// `path`), then renames it over `path`. On failure the temporary file is removed and the error
/// names `path`.
pub fn write_via_temp(
    path: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> Result<(), Error> {
    let temp = temp_path(path);
    let result =
        write(&temp).and_then(|()| std::fs::rename(&temp, path).map_err(anyhow::Error::from));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::Other(e.context(format!("writing {}", path.display())))
    })
}

/// Lets `write` fill a buffered temporary file, then renames it over `path`.
pub fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> Result<(), Error> {
    write_via_temp(path, |temp| {
        let mut file = BufWriter::new(File::create(temp)?);
        write(&mut file)?;
        file.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    })
}

/// A file written over time (e.g. records streamed while a simulation runs) into its temporary
/// sibling, renamed over `path` by [`PendingFile::commit`]. Dropped without a commit (an
/// error, an interrupted run), it removes the temporary and leaves `path` as it was.
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    temp: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Creates the temporary file; returns it buffered, to be filled and flushed by the caller.
    pub fn create(path: &Path) -> Result<(PendingFile, BufWriter<File>), Error> {
        let temp = temp_path(path);
        let file = File::create(&temp).map_err(|e| Error::io(path, e))?;
        let pending = PendingFile {
            path: path.to_path_buf(),
            temp,
            committed: false,
        };
        Ok((pending, BufWriter::with_capacity(1 << 20, file)))
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the (flushed and closed) temporary file over the target.
    pub fn commit(mut self) -> Result<(), Error> {
        std::fs::rename(&self.temp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `path`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_file(path, |file| Ok(file.write_all(bytes)?))
}

/// Writes `value` as pretty JSON and a newline to `path`.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?;
    text.push('\n');
    write_bytes(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.csv");
        write_bytes(&path, b"old\n").unwrap();
        let err = write_file(&path, |file| {
            file.write_all(b"half")?;
            Err(anyhow::anyhow!("disk on fire"))
        })
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("table.csv") && message.contains("disk on fire"),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_pending_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.csv");
        write_bytes(&path, b"old\n").unwrap();
        let (pending, mut file) = PendingFile::create(&path).unwrap();
        file.write_all(b"new\n").unwrap();
        drop(file);
        drop(pending);
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let (pending, mut file) = PendingFile::create(&path).unwrap();
        file.write_all(b"new\n").unwrap();
        file.into_inner().unwrap();
        pending.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_temporary_keeps_folder_and_extension() {
        let temp = temp_path(Path::new("out/plots/timeline.png"));
        assert_eq!(temp.parent(), Some(Path::new("out/plots")));
        assert_eq!(temp.extension().and_then(|e| e.to_str()), Some("png"));
    }
}
