//! Bounded Nelder-Mead minimisation in the unit cube: small, deterministic, derivative-free,
//! which suits an objective that runs the simulator.

/// Result of a minimisation.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// Best point found, in the unit cube.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub value: f64,
    /// Number of objective evaluations made.
    pub evaluations: usize,
}

/// Minimises `f` over `[0, 1]^n` from `start`. Points are clamped into the cube, so `f` never
/// sees an out-of-bounds point. Stops after `max_evaluations` or when the simplex's values
/// differ by less than `tolerance`.
pub fn minimize<F: FnMut(&[f64]) -> f64>(
    mut f: F,
    start: &[f64],
    initial_step: f64,
    max_evaluations: usize,
    tolerance: f64,
) -> Minimum {
    let n = start.len();
    let clamp = |x: Vec<f64>| -> Vec<f64> { x.into_iter().map(|v| v.clamp(0.0, 1.0)).collect() };
    let mut evaluations = 0usize;
    let mut eval = |x: &[f64], evaluations: &mut usize| {
        *evaluations += 1;
        let v = f(x);
        if v.is_finite() {
            v
        } else {
            f64::INFINITY
        }
    };

    // Initial simplex: the start and one step along each axis (inwards near an upper bound).
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    let x0 = clamp(start.to_vec());
    let v0 = eval(&x0, &mut evaluations);
    simplex.push((x0.clone(), v0));
    for i in 0..n {
        let mut x = x0.clone();
        x[i] = if x[i] + initial_step <= 1.0 {
            x[i] + initial_step
        } else {
            x[i] - initial_step
        };
        let x = clamp(x);
        let v = eval(&x, &mut evaluations);
        simplex.push((x, v));
    }

    while evaluations < max_evaluations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let best = simplex[0].1;
        let worst = simplex[n].1;
        if (worst - best).abs() <= tolerance * (best.abs() + tolerance) {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|j| simplex[..n].iter().map(|(x, _)| x[j]).sum::<f64>() / n as f64)
            .collect();
        let towards = |t: f64, from: &[f64]| -> Vec<f64> {
            clamp(
                centroid
                    .iter()
                    .zip(from)
                    .map(|(c, w)| c + t * (c - w))
                    .collect(),
            )
        };
        let worst_x = simplex[n].0.clone();
        let reflected = towards(1.0, &worst_x);
        let vr = eval(&reflected, &mut evaluations);
        if vr < simplex[0].1 {
            let expanded = towards(2.0, &worst_x);
            let ve = eval(&expanded, &mut evaluations);
            simplex[n] = if ve < vr {
                (expanded, ve)
            } else {
                (reflected, vr)
            };
        } else if vr < simplex[n - 1].1 {
            simplex[n] = (reflected, vr);
        } else {
            let contracted = towards(-0.5, &worst_x);
            let vc = eval(&contracted, &mut evaluations);
            if vc < simplex[n].1 {
                simplex[n] = (contracted, vc);
            } else {
                // Shrink towards the best point.
                let best_x = simplex[0].0.clone();
                for item in simplex.iter_mut().skip(1) {
                    let x = clamp(
                        best_x
                            .iter()
                            .zip(&item.0)
                            .map(|(b, x)| b + 0.5 * (x - b))
                            .collect(),
                    );
                    let v = eval(&x, &mut evaluations);
                    *item = (x, v);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (x, value) = simplex.swap_remove(0);
    Minimum {
        x,
        value,
        evaluations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_quadratic() {
        let target = [0.3, 0.7, 0.55];
        let m = minimize(
            |x| x.iter().zip(&target).map(|(a, b)| (a - b).powi(2)).sum(),
            &[0.5, 0.5, 0.5],
            0.2,
            2000,
            1e-14,
        );
        for (a, b) in m.x.iter().zip(&target) {
            assert!((a - b).abs() < 1e-3, "{:?}", m.x);
        }
    }

    #[test]
    fn respects_bounds_when_the_minimum_is_outside() {
        let m = minimize(|x| (x[0] - 2.0).powi(2), &[0.5], 0.2, 500, 1e-12);
        assert!((m.x[0] - 1.0).abs() < 1e-6, "{:?}", m.x);
    }
}
