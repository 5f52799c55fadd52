//! Trace readers on the generated fixtures: files parsed exactly, windows, selection, scaling,
//! spreading within minutes, and bad lines reported with file and line.

use std::path::{Path, PathBuf};

use policies::{Distribution, Workload};
use sim_core::arrivals::azure2019::{Azure2019Config, Azure2019Trace, Spread};
use sim_core::arrivals::azure2021::{Azure2021Config, Azure2021Trace};
use sim_core::arrivals::burst_csv::{BurstCsvConfig, BurstCsvTrace};
use sim_core::arrivals::fixtures::{
    self, count_2019, hash, invocations_2021, BURSTS, FUNCTIONS_2019, MEMORY_2019,
};
use sim_core::arrivals::{Arrival, BadLines, Select, TraceLoadError};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/traces/fixtures")
}

fn config_2019(toml_src: &str) -> Azure2019Config {
    toml::from_str(&format!("dir = \"azure2019\"\n{toml_src}")).unwrap()
}

fn arrivals(source: sim_core::arrivals::ArrivalSource<'_>) -> Vec<Arrival> {
    source.map(|a| a.unwrap()).collect()
}

#[test]
fn fixtures_in_the_repository_are_the_generators_output() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::write_all(tmp.path()).unwrap();
    let mut files = Vec::new();
    for sub in ["azure2019", "azure2021"] {
        for entry in std::fs::read_dir(tmp.path().join(sub)).unwrap() {
            files.push(Path::new(sub).join(entry.unwrap().file_name()));
        }
    }
    files.push(PathBuf::from("bursts.csv"));
    assert_eq!(files.len(), 7);
    for f in files {
        let generated = std::fs::read(tmp.path().join(&f)).unwrap();
        let shipped = std::fs::read(fixture_dir().join(&f)).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with the trace_fixtures example)",
                f.display()
            )
        });
        assert!(
            generated == shipped,
            "{} differs from the generator's output",
            f.display()
        );
    }
}

#[test]
fn azure_2019_is_parsed_exactly() {
    let config = config_2019("days = [1, 2]\napp_memory = \"average\"");
    let trace = Azure2019Trace::load(&config, &fixture_dir()).unwrap();
    // In the window: all but `idle`; left out: `no-durations` and `no-memory` (app-4).
    assert_eq!(trace.summary.functions, 6);
    assert_eq!(trace.summary.without_data, 2);
    let kept: Vec<usize> = vec![0, 1, 2, 6];
    assert_eq!(trace.functions.len(), kept.len());
    let mut total = 0u64;
    for (got, &f) in trace.functions.iter().zip(&kept) {
        let fx = FUNCTIONS_2019[f];
        assert_eq!(
            got.function.name,
            format!("{}/{}", hash(fx.app), hash(fx.func))
        );
        assert_eq!(
            got.function.tenant,
            if fx.owner == "owner-1" { 0 } else { 1 }
        );
        let expected: Vec<(u32, u32)> = [1u32, 2]
            .iter()
            .flat_map(|&day| {
                (0..1440).filter_map(move |m| {
                    let listed = fx.days.contains(&day);
                    let c = if listed { count_2019(f, day, m) } else { 0 };
                    (c > 0).then_some(((day - 1) * 1440 + m as u32, c))
                })
            })
            .collect();
        assert_eq!(got.minutes, expected, "{}", fx.func);
        total += expected.iter().map(|(_, c)| *c as u64).sum::<u64>();
        // Durations: the earliest day with a row, ms -> s.
        let ms = fx.durations_ms[0].or(fx.durations_ms[1]).unwrap();
        let expected_duration = Distribution::Quantiles {
            p: vec![0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0],
            values: ms.iter().map(|v| *v as f64 * 1e-3).collect(),
        };
        assert_eq!(
            got.function.workload,
            Workload::Sleep {
                duration: expected_duration
            }
        );
        let memory = MEMORY_2019
            .iter()
            .find(|(o, a, _, _)| *o == fx.owner && *a == fx.app)
            .unwrap();
        assert_eq!(got.function.memory_mb, memory.2 as u64);
    }
    assert_eq!(trace.summary.invocations, total);
}

#[test]
fn azure_2019_memory_draws_stay_within_the_percentiles() {
    let trace = Azure2019Trace::load(&config_2019("seed = 3"), &fixture_dir()).unwrap();
    let again = Azure2019Trace::load(&config_2019("seed = 3"), &fixture_dir()).unwrap();
    assert_eq!(trace, again);
    for f in &trace.functions {
        assert!(
            (60..=360).contains(&f.function.memory_mb),
            "{}",
            f.function.memory_mb
        );
    }
    // Same app, same draw.
    assert_eq!(
        trace.functions[0].function.memory_mb,
        trace.functions[1].function.memory_mb
    );
    // A fixed memory replaces the files: `no-memory` comes back.
    let fixed = Azure2019Trace::load(&config_2019("memory_mb = 512"), &fixture_dir()).unwrap();
    assert_eq!(fixed.summary.without_data, 1);
    assert!(fixed.functions.iter().all(|f| f.function.memory_mb == 512));
    assert!(fixed
        .functions
        .iter()
        .any(|f| f.function.name.ends_with(&hash("no-memory"))));
}

