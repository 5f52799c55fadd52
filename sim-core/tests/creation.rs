//! Container creation: the engine's CPU work is shared over the invoker's CPUs (a bigger
//! invoker creates faster), creations queue FIFO for the engine's slots, a straggler delays
//! only itself, and a creation's random durations do not shift when another parameter changes.

mod common;
use common::{load_err, run};

/// One invoker of `cpus` CPUs, a burst of `workers` 60 s sleeps in containers of `g`, and the
/// given `[invoker]` lines; nothing else takes time.
fn config(cpus: u32, workers: u32, g: u32, invoker: &str) -> String {
    format!(
        r#"
seed = 5
[[cluster.invokers]]
cpus = {cpus}
[policy]
name = "burst-homogeneous"
granularity = {g}
[workload]
kind = "sleep"
duration = 60.0
[[bursts]]
workers = {workers}
[invoker]
{invoker}
"#
    )
}

/// Container ready times, sorted, one per container.
fn ready_times(text: &str) -> Vec<f64> {
    let out = run(text);
    let mut ready: Vec<f64> = out
        .records
        .iter()
        .map(|r| (r.container, r.t_container_ready))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    ready.sort_by(f64::total_cmp);
    ready
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn one_creation_uses_the_whole_invoker() {
    // 4.8 CPU-seconds on 48 CPUs: 0.1 s; on 96 CPUs: 0.05 s.
    let engine = "create_cpu = 4.8\nmax_concurrent_creations = 2";
    assert!(close(&ready_times(&config(48, 48, 48, engine)), &[0.1]));
    assert!(close(&ready_times(&config(96, 48, 48, engine)), &[0.05]));
}

#[test]
fn creations_in_the_engine_share_its_cpus_and_queue_for_its_slots() {
    // Two slots: the first two creations share the CPUs (0.2 s each, together), the next two
    // wait for them.
    let two = "create_cpu = 4.8\nmax_concurrent_creations = 2";
    let r = ready_times(&config(48, 48, 12, two));
    assert!(close(&r, &[0.2, 0.2, 0.4, 0.4]), "{r:?}");
    // One slot: one after the other, same throughput.
    let one = "create_cpu = 4.8\nmax_concurrent_creations = 1";
    let r = ready_times(&config(48, 48, 12, one));
    assert!(close(&r, &[0.1, 0.2, 0.3, 0.4]), "{r:?}");
    // Twice the CPUs, twice the throughput.
    let r = ready_times(&config(96, 48, 12, two));
    assert!(close(&r, &[0.1, 0.1, 0.2, 0.2]), "{r:?}");
}

#[test]
fn the_wall_clock_section_comes_first_and_shares_nothing() {
    let engine = "create = 0.05\ncreate_cpu = 4.8\nmax_concurrent_creations = 2\ncold_start = 0.5";
    let r = ready_times(&config(48, 48, 24, engine));
    // Both pass the 0.05 s section together, then share the CPUs: 0.05 + 0.2, plus 0.5 init.
    assert!(close(&r, &[0.75, 0.75]), "{r:?}");
}

#[test]
fn a_straggler_delays_only_itself() {
    let base = "create_cpu = 4.8\nmax_concurrent_creations = 1\ncold_start = 0.5";
    let plain = ready_times(&config(48, 8, 1, base));
    let all = ready_times(&config(
        48,
        8,
        1,
        &format!("{base}\nstraggler = {{ probability = 1.0, delay = 3.0 }}"),
    ));
    // Every creation straggles by 3 s in its init, off the engine: the engine's pace holds.
    let shifted: Vec<f64> = plain.iter().map(|t| t + 3.0).collect();
    assert!(close(&all, &shifted), "{all:?} vs {plain:?}");
}

#[test]
fn with_an_exponent_stragglers_follow_the_load() {
    // probability 48 x (n / 48 CPUs)^1: a creation straggles exactly when another one is in
    // flight on its invoker as its init starts.
    let base = "create_cpu = 4.8\nmax_concurrent_creations = 1\ncold_start = 0.05";
    let straggler = |exponent: f64| {
        let p = if exponent == 0.0 { 1.0 } else { 48.0 };
        format!("{base}\nstraggler = {{ probability = {p}, exponent = {exponent}, delay = 3.0 }}")
    };
    // A container created alone never does; without the exponent it always does.
    assert!(close(
        &ready_times(&config(48, 48, 48, &straggler(1.0))),
        &[0.15]
    ));
    assert!(close(
        &ready_times(&config(48, 48, 48, &straggler(0.0))),
        &[3.15]
    ));
    // Four at once: each init starts with the others queued or still initialising.
    let r = ready_times(&config(48, 4, 1, &straggler(1.0)));
    assert!(close(&r, &[3.15, 3.25, 3.35, 3.45]), "{r:?}");
    // The load is containers per CPU: with probability 1 at one container per CPU and a
    // quadratic rise, four creations on 48 CPUs (at most 3/48 per CPU) hardly ever straggle.
    let light = format!("{base}\nstraggler = {{ probability = 1.0, exponent = 2.0, delay = 3.0 }}");
    let plain = ready_times(&config(48, 4, 1, base));
    assert!(close(&ready_times(&config(48, 4, 1, &light)), &plain));
}

#[test]
fn a_creation_keeps_its_draws_when_another_parameter_changes() {
    let random = "create_cpu = { dist = \"lognormal\", median = 4.8, sigma = 0.4 }\n\
                  cold_start = { dist = \"lognormal\", median = 0.5, sigma = 0.2 }\n\
                  max_concurrent_creations = 1";
    let without = run(&config(48, 24, 1, random));
    // A straggler probability too small to hit draws its numbers from each creation's own
    // stream after the init: nothing else moves.
    let tiny = run(&config(
        48,
        24,
        1,
        &format!("{random}\nstraggler = {{ probability = 1e-12, delay = 5.0 }}"),
    ));
    assert_eq!(
        format!("{:?}", without.records),
        format!("{:?}", tiny.records)
    );
    // Half of them straggle: the others start exactly as before (same engine and init draws),
    // the stragglers later.
    let half = run(&config(
        48,
        24,
        1,
        &format!("{random}\nstraggler = {{ probability = 0.5, delay = 5.0 }}"),
    ));
    let (mut same, mut later) = (0, 0);
    for (a, b) in without.records.iter().zip(&half.records) {
        if (a.t_start - b.t_start).abs() < 1e-9 {
            same += 1;
        } else {
            assert!((b.t_start - a.t_start - 5.0).abs() < 1e-6, "{a:?} {b:?}");
            later += 1;
        }
    }
    assert!(same > 0 && later > 0, "{same} same, {later} later");
}

#[test]
fn seeds_change_random_creations() {
    let random = "create_cpu = { dist = \"lognormal\", median = 4.8, sigma = 0.4 }";
    let text = config(48, 24, 1, random);
    let a = ready_times(&text);
    let b = ready_times(&text.replace("seed = 5", "seed = 6"));
    assert!(!close(&a, &b));
    assert!(close(&a, &ready_times(&text)));
}

#[test]
fn bad_straggler_and_creation_work_are_named() {
    let e = load_err(&config(8, 8, 1, "straggler = { probability = 1.5 }"), &[]);
    assert!(
        e.contains("invoker.straggler.probability") && e.contains("[0, 1]"),
        "{e}"
    );
    let e = load_err(
        &config(
            8,
            8,
            1,
            "straggler = { probability = 0.1, exponent = -1.0 }",
        ),
        &[],
    );
    assert!(e.contains("invoker.straggler.exponent"), "{e}");
    let e = load_err(&config(8, 8, 1, "create_cpu = -1.0"), &[]);
    assert!(e.contains("invoker.create_cpu"), "{e}");
    let e = load_err(
        &config(8, 8, 1, "straggler = { probability = 0.1, delay = -2.0 }"),
        &[],
    );
    assert!(e.contains("invoker.straggler.delay"), "{e}");
}

#[test]
fn a_crash_during_creation_work_resets_the_engine() {
    // One invoker of 8 CPUs, 8 sleep workers in containers of 2: four creations of 4
    // CPU-seconds, two at a time sharing the 8 CPUs (1 s per pair). The invoker crashes at 0.5,
    // mid-creation, and is back 2 s later; the workers are re-run once the crash is detected,
    // in four new creations, which share the CPUs only with each other (pairs ready 1 s and
    // 2 s after their submission), not with the creations the crash ended.
    let out = run(r#"
seed = 3
[[cluster.invokers]]
cpus = 8
[policy]
name = "burst-homogeneous"
granularity = 2
[workload]
kind = "sleep"
duration = 20.0
[[bursts]]
workers = 8
[invoker]
create_cpu = 4.0
max_concurrent_creations = 2
[recovery]
name = "rerun-failed-workers"
[faults]
[[faults.invoker_crashes]]
invoker = 0
at = 0.5
recovery = 2.0
"#);
    assert_eq!(out.stats.invoker_crashes, 1);
    let mut delays = Vec::new();
    for fid in 0..8 {
        let attempts: Vec<_> = out
            .records
            .iter()
            .filter(|r| r.function_id == fid)
            .collect();
        assert_eq!(attempts.len(), 2, "function {fid}: {attempts:#?}");
        assert!(attempts[0].t_container_ready.is_nan(), "{attempts:#?}");
        let rerun = attempts[1];
        assert!(rerun.is_ok(), "function {fid}: {rerun:#?}");
        delays.push(rerun.t_container_ready - rerun.t_submit);
    }
    delays.sort_by(f64::total_cmp);
    println!("re-run containers ready after their submission: {delays:?}");
    assert!(
        (1.0..1.5).contains(&delays[0]) && (2.0..2.5).contains(&delays[7]),
        "{delays:?}"
    );
}
