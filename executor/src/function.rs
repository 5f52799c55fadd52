//! The function bodies, run for real: the simulator's workload definitions.

use std::time::Duration;

use policies::workload::FunctionInput;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::clock;

/// Runs `input` and returns its output (the pi estimate for `montecarlo`, the work done
/// otherwise). `exit` ends the calling process: only a worker process runs it.
pub fn run(input: &FunctionInput, seed: u64) -> f64 {
    match *input {
        FunctionInput::Sleep { seconds } => {
            sleep(seconds);
            seconds
        }
        FunctionInput::Cpu { seconds } => busy(seconds),
        FunctionInput::Montecarlo { points, .. } => montecarlo(points, seed),
        // Not a single body: `dispatcher` runs step programs in their pack (`comm::pack`)
        // and refuses them in worker processes before they get here.
        FunctionInput::Steps => f64::NAN,
        FunctionInput::Exit { seconds, code } => {
            sleep(seconds);
            std::process::exit(code)
        }
        FunctionInput::Allocate { megabytes, seconds } => allocate(megabytes, seconds),
    }
}

fn sleep(seconds: f64) {
    if seconds.is_finite() && seconds > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(seconds));
    }
}

/// Touches `megabytes` of memory (every page written, so it is resident) and holds it for
/// `seconds`; returns the megabytes.
fn allocate(megabytes: u64, seconds: f64) -> f64 {
    const PAGE: usize = 4096;
    let bytes = usize::try_from(megabytes.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    let mut memory: Vec<u8> = Vec::new();
    // Grown a MB at a time, each new page written so it is resident: past the container's
    // limit the kernel's OOM killer ends the process on its way.
    let chunk = 1 << 20;
    while memory.len() < bytes {
        let grow = chunk.min(bytes - memory.len());
        memory.resize(memory.len() + grow, 0);
        let start = memory.len() - grow;
        for i in (start..memory.len()).step_by(PAGE) {
            memory[i] = 1;
        }
    }
    sleep(seconds);
    std::hint::black_box(&memory);
    megabytes as f64
}

/// Spins until the thread has used `seconds` of CPU time: under CPU sharing it takes longer
/// in wall time, as the simulator's processor-sharing model says.
pub(crate) fn busy(seconds: f64) -> f64 {
    let start = clock::thread_cpu_time();
    let mut x = 1.0f64;
    loop {
        for _ in 0..10_000 {
            x = (x * 1.000_000_1 + 1e-9).sqrt() + 0.5;
        }
        if clock::thread_cpu_time() - start >= seconds {
            break;
        }
    }
    std::hint::black_box(x);
    seconds
}

/// Monte Carlo estimate of pi from `points` uniform points in the unit square.
fn montecarlo(points: u64, seed: u64) -> f64 {
    if points == 0 {
        return 0.0;
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut inside = 0u64;
    for _ in 0..points {
        let x: f64 = rng.random();
        let y: f64 = rng.random();
        if x * x + y * y <= 1.0 {
            inside += 1;
        }
    }
    4.0 * inside as f64 / points as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn montecarlo_estimates_pi() {
        let pi = montecarlo(200_000, 7);
        assert!((pi - std::f64::consts::PI).abs() < 0.02, "{pi}");
    }

    #[test]
    fn busy_uses_cpu_time() {
        let t0 = clock::thread_cpu_time();
        busy(0.05);
        assert!(clock::thread_cpu_time() - t0 >= 0.05);
    }

    #[test]
    fn allocate_holds_the_memory() {
        assert_eq!(allocate(8, 0.0), 8.0);
    }

    #[test]
    fn sleep_takes_wall_time() {
        let t0 = clock::now();
        run(&FunctionInput::Sleep { seconds: 0.05 }, 0);
        assert!(clock::now() - t0 >= 0.049);
    }
}