#[test]
fn azure_2019_spreads_each_minute_in_the_window() {
    // Minutes 60..120 of day 1: `queue-hour` has 3 a minute, `timer` 1, `http-spikes` 20 every
    // 10th minute.
    let base = "start = 3600.0\nend = 7200.0\nwork = \"cpu\"\n";
    let uniform = Azure2019Trace::load(&config_2019(base), &fixture_dir()).unwrap();
    assert_eq!(uniform.summary.invocations, 60 + 6 * 20 + 180);
    let a = arrivals(uniform.arrivals(1, "trace", 0));
    assert_eq!(a.len(), 360);
    assert!(a.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    assert!(a.iter().all(|x| x.at_ns < 3_600_000_000_000));
    for (f, expected) in [(0u32, 60usize), (1, 120), (2, 180)] {
        let of_f: Vec<&Arrival> = a.iter().filter(|x| x.action == f).collect();
        assert_eq!(of_f.len(), expected);
        // Every minute holds exactly its count.
        for minute in 0..60u64 {
            let in_minute = of_f
                .iter()
                .filter(|x| x.at_ns / 60_000_000_000 == minute)
                .count();
            assert_eq!(
                in_minute,
                count_2019(f as usize, 1, 60 + minute as usize) as usize
            );
        }
    }
    assert!(matches!(
        uniform.functions[0].function.workload,
        Workload::Cpu { .. }
    ));
    // Same seed, same times; another seed, other times.
    assert_eq!(a, arrivals(uniform.arrivals(1, "trace", 0)));
    assert_ne!(a, arrivals(uniform.arrivals(2, "trace", 0)));

    let even = Azure2019Trace::load(
        &config_2019(&format!("{base}spread = \"equidistant\"")),
        &fixture_dir(),
    )
    .unwrap();
    let queue: Vec<u64> = arrivals(even.arrivals(1, "trace", 0))
        .iter()
        .filter(|x| x.action == 2)
        .map(|x| x.at_ns)
        .collect();
    let expected: Vec<u64> = (0..180).map(|k| k * 20_000_000_000).collect();
    assert_eq!(queue, expected);

    // Poisson spread and rate scaling keep the mean: 360 * 25 over 25 seeds with scale 0.5.
    let poisson = Azure2019Trace::load(
        &config_2019(&format!("{base}spread = \"poisson\"\nscale = 0.5")),
        &fixture_dir(),
    )
    .unwrap();
    let n: usize = (0..25)
        .map(|s| poisson.arrivals(s, "trace", 0).count())
        .sum();
    let mean = 180.0 * 25.0;
    assert!((n as f64 - mean).abs() < 4.0 * mean.sqrt(), "{n} vs {mean}");
    let scaled =
        Azure2019Trace::load(&config_2019(&format!("{base}scale = 2.0")), &fixture_dir()).unwrap();
    assert_eq!(arrivals(scaled.arrivals(0, "trace", 0)).len(), 720);
}

#[test]
fn azure_2019_selection_by_popularity() {
    let top = Azure2019Trace::load(&config_2019("select = { top = 1 }"), &fixture_dir()).unwrap();
    assert_eq!(top.functions.len(), 1);
    assert!(top.functions[0]
        .function
        .name
        .ends_with(&hash("http-spikes")));
    assert_eq!(top.summary.invocations, 144 * 20);
    let sample = config_2019("select = { sample = 2 }\nseed = 5");
    let a = Azure2019Trace::load(&sample, &fixture_dir()).unwrap();
    assert_eq!(a.functions.len(), 2);
    assert_eq!(a, Azure2019Trace::load(&sample, &fixture_dir()).unwrap());
}

/// A copy of the 2019 fixture with line `line` of `file` replaced by `text`.
fn corrupted_2019(file: &str, line: usize, text: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("azure2019");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture_dir().join("azure2019")).unwrap() {
        let entry = entry.unwrap();
        let mut content = std::fs::read_to_string(entry.path()).unwrap();
        if entry.file_name() == file {
            let mut lines: Vec<String> = content.lines().map(String::from).collect();
            lines[line - 1] = text.to_string();
            content = lines.join("\n") + "\n";
        }
        std::fs::write(dir.join(entry.file_name()), content).unwrap();
    }
    tmp
}

