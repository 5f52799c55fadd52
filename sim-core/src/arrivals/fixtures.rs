//! Small synthetic traces in the exact formats of the public Azure Functions traces (and of a
//! burst file), generated from the formulas below, not copied from the data: the fixtures in
//! `configs/traces/fixtures/` are this module's output (`cargo run -p sim-core --example
//! trace_fixtures -- configs/traces/fixtures`; a test checks they match), and the reader tests
//! compare what the readers parse with these formulas.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::azure2019::{durations_file, invocations_file, memory_file};
use super::azure2021::FILE_NAME as TRACE_2021;

/// A 64-hex-digit id like the trace's salted hashes, derived from `label`.
pub fn hash(label: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::with_capacity(64);
    for i in 0..4u64 {
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i + 1));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let _ = write!(out, "{z:016x}");
    }
    out
}

/// One function of the 2019 fixture.
#[derive(Debug, Clone, Copy)]
pub struct Fixture2019Function {
    /// Owner, app and function labels (hashed with [`hash`] in the files).
    pub owner: &'static str,
    /// App label.
    pub app: &'static str,
    /// Function label.
    pub func: &'static str,
    /// Trigger group.
    pub trigger: &'static str,
    /// Days whose invocation file lists it.
    pub days: &'static [u32],
    /// Duration percentiles 0, 1, 25, 50, 75, 99, 100 (ms) on day 1 and day 2 (`None`: no row).
    pub durations_ms: [Option<[u32; 7]>; 2],
}

/// The 2019 fixture's functions: a timer, an HTTP function with spikes, a queue function
/// busy for an hour, one with no invocations, one without durations, one whose app has no
/// memory row, and one that appears on day 2 only.
pub const FUNCTIONS_2019: [Fixture2019Function; 7] = [
    Fixture2019Function {
        owner: "owner-1",
        app: "app-1",
        func: "timer",
        trigger: "timer",
        days: &[1, 2],
        durations_ms: [
            Some([10, 12, 20, 25, 30, 80, 100]),
            Some([11, 13, 21, 26, 31, 81, 101]),
        ],
    },
    Fixture2019Function {
        owner: "owner-1",
        app: "app-1",
        func: "http-spikes",
        trigger: "http",
        days: &[1, 2],
        durations_ms: [Some([100, 110, 200, 300, 400, 900, 1500]), None],
    },
    Fixture2019Function {
        owner: "owner-1",
        app: "app-2",
        func: "queue-hour",
        trigger: "queue",
        days: &[1, 2],
        durations_ms: [Some([1000, 1000, 1500, 2000, 2500, 5000, 6000]), None],
    },
    Fixture2019Function {
        owner: "owner-2",
        app: "app-3",
        func: "idle",
        trigger: "event",
        days: &[1],
        durations_ms: [Some([5, 5, 5, 5, 5, 5, 5]), None],
    },
    Fixture2019Function {
        owner: "owner-2",
        app: "app-3",
        func: "no-durations",
        trigger: "storage",
        days: &[1, 2],
        durations_ms: [None, None],
    },
    Fixture2019Function {
        owner: "owner-2",
        app: "app-4",
        func: "no-memory",
        trigger: "http",
        days: &[1],
        durations_ms: [Some([50, 50, 60, 70, 80, 90, 95]), None],
    },
    Fixture2019Function {
        owner: "owner-2",
        app: "app-3",
        func: "day-two",
        trigger: "orchestration",
        days: &[2],
        durations_ms: [None, Some([200, 210, 220, 230, 240, 250, 260])],
    },
];

/// Invocations of 2019 fixture function `f` on `day` in minute `m` (0-based; the file's
/// column `m + 1`).
pub fn count_2019(f: usize, day: u32, m: usize) -> u32 {
    match (f, day) {
        (0, _) => 1,
        (1, _) if m.is_multiple_of(10) => 20,
        (2, 1) if (60..120).contains(&m) => 3,
        (2, 2) if m < 30 => 5,
        (4, _) if m % 60 == 30 => 2,
        (5, 1) if (100..110).contains(&m) => 7,
        (6, 2) if (200..210).contains(&m) => 4,
        _ => 0,
    }
}

/// Apps with a memory row on day 1 (there is no day-2 memory file, as for days 13 and 14 of
/// the real dataset): `(owner, app, average, percentiles 1, 5, 25, 50, 75, 95, 99, 100)`, MB.
pub const MEMORY_2019: [(&str, &str, u32, [u32; 8]); 3] = [
    (
        "owner-1",
        "app-1",
        150,
        [100, 110, 130, 150, 170, 190, 200, 210],
    ),
    (
        "owner-1",
        "app-2",
        300,
        [250, 260, 280, 300, 320, 340, 350, 360],
    ),
    ("owner-2", "app-3", 90, [60, 70, 80, 90, 100, 110, 120, 130]),
];

