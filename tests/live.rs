//! End-to-end tests of the live executor through the `burstsim` binary: a local cluster of two
//! agents (redis-server + runc, crun or Docker), burst and FaaS runs, the simulator's files and
//! schema, Ctrl-C cleanup, calibrate and validate, exit codes (the accuracy of the calibrated
//! simulator is checked alone in tests/live_accuracy.rs). Skipped (counted; a failure
//! under `BURSTSIM_REQUIRE_LIVE=1`, which CI sets) only when not root or when the runtime /
//! redis-server are missing; a Docker engine that is installed but not running is started first.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{burstsim, calibrate, live, ok, skip, skip_on, validate, Cluster};

fn write_config(dir: &Path, name: &str, policy: &str, workers: u32, seconds: f64) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nseed = 3\n[[cluster.invokers]]\ncpus = 1\ncount = 2\n\
             [policy]\n{policy}\n[workload]\nkind = \"sleep\"\n\
             duration = {{ dist = \"constant\", value = {seconds} }}\n\
             [[bursts]]\nat = 0.0\nworkers = {workers}\n"
        ),
    )
    .unwrap();
    path
}

fn csv_header(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn live_burst_through_runc_writes_the_simulators_files() {
    live_burst_writes_the_simulators_files("runc");
}

#[test]
fn live_burst_through_crun_writes_the_simulators_files() {
    live_burst_writes_the_simulators_files("crun");
}

#[test]
fn live_burst_through_docker_writes_the_simulators_files() {
    live_burst_writes_the_simulators_files("docker");
}

/// `burstsim live` of a burst on a cluster whose containers `runtime` runs: the simulator's
/// files with its schema, every function ok, each worker pinned, nothing left.
fn live_burst_writes_the_simulators_files(runtime: &str) {
    if skip_on(runtime) {
        return;
    }
    let cluster = Cluster::up_with(2, 1, runtime);
    let file = std::fs::read_to_string(cluster.file()).unwrap();
    assert!(file.contains(&format!("runtime = \"{runtime}\"")), "{file}");
    let work = tempfile::tempdir().unwrap();
    let burst = write_config(
        work.path(),
        "burst",
        "name = \"burst-homogeneous\"\ngranularity = 1",
        2,
        0.3,
    );
    let live_dir = work.path().join("live");
    ok(&live(&burst, &cluster.file(), &live_dir).output().unwrap());
    for f in burstsim::report::RUN_FILES {
        assert!(live_dir.join(f).is_file(), "{runtime}: missing {f}");
    }
    // Same schema as the simulator's records.
    let sim_dir = work.path().join("sim");
    ok(&burstsim()
        .args(["run", "--config"])
        .arg(&burst)
        .arg("--out")
        .arg(&sim_dir)
        .output()
        .unwrap());
    assert_eq!(
        csv_header(&live_dir.join("records.csv")),
        csv_header(&sim_dir.join("records.csv"))
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(live_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["ok"], 2, "{runtime}: {summary}");
    assert_eq!(summary["live"]["agents"], 2);
    assert_eq!(summary["live"]["runtime"], runtime, "{summary}");
    assert_eq!(summary["live"]["recovery"], "none", "{summary}");
    assert_eq!(summary["live"]["attempts"], 2, "{summary}");
    // Pinning, seen from inside each worker.
    let traces: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(live_dir.join("live_workers.json")).unwrap())
            .unwrap();
    assert_eq!(traces.len(), 2);
    for t in &traces {
        assert_eq!(t["affinity"].as_array().unwrap().len(), 1, "{runtime}: {t}");
    }
    cluster.assert_clean();
}

#[test]
fn live_faas_writes_one_record_per_invocation() {
    if skip() {
        return;
    }
    let cluster = Cluster::up(2, 1);
    let work = tempfile::tempdir().unwrap();
    let faas = write_config(work.path(), "faas", "name = \"faas\"", 3, 0.1);
    let faas_dir = work.path().join("faas-live");
    ok(&live(&faas, &cluster.file(), &faas_dir).output().unwrap());
    let csv = std::fs::read_to_string(faas_dir.join("records.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",ok,")), "{csv}");
    cluster.assert_clean();
}

/// (function id, invoker) of every record in a records.csv, by function id.
fn placements_of_csv(path: &Path) -> Vec<(u64, u32)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (f, i) = (col("function_id"), col("invoker"));
    let mut v: Vec<(u64, u32)> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[f].parse().unwrap(), cells[i].parse().unwrap())
        })
        .collect();
    v.sort_unstable();
    v
}