#[test]
fn bad_lines_name_file_line_and_column() {
    let inv = "invocations_per_function_md.anon.d01.csv";
    let original = std::fs::read_to_string(fixture_dir().join("azure2019").join(inv)).unwrap();
    let third = original.lines().nth(2).unwrap().replacen(",20,", ",x,", 1);
    let tmp = corrupted_2019(inv, 3, &third);
    let err = Azure2019Trace::load(&config_2019(""), tmp.path()).unwrap_err();
    let TraceLoadError::File(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.line, Some(3));
    assert!(e.file.ends_with(inv));
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "{inv}:3: column `1`: expected an integer >= 0, got `x`"
        )),
        "{msg}"
    );
    // Skipped instead: counted, quoted, and the function of that line is gone.
    let skip = Azure2019Trace::load(&config_2019("bad_lines = \"skip\""), tmp.path()).unwrap();
    assert_eq!(skip.summary.skipped.lines, 1);
    assert_eq!(skip.summary.skipped.first.as_ref().unwrap().line, Some(3));
    assert!(!skip
        .functions
        .iter()
        .any(|f| f.function.name.ends_with(&hash("http-spikes"))));
    // A decreasing percentile, and a missing column in a header.
    let dur = "function_durations_percentiles.anon.d01.csv";
    let text = std::fs::read_to_string(fixture_dir().join("azure2019").join(dur)).unwrap();
    let second = text.lines().nth(1).unwrap().replace(",80,100", ",80,70");
    let tmp = corrupted_2019(dur, 2, &second);
    let msg = format!(
        "{:?}",
        Azure2019Trace::load(&config_2019(""), tmp.path()).unwrap_err()
    );
    assert!(
        msg.contains("percentile_Average_100") && msg.contains("line: Some(2)"),
        "{msg}"
    );
    let mem = "app_memory_percentiles.anon.d01.csv";
    let text = std::fs::read_to_string(fixture_dir().join("azure2019").join(mem)).unwrap();
    let header = text
        .lines()
        .next()
        .unwrap()
        .replace("AverageAllocatedMb_pct50", "pct50");
    let tmp = corrupted_2019(mem, 1, &header);
    let msg = match Azure2019Trace::load(&config_2019(""), tmp.path()).unwrap_err() {
        TraceLoadError::File(e) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        msg.contains(&format!(
            "{mem}:1: header: expected a column `AverageAllocatedMb_pct50`"
        )),
        "{msg}"
    );
}

fn config_2021(toml_src: &str) -> Azure2021Config {
    toml::from_str(&format!(
        "file = \"azure2021/AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt\"\n{toml_src}"
    ))
    .unwrap()
}

#[test]
fn azure_2021_replays_every_invocation_in_start_order() {
    let trace = Azure2021Trace::load(&config_2021(""), &fixture_dir()).unwrap();
    assert_eq!(trace.summary.functions, 3);
    assert_eq!(trace.summary.invocations, 390);
    let names: Vec<String> = trace.functions.iter().map(|f| f.name.clone()).collect();
    let expected_names: Vec<String> = [("app-x", "fast"), ("app-x", "slow"), ("app-y", "spike")]
        .iter()
        .map(|(a, f)| format!("{}/{}", hash(a), hash(f)))
        .collect();
    assert_eq!(names, expected_names);
    assert_eq!(
        trace.functions.iter().map(|f| f.tenant).collect::<Vec<_>>(),
        vec![0, 0, 1]
    );
    // Written by end time, a 42 s call comes after the calls that ended before it, which
    // started up to 40 s after it: the reorder buffer is 40 s deep.
    assert_eq!(trace.lag_ns, 40_000_000_000);
    let got = arrivals(trace.arrivals(0, "t", 10));
    let expected = invocations_2021();
    assert_eq!(got.len(), expected.len());
    for (a, (app, func, start, duration)) in got.iter().zip(&expected) {
        let action = 10
            + ["fast", "slow", "spike"]
                .iter()
                .position(|f| f == func)
                .unwrap() as u32;
        assert_eq!(a.action, action, "{app}/{func} at {start}");
        assert_eq!(a.at_ns, (start * 1e9).round() as u64);
        assert_eq!(a.work_s, Some(*duration));
    }
}