fn write_2019(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for day in [1u32, 2] {
        let mut inv = String::from("HashOwner,HashApp,HashFunction,Trigger");
        for m in 1..=1440 {
            let _ = write!(inv, ",{m}");
        }
        inv.push('\n');
        let mut dur = String::from(
            "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,\
             percentile_Average_1,percentile_Average_25,percentile_Average_50,\
             percentile_Average_75,percentile_Average_99,percentile_Average_100\n",
        );
        for (f, func) in FUNCTIONS_2019.iter().enumerate() {
            let ids = format!(
                "{},{},{}",
                hash(func.owner),
                hash(func.app),
                hash(func.func)
            );
            if func.days.contains(&day) {
                let _ = write!(inv, "{ids},{}", func.trigger);
                for m in 0..1440 {
                    let _ = write!(inv, ",{}", count_2019(f, day, m));
                }
                inv.push('\n');
            }
            if let Some(p) = func.durations_ms[day as usize - 1] {
                let count: u32 = (0..1440).map(|m| count_2019(f, day, m)).sum();
                let average = (p[2] + 2 * p[3] + p[4]) / 4;
                let _ = write!(dur, "{ids},{average},{count},{},{}", p[0], p[6]);
                for v in p {
                    let _ = write!(dur, ",{v}");
                }
                dur.push('\n');
            }
        }
        std::fs::write(dir.join(invocations_file(day)), inv)?;
        std::fs::write(dir.join(durations_file(day)), dur)?;
    }
    let mut mem = String::from(
        "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,\
         AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,\
         AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,\
         AverageAllocatedMb_pct100\n",
    );
    for (owner, app, average, p) in MEMORY_2019 {
        let _ = write!(mem, "{},{},1440,{average}", hash(owner), hash(app));
        for v in p {
            let _ = write!(mem, ",{v}");
        }
        mem.push('\n');
    }
    std::fs::write(dir.join(memory_file(1)), mem)
}

/// One invocation of the 2021 fixture: `(app, func, start s, duration s)`.
pub type Invocation2021 = (&'static str, &'static str, f64, f64);

/// The 2021 fixture's invocations in start order: a function every 2 s for 10 minutes (0.5 s
/// each), a slow one every 10 s (42 s each, so written by end time it comes late), and a
/// spike of 30 short calls of a second app at 100 s.
pub fn invocations_2021() -> Vec<Invocation2021> {
    let mut v = Vec::new();
    for k in 0..300 {
        v.push(("app-x", "fast", 1.0 + 2.0 * k as f64, 0.5));
    }
    for k in 0..60 {
        v.push(("app-x", "slow", 5.0 + 10.0 * k as f64, 42.0));
    }
    for k in 0..30 {
        v.push(("app-y", "spike", 100.0625 + 0.125 * k as f64, 0.013));
    }
    v.sort_by(|a, b| a.2.total_cmp(&b.2));
    v
}

/// The 2021 file's text: lines in end-timestamp order, as the published trace is written.
fn text_2021() -> String {
    let mut lines: Vec<(f64, String)> = invocations_2021()
        .into_iter()
        .map(|(app, func, start, duration)| {
            let end = start + duration;
            (
                end,
                format!("{},{},{end:.6},{duration:.3}", hash(app), hash(func)),
            )
        })
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = String::from("app,func,end_timestamp,duration\n");
    for (_, line) in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The burst fixture: `(at, workers, tenant, action)`, in file order (not sorted: the 7.5 s
/// burst is written after the 9 s one).
pub const BURSTS: [(f64, u32, u32, &str); 6] = [
    (0.0, 48, 0, "etl"),
    (0.5, 1, 1, "thumbnail"),
    (2.0, 96, 0, "etl"),
    (9.0, 12, 1, "thumbnail"),
    (7.5, 24, 2, "etl"),
    (20.0, 48, 0, "etl"),
];

fn text_bursts() -> String {
    let mut out = String::from("at,workers,tenant,action\n");
    for (at, workers, tenant, action) in BURSTS {
        let _ = writeln!(out, "{at},{workers},{tenant},{action}");
    }
    out
}

/// Writes every fixture under `dir`: `azure2019/` (days 1 and 2, memory for day 1),
/// `azure2021/AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt` and `bursts.csv`.
pub fn write_all(dir: &Path) -> io::Result<()> {
    write_2019(&dir.join("azure2019"))?;
    std::fs::create_dir_all(dir.join("azure2021"))?;
    std::fs::write(dir.join("azure2021").join(TRACE_2021), text_2021())?;
    std::fs::write(dir.join("bursts.csv"), text_bursts())
}
