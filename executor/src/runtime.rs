//! The OCI runtime CLI (runc, or crun which takes the same commands).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Which OCI runtime runs the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Runc,
    Crun,
}

impl RuntimeKind {
    pub fn binary(&self) -> &'static str {
        match self {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Crun => "crun",
        }
    }
}

/// A runtime binary; every call is a short CLI invocation.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
}

impl Runtime {
    pub fn new(kind: RuntimeKind) -> Self {
        Runtime {
            binary: PathBuf::from(kind.binary()),
        }
    }

    fn cmd(&self) -> Command {
        Command::new(&self.binary)
    }

    /// Checks that the runtime answers; the error says what to install.
    pub fn check(&self) -> Result<()> {
        match self.cmd().arg("--version").output() {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => bail!(
                "`{} --version` failed: {}",
                self.binary.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => bail!(
                "OCI runtime `{}` not found ({e}); install it (apt-get install -y {})",
                self.binary.display(),
                self.binary.display()
            ),
        }
    }

    /// Starts `runc run` of `bundle` in the foreground with piped stdio: the container lives
    /// as long as its init process (the dispatcher) and is removed when it exits.
    pub fn spawn_run(&self, id: &str, bundle: &Path) -> Result<Child> {
        self.cmd()
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{} run {id}`", self.binary.display()))
    }

    /// Creates and starts a container whose init idles (a warm container for FaaS). The
    /// runtime's stderr goes to a file: the container inherits it, so a pipe would never close.
    pub fn run_detached(&self, id: &str, bundle: &Path) -> Result<()> {
        let log_path = bundle.join("runtime.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let status = self
            .cmd()
            .args(["run", "-d", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .status()
            .with_context(|| format!("starting `{} run -d {id}`", self.binary.display()))?;
        if !status.success() {
            let err = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!(
                "`{} run -d {id}` failed: {}",
                self.binary.display(),
                err.trim()
            );
        }
        Ok(())
    }

    /// Starts `args` inside a running container with piped stdio.
    pub fn spawn_exec(&self, id: &str, args: &[&str]) -> Result<Child> {
        self.cmd()
            .arg("exec")
            .arg(id)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{} exec {id}`", self.binary.display()))
    }

    /// Kills and removes a container; a container that is already gone is not an error.
    pub fn delete(&self, id: &str) -> Result<()> {
        let out = self.cmd().args(["delete", "-f", id]).output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if !(err.contains("does not exist") || err.contains("not found")) {
                bail!(
                    "`{} delete -f {id}` failed: {}",
                    self.binary.display(),
                    err.trim()
                );
            }
        }
        Ok(())
    }

    /// Ids of the containers the runtime knows.
    pub fn list(&self) -> Result<Vec<String>> {
        let out = self
            .cmd()
            .args(["list", "-q"])
            .output()
            .with_context(|| format!("running `{} list`", self.binary.display()))?;
        if !out.status.success() {
            bail!(
                "`{} list` failed: {}",
                self.binary.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }
}

/// Writes `input` to a child's stdin and waits for its output.
pub fn feed_and_wait(mut child: Child, input: &[u8]) -> Result<Output> {
    if let Some(mut stdin) = child.stdin.take() {
        // A child that dies early closes the pipe; its exit status says why.
        let _ = stdin.write_all(input);
    }
    Ok(child.wait_with_output()?)
}

/// The init of a warm container: does nothing until it is killed.
pub fn idle() {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