#[test]
fn azure_2021_windows_selection_and_thinning() {
    let window =
        Azure2021Trace::load(&config_2021("start = 100.0\nend = 200.0"), &fixture_dir()).unwrap();
    // fast: starts 101, 103, ..., 199 (50); slow: 105, ..., 195 (10); spike: all 30.
    assert_eq!(window.summary.invocations, 90);
    let a = arrivals(window.arrivals(0, "t", 0));
    assert_eq!(a.len(), 90);
    assert_eq!(a[0].at_ns, 62_500_000); // the spike starts 62.5 ms into the window
    let top = Azure2021Trace::load(&config_2021("select = { top = 1 }"), &fixture_dir()).unwrap();
    assert_eq!(top.functions.len(), 1);
    assert!(top.functions[0].name.ends_with(&hash("fast")));
    let thinned = Azure2021Trace::load(&config_2021("scale = 0.25"), &fixture_dir()).unwrap();
    let n: usize = (0..40).map(|s| thinned.arrivals(s, "t", 0).count()).sum();
    let mean = 390.0 * 40.0 * 0.25;
    let sd = (390.0 * 40.0 * 0.25 * 0.75f64).sqrt();
    assert!((n as f64 - mean).abs() < 4.0 * sd, "{n} vs {mean}");
    let over = config_2021("scale = 2.0").validate().unwrap_err();
    assert_eq!(over.path, "scale");
}

#[test]
fn azure_2021_bad_line_is_reported_with_its_number() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture_dir().join("azure2021/AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt");
    let mut lines: Vec<String> = std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[41] = lines[41].rsplit_once(',').unwrap().0.to_string() + ",-0.5";
    std::fs::create_dir_all(tmp.path().join("azure2021")).unwrap();
    std::fs::write(
        tmp.path()
            .join("azure2021/AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt"),
        lines.join("\n"),
    )
    .unwrap();
    let msg = match Azure2021Trace::load(&config_2021(""), tmp.path()).unwrap_err() {
        TraceLoadError::File(e) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        msg.ends_with("AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt:42: column `duration`: expected a number >= 0, got `-0.5`"),
        "{msg}"
    );
    let skip = Azure2021Trace::load(&config_2021("bad_lines = \"skip\""), tmp.path()).unwrap();
    assert_eq!(skip.summary.invocations, 389);
    assert_eq!(arrivals(skip.arrivals(0, "t", 0)).len(), 389);
}

#[test]
fn burst_file_is_replayed_in_time_order() {
    let config: BurstCsvConfig = toml::from_str("file = \"bursts.csv\"\nmemory_mb = 512").unwrap();
    let default = Workload::Sleep {
        duration: Distribution::constant(1.0),
    };
    let trace = BurstCsvTrace::load(&config, &fixture_dir(), &default).unwrap();
    let actions: Vec<(u32, &str)> = trace
        .functions
        .iter()
        .map(|f| (f.tenant, f.name.as_str()))
        .collect();
    assert_eq!(actions, vec![(0, "etl"), (1, "thumbnail"), (2, "etl")]);
    assert!(trace
        .functions
        .iter()
        .all(|f| f.memory_mb == 512 && f.workload == default));
    assert_eq!(
        trace.workers,
        BURSTS.iter().map(|b| b.1 as u64).sum::<u64>()
    );
    let got: Vec<(u64, u32, u32, u32)> = arrivals(trace.arrivals(0))
        .iter()
        .map(|a| (a.at_ns, a.workers, a.tenant, a.action))
        .collect();
    let mut expected: Vec<(u64, u32, u32, u32)> = BURSTS
        .iter()
        .map(|&(at, w, t, name)| {
            let action = actions.iter().position(|&x| x == (t, name)).unwrap() as u32;
            ((at * 1e9) as u64, w, t, action)
        })
        .collect();
    expected.sort_by_key(|e| e.0);
    assert_eq!(got, expected);
    // A bad line: named with its number.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("b.csv"),
        "at,workers,tenant,action\n1.0,4,0,a\n2.0,0,0,a\n",
    )
    .unwrap();
    let bad: BurstCsvConfig = toml::from_str("file = \"b.csv\"").unwrap();
    let msg = match BurstCsvTrace::load(&bad, tmp.path(), &default).unwrap_err() {
        TraceLoadError::File(e) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        msg.ends_with(
            "b.csv:3: column `workers`: expected an integer from 1 to 4294967295, got `0`"
        ),
        "{msg}"
    );
}

#[test]
fn select_and_fields_reject_nonsense() {
    let both: Result<Azure2019Config, _> =
        toml::from_str("dir = \"x\"\nselect = { top = 1, sample = 2 }");
    assert_eq!(both.unwrap().validate().unwrap_err().path, "select");
    let unknown: Result<Azure2019Config, _> = toml::from_str("dir = \"x\"\nwindow = 3");
    assert!(unknown
        .unwrap_err()
        .to_string()
        .contains("unknown field `window`"));
    let gap = config_2019("days = [1, 3]");
    assert_eq!(gap.validate().unwrap_err().path, "days[1]");
    let late = config_2019("end = 90000.0");
    assert_eq!(late.validate().unwrap_err().path, "end");
    let _ = Select {
        top: Some(1),
        sample: None,
        weighted: true,
    };
    let _ = BadLines::Skip;
    let _ = Spread::Uniform;
}
