//! Network namespaces for a local cluster, so that traffic between packs on different agents
//! crosses a link of known bandwidth, as between nodes: the broker gets a namespace of its own
//! with a bridge, each agent a namespace linked to that bridge by a veth pair, addresses on a
//! private /24 that exists only inside these namespaces (the host's own interfaces, routes and
//! addresses are never touched), and optionally a `tc` token-bucket rate limit on both ends of
//! each agent's link (its outgoing and its incoming direction).
//!
//! ```text
//!   bs-<name>-a0 [eth0 10.H.L.10] ==veth== [v0]-+
//!   bs-<name>-a1 [eth0 10.H.L.11] ==veth== [v1]-+- br0 10.H.L.1 (redis) in bs-<name>-br
//! ```
//!
//! Agent and broker processes are placed in their namespace between fork and exec
//! (`setns(2)` on the network namespace only: their mounts, cgroups and PIDs stay the
//! host's, so runc sees the same cgroup tree). Containers of `steps` bursts share their agent's
//! namespace. Deleting a namespace deletes the veth pairs and the bridge in it.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::error::{Context, Error, Result};

/// Where `ip netns` keeps named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// The namespaces and addresses of one local cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct NetSetup {
    /// The broker's namespace (bridge and redis).
    pub broker_ns: String,
    /// The bridge's address: where agents reach the broker.
    pub broker_addr: String,
    /// Per agent: its namespace and address.
    pub agents: Vec<(String, String)>,
    /// Each link's rate per direction, bytes/s (`None`: not limited).
    pub link_rate: Option<f64>,
}

/// The prefix of every namespace of cluster `name` (what cleanup looks for).
pub fn prefix(name: &str) -> String {
    format!("bs-{name}-")
}

impl NetSetup {
    /// The layout for cluster `name` with `agents` agents on the /24 `10.<net/256>.<net%256>.0`
    /// (a local cluster passes its broker port, so two clusters never share a subnet).
    pub fn plan(name: &str, agents: u32, net: u16, link_rate: Option<f64>) -> Result<NetSetup> {
        if agents == 0 || agents > 240 {
            return Err(Error::input(format!(
                "--netns: expected 1 to 240 agents on one /24, got {agents}"
            )));
        }
        let base = format!("10.{}.{}", net >> 8, net & 0xff);
        let p = prefix(name);
        Ok(NetSetup {
            broker_ns: format!("{p}br"),
            broker_addr: format!("{base}.1"),
            agents: (0..agents)
                .map(|i| (format!("{p}a{i}"), format!("{base}.{}", 10 + i)))
                .collect(),
            link_rate,
        })
    }

    /// Creates the namespaces, bridge, veth pairs and rate limits; on failure removes what it
    /// made.
    pub fn create(&self) -> Result<()> {
        let res = self.create_inner();
        if res.is_err() {
            let _ = self.delete();
        }
        res
    }

    fn create_inner(&self) -> Result<()> {
        let br = self.broker_ns.as_str();
        ip(&["netns", "add", br])?;
        ip(&["-n", br, "link", "set", "lo", "up"])?;
        ip(&["-n", br, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            br,
            "addr",
            "add",
            &format!("{}/24", self.broker_addr),
            "dev",
            "br0",
        ])?;
        ip(&["-n", br, "link", "set", "br0", "up"])?;
        for (i, (ns, addr)) in self.agents.iter().enumerate() {
            let peer = format!("v{i}");
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // Created inside the agent's namespace with its peer directly in the broker's:
            // neither end ever appears in the host's namespace.
            ip(&[
                "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", &peer, "netns", br,
            ])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", br, "link", "set", &peer, "master", "br0"])?;
            ip(&["-n", br, "link", "set", &peer, "up"])?;
            if let Some(rate) = self.link_rate {
                limit(ns, "eth0", rate)?;
                limit(br, &peer, rate)?;
            }
        }
        Ok(())
    }

