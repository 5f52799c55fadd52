//! Group communication in the simulator: analytic checks of the network model, step programs
//! against single-body workloads, collectives end to end, and config errors.

mod common;

use common::{load_err, run};
use policies::comm::{StepKind, StepRecord};

/// Bytes in a MiB.
const MB: u64 = 1 << 20;

/// A direct-mode run of `workers` in packs of `g` with `steps`, on a backend given as TOML.
fn direct(workers: u32, g: u32, backend: &str, network: &str, steps: &str) -> String {
    format!(
        r#"
mode = "direct"
[direct]
granularity = {g}
[policy]
name = "burst-heterogeneous"
[workload]
kind = "steps"
{steps}
[[bursts]]
workers = {workers}
[network]
{network}
[network.backend]
{backend}
"#
    )
}

const SEND_HALVES_1G: &str = r#"
[[workload.steps]]
kind = "send"
pattern = "halves"
bytes = "1 GiB"
"#;

fn step_of(steps: &[StepRecord], worker: u32, step: u32) -> &StepRecord {
    steps
        .iter()
        .find(|s| s.worker_id == worker && s.step == step)
        .unwrap_or_else(|| panic!("no step {step} of worker {worker}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 + b.abs() * 1e-9
}

#[test]
fn one_flow_alone_takes_bytes_over_rate_plus_latency() {
    // Whole message (no chunking): upload at 100 MiB/s after 10 ms, then download the same.
    let out = run(&direct(
        2,
        1,
        "connection_rate = \"100 MiB/s\"\nchunk_latency = 0.01",
        "chunk_size = 0",
        SEND_HALVES_1G,
    ));
    let sender = step_of(&out.steps, 0, 0);
    let receiver = step_of(&out.steps, 1, 0);
    assert!(close(sender.t_sent, 0.01 + 1024.0 / 100.0), "{sender:?}");
    assert!(close(sender.t_end, sender.t_sent));
    // Store and forward: the download starts when the upload is stored.
    assert!(close(receiver.t_end, 2.0 * (0.01 + 10.24)), "{receiver:?}");
    assert_eq!(receiver.bytes_remote, 1 << 30);
    assert_eq!(sender.bytes_uploaded, 1 << 30);
    assert!(close(out.records[1].t_end, receiver.t_end));
}

#[test]
fn chunks_pipeline_through_one_connection_each_side() {
    // 1 GiB in 1 MiB chunks, o = 0.5 ms per request: (k + 1) (o + c / r).
    let out = run(&direct(
        2,
        1,
        "connection_rate = \"500 MiB/s\"\nchunk_latency = 0.0005",
        "chunk_size = \"1 MiB\"",
        SEND_HALVES_1G,
    ));
    let receiver = step_of(&out.steps, 1, 0);
    let per_chunk = 0.0005 + 1.0 / 500.0;
    assert!(close(receiver.t_end, 1025.0 * per_chunk), "{receiver:?}");
    let stats = out.comm.unwrap();
    assert_eq!(stats.chunk_flows, 2048);
    assert_eq!(stats.net.peak_flows, 2);
}

#[test]
fn large_chunks_use_the_large_chunk_rate() {
    let out = run(&direct(
        2,
        1,
        "connection_rate = \"500 MiB/s\"\nlarge_chunk_rate = \"100 MiB/s\"\nlarge_chunk_bytes = \"64 MiB\"",
        "chunk_size = \"256 MiB\"",
        SEND_HALVES_1G,
    ));
    // 4 chunks of 256 MiB at 100 MiB/s, pipelined: 5 chunk times.
    assert!(close(step_of(&out.steps, 1, 0).t_end, 5.0 * 2.56));
}

#[test]
fn k_flows_through_a_server_of_capacity_c_finish_at_k_bytes_over_c() {
    // k pairs between two packs; the server (1 GiB/s in + out) is the only limit.
    for k in [1u32, 4, 16] {
        let steps = SEND_HALVES_1G.replace("1 GiB", "256 MiB");
        let out = run(&direct(
            2 * k,
            k,
            "connection_rate = \"100 GiB/s\"\nserver_throughput = \"1 GiB/s\"",
            "chunk_size = 0",
            &steps,
        ));
        let want = k as f64 * 0.25;
        for w in 0..k {
            let s = step_of(&out.steps, w, 0);
            assert!(close(s.t_sent, want), "k = {k}: sender {s:?}");
            let r = step_of(&out.steps, w + k, 0);
            assert!(close(r.t_end, 2.0 * want), "k = {k}: receiver {r:?}");
        }
    }
}

#[test]
fn host_links_limit_packs_sharing_them() {
    // 4 pairs, hosts at 200 MiB/s each way, fast server and connections: 4 x 100 MiB up at
    // 50 MiB/s each (2 s), then down (2 s).
    let steps = SEND_HALVES_1G.replace("1 GiB", "100 MiB");
    let out = run(&direct(
        8,
        4,
        "connection_rate = \"1 GiB/s\"",
        "chunk_size = 0\nhost_bandwidth = \"200 MiB/s\"",
        &steps,
    ));
    for w in 4..8 {
        assert!(close(step_of(&out.steps, w, 0).t_end, 4.0));
    }
}

#[test]
fn local_transfers_are_free_of_the_backend() {
    // One pack: an all-to-all never touches the (very slow) backend.
    let steps = r#"
[[workload.steps]]
kind = "all_to_all"
bytes_per_pair = "1 MiB"
"#;
    let out = run(&direct(
        8,
        8,
        "connection_rate = 1.0\nserver_throughput = 1.0\nchunk_latency = 100.0",
        "local_bandwidth = \"1 GiB/s\"",
        steps,
    ));
    assert_eq!(out.comm.as_ref().unwrap().chunk_flows, 0);
    for s in &out.steps {
        assert_eq!((s.bytes_local, s.bytes_remote), (7 * MB, 0));
        // Seven 1 MiB copies at 1 GiB/s, made concurrently: one copy time.
        assert!(close(s.t_end, 1.0 / 1024.0), "{s:?}");
    }
}

const PAGERANK: &str = r#"
[[workload.steps]]
kind = "compute"
work = 1.0
[[workload.steps]]
kind = "repeat"
times = 3
steps = [
  { kind = "broadcast", root = 0, bytes = "4 MiB" },
  { kind = "compute", work = { dist = "uniform", min = 0.5, max = 1.0 } },
  { kind = "reduce", root = 0, bytes = "1 MiB" },
]
"#;

const REDIS_LIKE: &str =
    "connection_rate = \"400 MiB/s\"\nserver_throughput = \"1 GiB/s\"\nchunk_latency = 0.0005";

#[test]
fn every_worker_records_every_step_and_bytes_match_the_plans() {
    let out = run(&direct(16, 4, REDIS_LIKE, "", PAGERANK));
    assert_eq!(out.steps.len(), 16 * 10);
    for w in 0..16 {
        let mut t = 0.0;
        for step in 0..10 {
            let s = step_of(&out.steps, w, step);
            assert!(s.t_start >= t - 1e-12 && s.t_end >= s.t_start && s.t_sent <= s.t_end);
            t = s.t_end;
        }
        assert!(close(out.records[w as usize].t_end, t));
    }
    let bytes = |kind: StepKind| -> (u64, u64, u64) {
        out.steps
            .iter()
            .filter(|s| s.kind == kind)
            .fold((0, 0, 0), |a, s| {
                (
                    a.0 + s.bytes_local,
                    a.1 + s.bytes_remote,
                    a.2 + s.bytes_uploaded,
                )
            })
    };
    // Broadcast of 4 MiB, 4 packs of 4: per iteration 3 packs download it, 12 local copies
    // (3 in the root's pack, 3 per other pack), one upload.
    assert_eq!(
        bytes(StepKind::Broadcast),
        (3 * 12 * 4 * MB, 3 * 3 * 4 * MB, 3 * 4 * MB)
    );
    // Reduce of 1 MiB over 16 (levels 0, 1 local in packs of 4; 2, 3 remote): 12 local, 3 remote.
    assert_eq!(
        bytes(StepKind::Reduce),
        (3 * 12 * MB, 3 * 3 * MB, 3 * 3 * MB)
    );
    // The compute steps take their drawn time on exclusive cores.
    for s in out.steps.iter().filter(|s| s.kind == StepKind::Compute) {
        let d = s.t_end - s.t_start;
        assert!((0.5..=1.0).contains(&d) || close(d, 1.0), "{s:?}");
    }
}

#[test]
fn same_seed_same_steps() {
    let a = run(&direct(16, 4, REDIS_LIKE, "", PAGERANK));
    let b = run(&direct(16, 4, REDIS_LIKE, "", PAGERANK));
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.records, b.records);
}

#[test]
fn larger_packs_move_less_through_the_backend_and_finish_sooner() {
    let a2a = r#"
[[workload.steps]]
kind = "all_to_all"
bytes_per_pair = "4 MiB"
"#;
    let remote = |g: u32| {
        let out = run(&direct(32, g, REDIS_LIKE, "", a2a));
        let bytes: u64 = out.steps.iter().map(|s| s.bytes_remote).sum();
        let end = out.steps.iter().map(|s| s.t_end).fold(0.0, f64::max);
        (bytes, end)
    };
    let (b1, t1) = remote(1);
    let (b8, t8) = remote(8);
    let (b32, t32) = remote(32);
    assert_eq!(b1, 32 * 31 * 4 * MB);
    assert_eq!(b8, 32 * 24 * 4 * MB);
    assert_eq!(b32, 0);
    assert!(t1 > t8 && t8 > t32, "{t1} {t8} {t32}");
}

#[test]
fn polling_receivers_see_a_chunk_at_their_next_poll() {
    // No latency, 1 s upload; the receiver has polled since t = 0 every 0.3 s: it sees the
    // chunk at 1.2 s and downloads it in 1 s.
    let steps = SEND_HALVES_1G.replace("1 GiB", "100 MiB");
    let out = run(&direct(
        2,
        1,
        "connection_rate = \"100 MiB/s\"\npoll_interval = 0.3",
        "chunk_size = 0",
        &steps,
    ));
    assert!(close(step_of(&out.steps, 1, 0).t_end, 2.2));
}

/// A platform run (burst or FaaS) of `steps` on 2 invokers of 4 CPUs.
fn platform(policy: &str, steps: &str) -> String {
    format!(
        r#"
[[cluster.invokers]]
count = 2
cpus = 4
[invoker]
cold_start = 0.2
[policy]
{policy}
[workload]
kind = "steps"
{steps}
[[bursts]]
workers = 8
[network.backend]
{REDIS_LIKE}
"#
    )
}

#[test]
fn one_compute_step_runs_like_the_cpu_workload() {
    for policy in ["name = \"burst-heterogeneous\"", "name = \"faas\""] {
        let work = "work = { dist = \"uniform\", min = 1.0, max = 2.0 }";
        let steps = format!("[[workload.steps]]\nkind = \"compute\"\n{work}\n");
        let program = run(&platform(policy, &steps));
        let cpu =
            run(&platform(policy, &format!("{work}\n"))
                .replace("kind = \"steps\"", "kind = \"cpu\""));
        assert_eq!(program.records, cpu.records, "{policy}");
        assert_eq!(program.steps.len(), 8);
    }
}

#[test]
fn faas_functions_communicate_through_the_backend_only() {
    let out = run(&platform("name = \"faas\"", PAGERANK));
    assert!(out.records.iter().all(|r| r.is_ok()));
    let local: u64 = out.steps.iter().map(|s| s.bytes_local).sum();
    let remote: u64 = out.steps.iter().map(|s| s.bytes_remote).sum();
    assert_eq!(local, 0);
    // 3 x (broadcast of 4 MiB to 7 + reduce of 1 MiB from 7)
    assert_eq!(remote, 3 * 7 * 4 * MB + 3 * 7 * MB);
    let burst = run(&platform("name = \"burst-heterogeneous\"", PAGERANK));
    let remote_burst: u64 = burst.steps.iter().map(|s| s.bytes_remote).sum();
    // Two packs of 4: the broadcast reaches one other pack, the reduce crosses once.
    assert_eq!(remote_burst, 3 * 4 * MB + 3 * MB);
    let end = |o: &sim_core::SimOutput| o.records.iter().map(|r| r.t_end).fold(0.0, f64::max);
    assert!(end(&burst) < end(&out));
}

#[test]
fn communication_configs_are_checked() {
    let base = platform("name = \"burst-heterogeneous\"", PAGERANK);
    let msg = load_err(
        &base.replace("root = 0, bytes = \"4 MiB\"", "root = 8, bytes = \"4 MiB\""),
        &[],
    );
    assert!(
        msg.contains("field `workload.steps[1].steps[0].root`"),
        "{msg}"
    );
    assert!(msg.contains("worker id < 8"), "{msg}");
    let msg = load_err(
        &base.replace(&format!("[network.backend]\n{REDIS_LIKE}"), ""),
        &[],
    );
    assert!(msg.contains("field `network.backend`"), "{msg}");
    let msg = load_err(
        &base.replace("chunk_latency = 0.0005", "chunk_latency = -1"),
        &[],
    );
    assert!(
        msg.contains("field `network.backend.chunk_latency`"),
        "{msg}"
    );
    let msg = load_err(
        &base.replace(
            "connection_rate = \"400 MiB/s\"",
            "connection_rate = \"fast\"",
        ),
        &[],
    );
    assert!(msg.contains("network.backend.connection_rate"), "{msg}");
    let msg = load_err(&base.replace("times = 3", "times = 3\ntimez = 2"), &[]);
    assert!(msg.contains("unknown field `timez`"), "{msg}");
    let arrivals = format!(
        "{base}[[arrivals]]\naction = \"a\"\nprocess = {{ kind = \"poisson\", rate = 1.0 }}\nend = 1.0\n"
    );
    let msg = load_err(&arrivals, &[]);
    assert!(msg.contains("field `arrivals`"), "{msg}");
    let sleep = base
        .replace("kind = \"steps\"", "kind = \"sleep\"\nduration = 1.0")
        .replace(PAGERANK, "");
    let msg = load_err(&format!("mode = \"direct\"\n{sleep}"), &[]);
    assert!(msg.contains("field `workload.kind`"), "{msg}");
}
