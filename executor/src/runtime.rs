//! The OCI runtime CLI (runc, or crun which takes the same commands), and the cgroup setup crun
//! needs on hybrid cgroup hosts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// What runs the containers: an OCI runtime CLI on generated bundles, or a Docker engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Runc,
    Crun,
    /// The Docker Engine API (see `docker`).
    Docker,
}

impl RuntimeKind {
    /// The CLI binary (for Docker, the engine's daemon, which must run on the node).
    pub fn binary(&self) -> &'static str {
        match self {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Crun => "crun",
            RuntimeKind::Docker => "dockerd",
        }
    }

    /// The Debian package that provides it.
    pub fn package(&self) -> &'static str {
        match self {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Crun => "crun",
            RuntimeKind::Docker => "docker.io",
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
            Ok(o) => Err(Error::Container(format!(
                "`{} --version` failed: {}",
                self.binary.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ))),
            Err(e) => Err(Error::Missing(format!(
                "OCI runtime `{}` not found ({e}); install it (apt-get install -y {})",
                self.binary.display(),
                self.binary.display()
            ))),
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
            return Err(Error::Container(format!(
                "`{} run -d {id}` failed: {}",
                self.binary.display(),
                err.trim()
            )));
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
        let out = self
            .cmd()
            .args(["delete", "-f", id])
            .output()
            .with_context(|| format!("running `{} delete`", self.binary.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if !(err.contains("does not exist") || err.contains("not found")) {
                return Err(Error::Container(format!(
                    "`{} delete -f {id}` failed: {}",
                    self.binary.display(),
                    err.trim()
                )));
            }
        }
        Ok(())
    }

    /// Ids of the containers the runtime knows. `runc list` (1.1) fails when a container is
    /// deleted while it lists ("stat /run/runc/<id>: no such file or directory"): that race
    /// with another agent's cleanup is retried, so a cleanup never skips containers for it.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut attempts = 0;
        loop {
            let out = self
                .cmd()
                .args(["list", "-q"])
                .output()
                .with_context(|| format!("running `{} list`", self.binary.display()))?;
            if out.status.success() {
                return Ok(String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect());
            }
            let err = String::from_utf8_lossy(&out.stderr);
            attempts += 1;
            if !err.contains("no such file or directory") || attempts >= 10 {
                return Err(Error::Container(format!(
                    "`{} list` failed: {}",
                    self.binary.display(),
                    err.trim()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The cgroup v2 hierarchy of a hybrid host (v1 controllers under /sys/fs/cgroup/<name>).
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Controllers still bound to the cgroup v2 hierarchy of a hybrid host (empty elsewhere). crun
/// refuses hybrid mode ("cgroups in hybrid mode not supported") unless this is empty.
pub fn hybrid_v2_controllers() -> Vec<String> {
    let is_v2 = |p: &str| {
        nix::sys::statfs::statfs(p)
            .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false)
    };
    if is_v2("/sys/fs/cgroup") || !is_v2(UNIFIED) {
        return Vec::new();
    }
    std::fs::read_to_string(format!("{UNIFIED}/cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Makes crun usable on a hybrid cgroup host: moves every controller still on cgroup v2 (on
/// Debian's hybrid layout, hugetlb) to a v1 hierarchy of its own at /sys/fs/cgroup/<name>,
/// which the kernel allows while no v2 cgroup uses it. Returns the controllers moved; the
/// error says which command to run by hand when it cannot.
pub fn prepare_cgroups_for_crun() -> Result<Vec<String>> {
    let controllers = hybrid_v2_controllers();
    for c in &controllers {
        let dir = PathBuf::from("/sys/fs/cgroup").join(c);
        let how = format!(
            "crun does not run on a hybrid cgroup host while the `{c}` controller is on cgroup v2; \
             move it to cgroup v1 as root with `mkdir -p {d} && mount -t cgroup -o {c} cgroup {d}` \
             (or use runtime = \"runc\")",
            d = dir.display()
        );
        let moved = std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))
            .and_then(|()| {
                nix::mount::mount(
                    Some("cgroup"),
                    &dir,
                    Some("cgroup"),
                    nix::mount::MsFlags::empty(),
                    Some(c.as_str()),
                )
                .with_context(|| format!("mounting the {c} cgroup v1 hierarchy"))
            });
        moved.map_err(|e| Error::Container(format!("{how}: {e}")))?;
    }
    let left = hybrid_v2_controllers();
    if !left.is_empty() {
        return Err(Error::Container(format!(
            "crun does not run on a hybrid cgroup host while controllers {left:?} are on cgroup v2 \
             (moving them to v1 did not take)"
        )));
    }
    Ok(controllers)
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