/// The simulator and the live controller give the policies the same request ids (one rule in
/// `policies::PlacementRequest`), so policies that use them place alike: round-robin starts at
/// `request_id % invokers`, and FaaS overload (every invoker's memory taken: invocations of
/// half an agent's memory) forces a random invoker drawn from the request id. The simulated
/// invokers are the live agents (their memory from the cluster file).
#[test]
fn plans_match_between_simulator_and_live_controller() {
    if skip() {
        return;
    }
    let cluster = Cluster::up(2, 1);
    let memory = cluster.cluster().agents[0].memory_mb;
    let work = tempfile::tempdir().unwrap();
    let configs = [
        (
            "rr",
            "[policy]\nname = \"burst-round-robin\"\ngranularity = 1\n".to_string(),
            (0..5)
                .map(|b| format!("[[bursts]]\nat = {}\nworkers = 1\n", b as f64 * 0.4))
                .collect::<String>(),
        ),
        (
            "overload",
            "[policy]\nname = \"faas\"\nmanaged_fraction = 1.0\nblackbox_fraction = 1.0\n"
                .to_string(),
            format!(
                "[[bursts]]\nat = 0.0\nworkers = 7\nmemory_mb = {}\n",
                memory / 2
            ),
        ),
    ];
    for (name, policy, bursts) in configs {
        let cfg = work.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "name = \"{name}\"\nseed = 5\n[[cluster.invokers]]\ncpus = 1\ncount = 2\n\
                 user_memory_mb = {memory}\n{policy}[workload]\nkind = \"sleep\"\n\
                 duration = {{ dist = \"constant\", value = 0.2 }}\n{bursts}"
            ),
        )
        .unwrap();
        let dir = work.path().join(format!("{name}-live"));
        ok(&live(&cfg, &cluster.file(), &dir).output().unwrap());
        let live_placements = placements_of_csv(&dir.join("records.csv"));
        let sim_dir = work.path().join(format!("{name}-sim"));
        ok(&burstsim()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&sim_dir)
            .output()
            .unwrap());
        let sim_placements = placements_of_csv(&sim_dir.join("records.csv"));
        assert_eq!(
            live_placements, sim_placements,
            "{name}: (function, invoker)"
        );
        let used: std::collections::BTreeSet<u32> = sim_placements.iter().map(|p| p.1).collect();
        assert_eq!(
            used.len(),
            2,
            "{name} uses both invokers: {sim_placements:?}"
        );
    }
    cluster.assert_clean();
}

