// SCRATCH (perf helper): dumps records+stats of a config to a file. Deleted after the task.
use std::io::Write;
use std::path::Path;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = &args[0];
    let path = Path::new(&args[1]);
    let c = sim_core::load_config(path, &args[2..]).unwrap();
    let sc = sim_core::Scenario::from_config(&c, path).unwrap();
    let t = std::time::Instant::now();
    let o = sim_core::simulate(&sc, sc.seed());
    let wall = t.elapsed().as_secs_f64();
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for r in &o.records {
        writeln!(f, "{r:?}").unwrap();
    }
    writeln!(f, "{:?}", o.stats).unwrap();
    eprintln!(
        "{} events in {wall:.3}s = {:.2} M/s",
        o.stats.events,
        o.stats.events as f64 / wall / 1e6
    );
}
