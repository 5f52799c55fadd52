//! Measured per-worker start latencies from the Burst Computing validation data
//! (`data/burst-validation-48/granG.csv`, Lithops' per-call statistics).

use std::path::Path;

use crate::error::Error;

/// Start latencies of one measured burst, in seconds from the job's creation, sorted.
#[derive(Debug, Clone)]
pub struct MeasuredBurst {
    pub start_latencies: Vec<f64>,
}

/// Reads a Lithops statistics CSV: one row per worker, latency =
/// `worker_start_tstamp - host_job_create_tstamp`.
pub fn read_lithops_csv(path: &Path) -> Result<MeasuredBurst, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("{}: cannot read measurements: {e}", path.display())))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| {
            Error::Input(format!(
                "{}: empty file, expected a CSV header",
                path.display()
            ))
        })?
        .split(',')
        .collect();
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            Error::Input(format!(
                "{}: expected a column `{name}` in the header",
                path.display()
            ))
        })
    };
    let (create, start) = (
        column("host_job_create_tstamp")?,
        column("worker_start_tstamp")?,
    );
    let mut start_latencies = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let number = |col: usize, name: &str| -> Result<f64, Error> {
            fields
                .get(col)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::Input(format!(
                        "{}: line {}: column `{name}`: expected a number",
                        path.display(),
                        i + 2
                    ))
                })
        };
        start_latencies.push(
            number(start, "worker_start_tstamp")? - number(create, "host_job_create_tstamp")?,
        );
    }
    if start_latencies.is_empty() {
        return Err(Error::Input(format!("{}: no data rows", path.display())));
    }
    start_latencies.sort_by(f64::total_cmp);
    Ok(MeasuredBurst { start_latencies })
}

/// Quantile of sorted values by linear interpolation between closest ranks (q in [0, 1]).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shipped_measurements() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/burst-validation-48");
        let g48 = read_lithops_csv(&dir.join("gran48.csv")).unwrap();
        assert_eq!(g48.start_latencies.len(), 48);
        // The data README's summary for G = 48: min 1.36, max 1.51.
        assert!((g48.start_latencies[0] - 1.36).abs() < 0.01);
        assert!((g48.start_latencies[47] - 1.51).abs() < 0.01);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.5) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn a_missing_column_is_named() {
        let dir = std::env::temp_dir().join(format!("burstsim-measured-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.csv");
        std::fs::write(&f, "a,b\n1,2\n").unwrap();
        let err = read_lithops_csv(&f).unwrap_err().to_string();
        assert!(err.contains("host_job_create_tstamp"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