#[test]
fn ctrl_c_of_the_controller_leaves_nothing_behind() {
    if skip() {
        return;
    }
    let cluster = Cluster::up(2, 1);
    let work = tempfile::tempdir().unwrap();
    let cfg = write_config(
        work.path(),
        "long",
        "name = \"burst-homogeneous\"\ngranularity = 1",
        2,
        30.0,
    );
    let mut child = live(&cfg, &cluster.file(), &work.path().join("out"))
        .spawn()
        .unwrap();
    // Wait until the workers run, then interrupt.
    let prefix = executor::agent::cluster_prefix(&cluster.cluster().name);
    let deadline = Instant::now() + Duration::from_secs(20);
    while executor::local::container_processes(&prefix).len() < 2 {
        assert!(Instant::now() < deadline, "workers never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "controller took {:?}",
        t.elapsed()
    );
    assert!(!status.success());
    let csv = std::fs::read_to_string(work.path().join("out/records.csv")).unwrap();
    assert!(csv.contains("run cancelled"), "{csv}");
    cluster.assert_clean();
}

/// Starts `burstsim live` of a FaaS run on `cluster` (two invocations of one action: 0.1 s,
/// which leaves its container warm and idle, and 30 s), waits until both containers exist and
/// the first has finished, and SIGKILLs it. Returns the names of the containers it left.
fn kill_a_live_controller(cluster: &Cluster, work: &Path) -> Vec<String> {
    let cfg = work.join("k.toml");
    std::fs::write(
        &cfg,
        "name = \"k\"\nseed = 3\n[[cluster.invokers]]\ncpus = 1\ncount = 2\n\
         [policy]\nname = \"faas\"\n[workload]\nkind = \"sleep\"\n\
         duration = { dist = \"per_function\", values = [0.1, 30.0] }\n\
         [[bursts]]\nat = 0.0\nworkers = 2\n",
    )
    .unwrap();
    let mut child = live(&cfg, &cluster.file(), &work.join("killed"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = cluster.cluster();
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let containers = executor::local::leftovers(&info).unwrap().containers;
        if containers.len() == 2 {
            break containers;
        }
        assert!(
            Instant::now() < deadline,
            "the run never started its containers"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The 0.1 s function ends: its container stays warm and idle, the other runs 30 s.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let still = executor::local::leftovers(&info).unwrap().containers;
    assert_eq!(
        still.len(),
        2,
        "the killed controller left its containers: {still:?}"
    );
    left
}

/// A SIGKILLed `burstsim live` leaves a running and a warm container; its agents see its
/// lease expire and remove both, so the next `burstsim live` runs on a clean cluster (its
/// functions complete), and nothing is left afterwards.
#[test]
fn sigkilled_controller_is_reaped_for_the_next_live_run() {
    if skip() {
        return;
    }
    let cluster = Cluster::up(2, 1);
    let work = tempfile::tempdir().unwrap();
    kill_a_live_controller(&cluster, work.path());
    let next = write_config(work.path(), "next", "name = \"faas\"", 2, 0.1);
    ok(&live(&next, &cluster.file(), &work.path().join("next-out"))
        .output()
        .unwrap());
    let csv = std::fs::read_to_string(work.path().join("next-out/records.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.contains(",ok,")), "{csv}");
    cluster.assert_clean();
    let logs: String = (0..2)
        .map(|i| std::fs::read_to_string(cluster.dir.path().join(format!("agent{i}.log"))).unwrap())
        .collect();
    assert!(
        logs.contains("its controller is gone (no lease); removing its containers"),
        "{logs}"
    );
}

/// A SIGKILLed `burstsim live`, then `burstsim cluster down` at once: nothing is left.
#[test]
fn sigkilled_controller_is_reaped_by_cluster_down() {
    if skip() {
        return;
    }
    let cluster = Cluster::up(2, 1);
    let work = tempfile::tempdir().unwrap();
    kill_a_live_controller(&cluster, work.path());
    let info = cluster.cluster();
    ok(&burstsim()
        .args(["cluster", "down", "--dir"])
        .arg(cluster.dir.path())
        .output()
        .unwrap());
    let left = executor::local::leftovers(&info).unwrap();
    assert!(left.is_empty(), "left behind: {left}");
}

#[test]
fn broker_down_and_bad_cluster_file_are_clear_errors() {
    let work = tempfile::tempdir().unwrap();
    let port = executor::local::free_port().unwrap();
    let cluster = work.path().join("cluster.toml");
    std::fs::write(
        &cluster,
        format!("broker = \"redis://127.0.0.1:{port}\"\n[[agents]]\nid = 0\ncpus = 1\n"),
    )
    .unwrap();
    let cfg = write_config(work.path(), "x", "name = \"faas\"", 1, 0.1);
    let out_dir = work.path().join("out");
    let out = live(&cfg, &cluster, &out_dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the broker"), "{err}");

    std::fs::write(
        &cluster,
        "broker = \"redis://x\"\n[[agents]]\nid = 0\ncpus = -1\n",
    )
    .unwrap();
    let out = live(&cfg, &cluster, &out_dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("agents[0].cpus") && err.contains("cluster.toml"),
        "{err}"
    );
}

/// `validate` on a communicating workload (the README's PageRank-like config, two agents in
/// network namespaces behind 1 Gbit/s links): the per-step table is printed and written with
/// finite times for every step kind, the simulator got the links' rate, nothing is left.
#[test]
fn validate_compares_a_communicating_workload_per_step() {
    if skip() {
        return;
    }
    if let Some(why) = executor::netns::missing_prerequisites() {
        executor::skip::skip_live_test(&why);
        return;
    }
    let cluster = Cluster::up_args(2, 1, &["--link-rate", "1gbit"]);
    let work = tempfile::tempdir().unwrap();
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/apps/live/pagerank-local.toml");
    let out_dir = work.path().join("val");
    let text = ok(&validate(&config, &cluster.file(), 1, &out_dir)
        .output()
        .unwrap());
    assert!(text.contains("network.host_bandwidth=125000000"), "{text}");
    assert!(text.contains("per step"), "{text}");
    let csv = std::fs::read_to_string(out_dir.join("validation_steps.csv")).unwrap();
    for kind in ["compute", "broadcast", "reduce"] {
        assert!(
            text.contains(&format!("{kind} (all)")),
            "{kind} not printed:\n{text}"
        );
        let row: Vec<&str> = csv
            .lines()
            .find(|l| l.starts_with(&format!("{kind},,")))
            .unwrap_or_else(|| panic!("no {kind} row:\n{csv}"))
            .split(',')
            .collect();
        let (sim, measured): (f64, f64) = (row[3].parse().unwrap(), row[4].parse().unwrap());
        assert!(sim.is_finite() && sim > 0.0, "{kind}: {row:?}");
        assert!(measured.is_finite() && measured > 0.0, "{kind}: {row:?}");
        // The same plan on both sides: equal bytes through the backend.
        assert_eq!(row[8], row[9], "{kind}: {row:?}");
    }
    // One row per executed step too (1 + 3 x 3 steps).
    assert_eq!(
        csv.lines().filter(|l| !l.contains(",,")).count(),
        1 + 10,
        "{csv}"
    );
    for f in ["live/steps.csv", "sim/steps.csv", "validation.csv"] {
        assert!(out_dir.join(f).is_file(), "missing {f}");
    }
    cluster.assert_clean();
    let c = cluster.cluster();
    assert_eq!(
        executor::local::leftover_messages(&c).unwrap(),
        Vec::<String>::new()
    );
    drop(cluster);
    assert_eq!(
        executor::local::leftover_namespaces(&c),
        Vec::<String>::new()
    );
}

#[test]
fn calibrate_then_validate_writes_every_figure() {
    if skip() {
        return;
    }
    let cluster = Cluster::up(2, 1);
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("profiles/local.toml");
    let text = ok(&calibrate(&cluster.file(), 3, &profile).output().unwrap());
    assert!(text.contains("queue latency"), "{text}");
    let prof = std::fs::read_to_string(&profile).unwrap();
    for key in [
        "[queue]",
        "[invoker]",
        "[controller]",
        "create =",
        "warm_start =",
    ] {
        assert!(prof.contains(key), "{key} missing:\n{prof}");
    }
    // The fit's inputs are kept beside the profile: every creation it was fitted to.
    let raw = std::fs::read_to_string(work.path().join("profiles/local.measurements.json"))
        .expect("calibrate keeps its measurements");
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let fitted = raw["creation"]["samples"].as_u64().unwrap();
    assert!(fitted > 0, "{raw}");
    assert_eq!(raw["creations"].as_array().unwrap().len() as u64, fitted);
    let cfg = work.path().join("v.toml");
    std::fs::write(
        &cfg,
        "name = \"v\"\nseed = 1\ninclude = [\"profiles/local.toml\"]\n[[cluster.invokers]]\ncpus = 1\ncount = 2\n\
         [policy]\nname = \"burst-homogeneous\"\ngranularity = 1\n[workload]\nkind = \"sleep\"\n\
         duration = { dist = \"constant\", value = 0.2 }\n[[bursts]]\nat = 0.0\nworkers = 2\n",
    )
    .unwrap();
    let out_dir = work.path().join("val");
    let text = ok(&validate(&cfg, &cluster.file(), 2, &out_dir)
        .output()
        .unwrap());
    let csv = std::fs::read_to_string(out_dir.join("validation.csv")).unwrap();
    for (figure, _) in burstsim::live::validate::FIGURES {
        assert!(text.contains(figure), "{figure} not printed:\n{text}");
        let row = csv.lines().find(|l| l.starts_with(figure)).unwrap();
        let measured: f64 = row.split(',').nth(2).unwrap().parse().unwrap();
        assert!(measured.is_finite() && measured > 0.0, "{row}");
    }
    for f in [
        "start_latency_cdf.png",
        "start_latency_cdf.svg",
        "validation.json",
        "live/records.csv",
        "sim/records.csv",
    ] {
        assert!(out_dir.join(f).is_file(), "missing {f}");
    }
    cluster.assert_clean();
}

#[test]
fn cluster_exit_codes_say_who_is_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = |args: &[&str]| {
        let out = burstsim()
            .arg("cluster")
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), err)
    };
    // The user's mistakes (exit 2): bad flags, a directory without a cluster.
    let (code, err) = cluster(&["up", "--runtime", "podman"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--runtime") && err.contains("podman"), "{err}");
    let (code, err) = cluster(&["up", "--nodes", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--nodes"), "{err}");
    assert!(!dir.path().join("cluster.toml").exists());
    let (code, err) = cluster(&["down"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no cluster is up"), "{err}");
    // The environment's (exit 1): the state `cluster up` left is unreadable.
    let state = dir.path().join("cluster-state.json");
    std::fs::write(&state, "{ \"redis_pid\": ").unwrap();
    let (code, err) = cluster(&["down"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("malformed cluster state"), "{err}");
    assert!(
        state.exists(),
        "a state that does not parse is left for a person to look at"
    );
}
