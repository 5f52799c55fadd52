//! The function bodies, run for real: the simulator's workload definitions.

use std::time::Duration;

use policies::workload::FunctionInput;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::clock;

/// Runs `input` and returns its output (the pi estimate for `montecarlo`, the work done otherwise).
pub fn run(input: &FunctionInput, seed: u64) -> f64 {
    match *input {
        FunctionInput::Sleep { seconds } => {
            std::thread::sleep(Duration::from_secs_f64(seconds.max(0.0)));
            seconds
        }
        FunctionInput::Cpu { seconds } => busy(seconds),
        FunctionInput::Montecarlo { points, .. } => montecarlo(points, seed),
        // Not a single body: `dispatcher` runs step programs in their pack (`comm::pack`)
        // and refuses them in worker processes before they get here.
        FunctionInput::Steps => f64::NAN,
    }
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
    fn sleep_takes_wall_time() {
        let t0 = clock::now();
        run(&FunctionInput::Sleep { seconds: 0.05 }, 0);
        assert!(clock::now() - t0 >= 0.049);
    }
}
