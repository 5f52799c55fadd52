//! What a live test (one that needs root and the machine's services: runtimes, redis-server,
//! a Docker engine, Slurm) does when this machine cannot run it: it says so where a reader and
//! the test command both see it, and never passes silently. A skip prints `SKIPPED: <test>: <reason>`, appends that line to the file named by
//! `$BURSTSIM_SKIP_LOG` (scripts/test.sh sets it and counts the lines in its closing
//! `tests: N passed, N failed, N skipped`), and, when `$BURSTSIM_REQUIRE_LIVE=1` (CI, which
//! installs everything), fails the test instead.

use std::io::Write;
use std::path::PathBuf;

/// Names the file each skip appends its line to.
pub const SKIP_LOG_VAR: &str = "BURSTSIM_SKIP_LOG";
/// Set to `1`, turns every skip of a live test into a failure.
pub const REQUIRE_LIVE_VAR: &str = "BURSTSIM_REQUIRE_LIVE";

/// Where skips go and whether they are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipPolicy {
    /// The file a skip appends its line to, if any.
    pub log: Option<PathBuf>,
    /// A skip is a failure.
    pub require_live: bool,
}

impl SkipPolicy {
    /// From `$BURSTSIM_SKIP_LOG` and `$BURSTSIM_REQUIRE_LIVE`.
    pub fn from_env() -> Self {
        SkipPolicy {
            log: std::env::var_os(SKIP_LOG_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            require_live: std::env::var(REQUIRE_LIVE_VAR).is_ok_and(|v| v.trim() == "1"),
        }
    }

    /// Records that `test` cannot run because of `reason`: prints the `SKIPPED` line and
    /// appends it to the log. When skips are not allowed, or the log cannot be written (the
    /// skip would go uncounted), returns the message the test must fail with instead.
    pub fn skip(&self, test: &str, reason: &str) -> Result<(), String> {
        let line = format!("SKIPPED: {test}: {reason}");
        if self.require_live {
            return Err(format!(
                "{line} ({REQUIRE_LIVE_VAR}=1: this machine must run every live test)"
            ));
        }
        println!("{line}");
        if let Some(path) = &self.log {
            // One write per line in append mode: parallel tests do not interleave.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
                .map_err(|e| format!("{line} (and cannot count it in {}: {e})", path.display()))?;
        }
        Ok(())
    }
}

/// The calling test (named after its thread, as the test harness names it) cannot run here
/// because of `reason`: see [`SkipPolicy::skip`]. Panics, failing the test, when skips are not
/// allowed; otherwise the test returns.
pub fn skip_live_test(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    if let Err(message) = SkipPolicy::from_env().skip(test, reason) {
        panic!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_logged_once_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("skips");
        let policy = SkipPolicy {
            log: Some(log.clone()),
            require_live: false,
        };
        policy.skip("runc::a", "not root").unwrap();
        policy.skip("b", "`crun` not found").unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "SKIPPED: runc::a: not root\nSKIPPED: b: `crun` not found\n"
        );
    }

    #[test]
    fn a_required_live_test_fails_instead_of_skipping() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("skips");
        let policy = SkipPolicy {
            log: Some(log.clone()),
            require_live: true,
        };
        let err = policy.skip("a", "not root").unwrap_err();
        assert!(err.contains("SKIPPED: a: not root"), "{err}");
        assert!(err.contains(REQUIRE_LIVE_VAR), "{err}");
        // Failed, not skipped: nothing to count as a skip.
        assert!(!log.exists());
    }

    #[test]
    fn an_unwritable_log_fails_rather_than_losing_the_skip() {
        let policy = SkipPolicy {
            log: Some(PathBuf::from("/nonexistent/dir/skips")),
            require_live: false,
        };
        let err = policy.skip("a", "not root").unwrap_err();
        assert!(err.contains("cannot count it"), "{err}");
    }
}