    /// Deletes the namespaces (with their veths and bridge).
    pub fn delete(&self) -> Result<()> {
        let mut first_error = None;
        for ns in self.agents.iter().map(|a| &a.0).chain([&self.broker_ns]) {
            if Path::new(NETNS_DIR).join(ns).exists() {
                if let Err(e) = ip(&["netns", "delete", ns]) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A token bucket of `rate` bytes/s on `dev` in namespace `ns`: a burst of 10 ms at the rate
/// (at least 256 KiB, so that 64 KiB GSO segments pass), at most 50 ms of queueing.
fn limit(ns: &str, dev: &str, rate: f64) -> Result<()> {
    let bits = (rate * 8.0).round() as u64;
    let burst = ((rate * 0.01) as u64).max(256 << 10);
    tc(&[
        "-n",
        ns,
        "qdisc",
        "add",
        "dev",
        dev,
        "root",
        "tbf",
        "rate",
        &format!("{bits}bit"),
        "burst",
        &burst.to_string(),
        "latency",
        "50ms",
    ])
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} (apt-get install -y iproute2)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Missing(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

fn tc(args: &[&str]) -> Result<()> {
    run("tc", args)
}

/// Named network namespaces whose name starts with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Deletes namespace `name` if it exists.
pub fn delete_one(name: &str) -> Result<()> {
    if Path::new(NETNS_DIR).join(name).exists() {
        ip(&["netns", "delete", name])?;
    }
    Ok(())
}

/// Deletes every named namespace starting with `prefix`; returns them.
pub fn delete_all(prefix: &str) -> Result<Vec<String>> {
    let found = list(prefix);
    for ns in &found {
        ip(&["netns", "delete", ns])?;
    }
    Ok(found)
}

/// Why namespaces cannot be made here, if they cannot: not root, or no `ip`/`tc`.
pub fn missing_prerequisites() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root (network namespaces need root)".into());
    }
    for bin in ["ip", "tc"] {
        let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(bin).is_file());
        if !found {
            return Some(format!("`{bin}` not found (apt-get install -y iproute2)"));
        }
    }
    None
}

/// Makes `cmd` start in network namespace `ns` (its other namespaces stay the caller's).
pub fn enter_before_exec(cmd: &mut Command, ns: &str) -> Result<()> {
    let path = Path::new(NETNS_DIR).join(ns);
    let file = fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes one setns(2) system call on a file descriptor opened before
    // the fork and converts its errno into an io::Error (no allocation); it takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)
        });
    }
    Ok(())
}

/// A link rate as `tc` writes it (`1gbit`, `500mbit`, `100kbit`, `800bit`, decimal) or as
/// configs do (`"1 Gbps"`, `"125 MB/s"`, `"100 MiB/s"`): bytes per second.
pub fn parse_link_rate(s: &str) -> Result<f64> {
    let t = s.trim();
    let tc_units = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)];
    for (unit, scale) in tc_units {
        if let Some(num) = t.to_ascii_lowercase().strip_suffix(unit) {
            if let Ok(v) = num.trim().parse::<f64>() {
                if v.is_finite() && v > 0.0 {
                    return Ok(v * scale / 8.0);
                }
            }
        }
    }
    match t.parse::<policies::comm::Rate>() {
        Ok(r) if r.0.is_finite() && r.0 > 0.0 => Ok(r.0),
        _ => Err(Error::input(format!(
            "--link-rate: expected a rate like 1gbit, 500mbit or \"125 MB/s\", got `{s}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rates_parse_in_tc_and_config_units() {
        assert_eq!(parse_link_rate("1gbit").unwrap(), 125e6);
        assert_eq!(parse_link_rate("500Mbit").unwrap(), 62.5e6);
        assert_eq!(parse_link_rate("1 Gbps").unwrap(), 125e6);
        assert_eq!(parse_link_rate("100 MiB/s").unwrap(), 100.0 * 1048576.0);
        assert!(parse_link_rate("fast").is_err());
        assert!(parse_link_rate("0gbit").is_err());
    }

    #[test]
    fn a_cluster_gets_its_own_subnet_and_names() {
        let s = NetSetup::plan("l6390", 2, 6390, None).unwrap();
        assert_eq!(s.broker_ns, "bs-l6390-br");
        assert_eq!(s.broker_addr, "10.24.246.1");
        assert_eq!(s.agents[1], ("bs-l6390-a1".into(), "10.24.246.11".into()));
        assert!(s.broker_ns.starts_with(&prefix("l6390")));
        assert_ne!(
            NetSetup::plan("l6391", 1, 6391, None).unwrap().broker_addr,
            s.broker_addr
        );
        assert!(NetSetup::plan("x", 0, 1, None).is_err());
    }
}
