//! Live collectives at the library level: the packs of a burst run as `comm::pack::run_pack`
//! calls in threads of this process (no containers), talking through a real redis-server
//! started by the test, with lists and with streams. Every collective moves real bytes that
//! the receivers check; a corrupted chunk is detected and fails the function with its reason,
//! and the burst's other workers are told instead of waiting; nothing stays in Redis once the
//! run's keys are deleted. Needs `redis-server` (SKIPPED, and counted, without it).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use executor::comm::pack::run_pack;
use executor::comm::remote::{self, LiveBackend};
use executor::comm::wire::{encode, FrameKind, Keys};
use executor::comm::CommJob;
use executor::payload::WorkerReport;
use policies::comm::{CommLayout, MessagePlan, Program};

struct Redis {
    child: Child,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis() -> Option<Redis> {
    if executor::local::missing_prerequisites().is_some_and(|w| w.contains("redis-server")) {
        println!("SKIPPED live collectives: redis-server not installed");
        return None;
    }
    let port = executor::local::free_port().unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote::connect(&url, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Redis { child, url })
}

fn program(text: &str) -> Program {
    #[derive(serde::Deserialize)]
    struct W {
        steps: Program,
    }
    toml::from_str::<W>(text).unwrap().steps
}

/// Runs every pack of `layout` (each in its own thread, as containers would) and returns the
/// workers' reports in worker order.
fn run_burst(
    redis: &Redis,
    prog: &Program,
    layout: &CommLayout,
    backend: LiveBackend,
    chunk_size: u64,
    keys: &Keys,
) -> Vec<Result<WorkerReport, String>> {
    let draws = prog.burst_draws(1, 0, layout.workers());
    let job = |first: u32, n: u32| CommJob {
        program: prog.clone(),
        draws: draws[first as usize..(first + n) as usize].to_vec(),
        chunk_size,
        backend,
        broker: redis.url.clone(),
        keys: keys.prefix().to_string(),
        seed: 9,
        timeout_s: 20.0,
        faas_workers: None,
    };
    let layout = Arc::new(layout.clone());
    let packs: Vec<_> = layout
        .packs()
        .iter()
        .map(|p| {
            let (first, n) = (p.first, p.last - p.first + 1);
            let job = job(first, n);
            let layout = layout.clone();
            std::thread::spawn(move || run_pack(&job, (*layout).clone(), first, &[], (0, 0)))
        })
        .collect();
    packs.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

fn leftover_keys(redis: &Redis, prefix: &str) -> Vec<String> {
    let mut c = remote::connect(&redis.url, Duration::from_secs(2)).unwrap();
    remote::keys_with_prefix(&mut c, prefix).unwrap()
}

fn delete(redis: &Redis, prefix: &str) {
    let mut c = remote::connect(&redis.url, Duration::from_secs(2)).unwrap();
    remote::delete_prefix(&mut c, prefix).unwrap();
}

const COLLECTIVES: [(&str, &str); 8] = [
    (
        "send halves",
        "{ kind = \"send\", pattern = \"halves\", bytes = 4500 }",
    ),
    (
        "send ring",
        "{ kind = \"send\", pattern = \"ring\", bytes = 4500 }",
    ),
    (
        "broadcast",
        "{ kind = \"broadcast\", root = 1, bytes = 4500 }",
    ),
    (
        "scatter",
        "{ kind = \"scatter\", root = 2, bytes_per_worker = 4500 }",
    ),
    (
        "gather",
        "{ kind = \"gather\", root = 3, bytes_per_worker = 4500 }",
    ),
    (
        "all_to_all",
        "{ kind = \"all_to_all\", bytes_per_pair = 4500 }",
    ),
    ("reduce", "{ kind = \"reduce\", root = 0, bytes = 4500 }"),
    ("allreduce", "{ kind = \"allreduce\", bytes = 4500 }"),
];

/// Every collective, with lists and streams, on 7 workers in packs of 3, 2 and 2 (plus a
/// compute and a sleep step, twice over): all complete, each worker received exactly the
/// bytes the plan sends it, locally and through Redis, and the keys are all deleted.
#[test]
fn every_collective_moves_checked_bytes_through_lists_and_streams() {
    let Some(redis) = redis() else {
        return;
    };
    let layout = CommLayout::from_packs([(0, 3, 0), (3, 2, 1), (5, 2, 2)]).unwrap();
    for backend in [LiveBackend::List, LiveBackend::Stream] {
        for (run, (name, step)) in COLLECTIVES.iter().enumerate() {
            let prog = program(&format!(
                "[[steps]]\nkind = \"repeat\"\ntimes = 2\nsteps = [{step}, \
                 {{ kind = \"compute\", work = 0.001 }}, {{ kind = \"sleep\", duration = 0.001 }}]\n"
            ));
            let keys = Keys::new("t", &format!("r{}{run}", backend.name()), 0);
            let t0 = Instant::now();
            let reports = run_burst(&redis, &prog, &layout, backend, 1000, &keys);
            let collective = prog.leaves()[0].collective().unwrap();
            let plan = MessagePlan::new(&collective, &layout, 1000).unwrap();
            for (w, r) in reports.iter().enumerate() {
                let r = r
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{name} {backend:?}: worker {w}: {e}"));
                assert_eq!(r.steps.len(), 6, "{name}");
                let (mut local, mut remote) = (0, 0);
                for &t in plan.receives_of(w as u32) {
                    let tr = plan.transfers()[t as usize];
                    if tr.is_remote() {
                        remote += tr.bytes
                    } else {
                        local += tr.bytes
                    }
                }
                for s in [0, 3] {
                    let st = &r.steps[s];
                    assert_eq!(
                        (st.bytes_local, st.bytes_remote),
                        (local, remote),
                        "{name} {backend:?} w{w}"
                    );
                    assert!(st.t_start <= st.t_sent && st.t_sent <= st.t_end, "{name}");
                }
            }
            println!(
                "{name:>12} over {}: {} workers ok, {:.3} s",
                backend.name(),
                reports.len(),
                t0.elapsed().as_secs_f64()
            );
            delete(&redis, keys.prefix());
            assert_eq!(leftover_keys(&redis, "bs:"), Vec::<String>::new(), "{name}");
        }
    }
}

/// A chunk corrupted on the broker fails its receiver with the checksum reason, and the
/// worker waiting on the failed one hears of it at once instead of timing out.
#[test]
fn a_corrupted_chunk_is_detected_and_the_burst_told() {
    let Some(redis) = redis() else {
        return;
    };
    // Worker 0 sends to 1 (step 0), then 1 sends to 0 (step 1); packs of one.
    let prog = program(
        "[[steps]]\nkind = \"send\"\npairs = [[0, 1]]\nbytes = 3000\n\
         [[steps]]\nkind = \"send\"\npairs = [[1, 0]]\nbytes = 3000\n",
    );
    let layout = CommLayout::direct(2, 1);
    for backend in [LiveBackend::List, LiveBackend::Stream] {
        let keys = Keys::new("t", &format!("corrupt{}", backend.name()), 0);
        // A frame with a valid header whose payload was damaged on the way, queued first.
        let mut frame = encode(FrameKind::Data, 0, 0, &[7u8; 1000], true);
        frame[100] ^= 0xff;
        let mut up = remote::Uploader::new(
            remote::connect(&redis.url, Duration::from_secs(2)).unwrap(),
            backend,
            60,
        );
        up.push(&keys.transfer(0, 0), &frame).unwrap();
        let t0 = Instant::now();
        let reports = run_burst(&redis, &prog, &layout, backend, 1000, &keys);
        let e1 = reports[1].as_ref().unwrap_err();
        assert!(
            e1.contains("checksum mismatch in chunk 0 of transfer 0")
                && e1.contains("from worker 0"),
            "{backend:?}: {e1}"
        );
        let e0 = reports[0].as_ref().unwrap_err();
        assert!(
            e0.contains("worker 1 failed") && e0.contains("checksum"),
            "{backend:?}: {e0}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "told, not timed out"
        );
        delete(&redis, keys.prefix());
        assert_eq!(leftover_keys(&redis, "bs:"), Vec::<String>::new());
    }
}
