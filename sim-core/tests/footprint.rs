//! A run's memory follows what is in flight, not how long the run is: the engine's tables
//! (record reorder buffer, containers, messages, requests) reach the same high-water marks over
//! a run ten times longer, far below its number of functions. A run that kept every record, or
//! a slot per finished container, message or request, fails here. (Not timed: the figures are
//! counts of table rows.)

use std::path::Path;

use policies::FunctionRecord;
use sim_core::config::config_from_text;
use sim_core::{Footprint, RecordSink, Scenario, SinkError};

/// Counts records as they come, keeping none.
#[derive(Default)]
struct Count {
    records: u64,
    last_id: Option<u64>,
}

impl RecordSink for Count {
    fn record(&mut self, record: FunctionRecord) -> Result<(), SinkError> {
        assert!(
            self.last_id.is_none_or(|id| record.function_id > id),
            "id order"
        );
        self.last_id = Some(record.function_id);
        self.records += 1;
        Ok(())
    }
}

fn run(text: &str) -> (u64, Footprint) {
    let origin = Path::new("footprint.toml");
    let config = config_from_text(text, &[], origin).unwrap();
    let sc = Scenario::from_config(&config, origin).unwrap();
    let mut sink = Count::default();
    let end = sim_core::simulate_into(&sc, sc.seed(), &mut sink).unwrap();
    (sink.records, end.stats.footprint)
}

/// The anchor workload of `configs/bench` on 20 invokers at 100 invocations/s.
fn faas(count: u64) -> String {
    format!(
        r#"
name = "footprint-faas"
seed = 3
[[cluster.invokers]]
count = 20
cpus = 8
user_memory_mb = 1024
[policy]
name = "faas"
managed_fraction = 1.0
[workload]
kind = "cpu"
work = 1.0
[invoker]
cpu_model = "shares"
cold_start = 0.5
keep_alive = 600.0
[[arrivals]]
action = "anchor"
kind = "managed"
memory_mb = 128
process = {{ kind = "poisson", rate = 100.0 }}
count = {count}
"#
    )
}

/// Bursts of 48 workers every 2 s, short keep-alive (containers come and go).
fn bursts(count: u64) -> String {
    format!(
        r#"
name = "footprint-bursts"
seed = 5
[[cluster.invokers]]
count = 4
cpus = 48
user_memory_mb = 49152
[policy]
name = "burst-heterogeneous"
[workload]
kind = "sleep"
duration = {{ dist = "normal", mean = 3.0, std = 0.3 }}
[invoker]
keep_alive = 1.0
[[bursts]]
workers = 48
memory_mb = 256
count = {count}
every = 2.0
"#
    )
}

fn assert_bounded(name: &str, short: (u64, Footprint), long: (u64, Footprint), functions: u64) {
    let (short_n, s) = short;
    let (long_n, l) = long;
    assert_eq!(long_n, functions, "{name}: every record streamed out");
    assert_eq!(
        short_n * 10,
        long_n,
        "{name}: the long run is ten times the short one"
    );
    println!("{name}: short {s:?}, long {l:?}");
    for (table, a, b) in [
        ("records", s.records, l.records),
        ("containers", s.containers, l.containers),
        ("messages", s.messages, l.messages),
        ("requests", s.requests, l.requests),
    ] {
        // Bounded by what is in flight: a run ten times longer may meet a slightly higher peak
        // of arrivals, never one that grows with its length.
        assert!(
            b <= 2 * a + 16,
            "{name}: {table} high-water mark grew with run length: {a} -> {b}"
        );
        assert!(
            (b as u64) * 20 < functions,
            "{name}: {table} high-water mark {b} is not small next to {functions} functions"
        );
    }
}

#[test]
fn faas_tables_stay_at_what_is_in_flight() {
    let short = run(&faas(2_000));
    let long = run(&faas(20_000));
    assert_bounded("faas", short, long, 20_000);
}

#[test]
fn burst_tables_stay_at_what_is_in_flight() {
    let short = run(&bursts(40));
    let long = run(&bursts(400));
    assert_bounded("bursts", short, long, 400 * 48);
}
