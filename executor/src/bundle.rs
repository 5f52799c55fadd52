//! OCI bundles: a rootfs shared by an agent's containers (read-only: the worker binary and the
//! host's libraries bind-mounted, so a glibc binary runs without a static build) and one
//! config.json per container, generated with `oci-spec`, with the container's CPUs and memory.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceType, LinuxResourcesBuilder,
    Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec,
};

use crate::error::{Context, Error, Result};

impl From<oci_spec::OciSpecError> for Error {
    fn from(e: oci_spec::OciSpecError) -> Self {
        Error::Container(format!("OCI spec: {e}"))
    }
}

/// Where the worker binary appears inside every container.
pub const WORKER_PATH: &str = "/burstsim-worker";
/// Parent cgroup of every burstsim container (`/sys/fs/cgroup/[<controller>/]burstsim/<id>`).
pub const CGROUP_PARENT: &str = "burstsim";

/// Host directories bind-mounted read-only so that dynamically linked binaries run.
const HOST_DIRS: &[&str] = &["/usr", "/lib", "/lib64", "/bin"];

/// One container's resources and init process.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub id: String,
    /// Host CPU list for `linux.resources.cpu.cpus` (cpuset); `None`: all CPUs.
    pub cpus: Option<Vec<u32>>,
    /// Relative CPU weight (OpenWhisk gives FaaS containers shares, not CPUs).
    pub cpu_shares: Option<u64>,
    pub memory_mb: u64,
    /// The init process: arguments after the worker binary.
    pub args: Vec<String>,
    /// Share the agent's network namespace (workers of a `steps` burst reach the broker);
    /// otherwise the container has a network namespace of its own with only loopback.
    pub network: bool,
}

/// Creates (once) the shared rootfs under `dir`: mount points only, nothing copied.
pub fn prepare_rootfs(dir: &Path) -> Result<PathBuf> {
    let rootfs = dir.join("rootfs");
    for d in [
        "proc", "dev", "sys", "tmp", "etc", "usr", "lib", "lib64", "bin",
    ] {
        fs::create_dir_all(rootfs.join(d))
            .with_context(|| format!("creating {}", rootfs.join(d).display()))?;
    }
    let target = rootfs.join(WORKER_PATH.trim_start_matches('/'));
    if !target.exists() {
        fs::write(&target, b"").with_context(|| format!("creating {}", target.display()))?;
    }
    Ok(rootfs)
}

/// Renders `cpus` as a cpuset list ("0,2,5").
pub fn cpuset(cpus: &[u32]) -> String {
    cpus.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn bind(dest: &str, src: &Path) -> Result<Mount> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(src)
        .options(vec!["rbind".to_string(), "ro".to_string()])
        .build()?)
}

/// The container's config.json.
pub fn spec(c: &ContainerSpec, rootfs: &Path, worker_binary: &Path) -> Result<Spec> {
    let mut spec = Spec::default();
    let mut args = vec![WORKER_PATH.to_string()];
    args.extend(c.args.iter().cloned());
    spec.set_process(Some(
        ProcessBuilder::default()
            .terminal(false)
            .args(args)
            .env(vec![
                "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
                format!("BURSTSIM_CONTAINER={}", c.id),
            ])
            .cwd("/")
            .no_new_privileges(true)
            .build()?,
    ));
    spec.set_root(Some(
        RootBuilder::default().path(rootfs).readonly(true).build()?,
    ));
    spec.set_hostname(Some(c.id.clone()));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for d in HOST_DIRS {
        if Path::new(d).exists() {
            mounts.push(bind(d, Path::new(d))?);
        }
    }
    mounts.push(bind(WORKER_PATH, worker_binary)?);
    spec.set_mounts(Some(mounts));

    let mut cpu = LinuxCpuBuilder::default();
    if let Some(cpus) = &c.cpus {
        cpu = cpu.cpus(cpuset(cpus));
    }
    if let Some(shares) = c.cpu_shares {
        cpu = cpu.shares(shares);
    }
    let memory = LinuxMemoryBuilder::default()
        .limit((c.memory_mb.max(16) * 1024 * 1024) as i64)
        .build()?;
    let resources = LinuxResourcesBuilder::default()
        .cpu(cpu.build()?)
        .memory(memory)
        .build()?;
    let default_linux = spec.linux().clone().unwrap_or_default();
    let mut linux = LinuxBuilder::default()
        .resources(resources)
        .cgroups_path(PathBuf::from(format!("/{CGROUP_PARENT}/{}", c.id)));
    if let Some(ns) = default_linux.namespaces() {
        let ns = ns
            .iter()
            .filter(|n| !(c.network && n.typ() == LinuxNamespaceType::Network))
            .cloned()
            .collect::<Vec<_>>();
        linux = linux.namespaces(ns);
    }
    if let Some(p) = default_linux.masked_paths() {
        linux = linux.masked_paths(p.clone());
    }
    if let Some(p) = default_linux.readonly_paths() {
        linux = linux.readonly_paths(p.clone());
    }
    spec.set_linux(Some(linux.build()?));
    Ok(spec)
}

/// Writes the bundle of `c` under `bundles_dir/<id>` and returns its path.
pub fn write_bundle(
    bundles_dir: &Path,
    rootfs: &Path,
    worker_binary: &Path,
    c: &ContainerSpec,
) -> Result<PathBuf> {
    let dir = bundles_dir.join(&c.id);
    fs::create_dir_all(&dir).with_context(|| format!("creating bundle {}", dir.display()))?;
    let spec = spec(c, rootfs, worker_binary)?;
    spec.save(dir.join("config.json"))
        .with_context(|| format!("writing {}/config.json", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_cpus_memory_and_cgroup() {
        let c = ContainerSpec {
            id: "bs-t-1".into(),
            cpus: Some(vec![0, 3]),
            cpu_shares: None,
            memory_mb: 256,
            args: vec!["dispatch".into()],
            network: false,
        };
        let s = spec(&c, Path::new("/tmp/rootfs"), Path::new("/bin/true")).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["linux"]["resources"]["cpu"]["cpus"], "0,3");
        assert_eq!(
            json["linux"]["resources"]["memory"]["limit"],
            256 * 1024 * 1024
        );
        assert_eq!(json["linux"]["cgroupsPath"], "/burstsim/bs-t-1");
        assert_eq!(json["process"]["args"][1], "dispatch");
        assert_eq!(json["root"]["readonly"], true);
        let has_netns = |s: &Spec| {
            serde_json::to_value(s).unwrap()["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "network")
        };
        assert!(has_netns(&s));
        // A `steps` container shares the agent's network (its workers reach the broker).
        let shared = ContainerSpec { network: true, ..c };
        let s = spec(&shared, Path::new("/tmp/rootfs"), Path::new("/bin/true")).unwrap();
        assert!(!has_netns(&s));
    }
}
