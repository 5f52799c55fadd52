//! `[faults]` validated into a [`FaultSpec`]: times in nanoseconds, crashes sorted, outage
//! windows sorted and merged, the completion-ack timeout worked out as OpenWhisk does.

use policies::{Distribution, FieldError};

use super::{secs_to_ns, TimeDist};
use crate::config::{Config, FaultsConfig, Mode};

/// OpenWhisk's `TimeLimit.STD_DURATION`, and its load balancer's `timeout-factor` and
/// `timeout-addon`: a completion ack is awaited `max(action timeout, 60 s) * 2 + 60 s`
/// (`CommonLoadBalancer.calculateCompletionAckTimeout`).
const STD_ACTION_TIMEOUT_S: f64 = 60.0;
const ACK_TIMEOUT_FACTOR: f64 = 2.0;
const ACK_TIMEOUT_ADDON_S: f64 = 60.0;

/// One scheduled crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashSpec {
    pub invoker: u32,
    pub at_ns: u64,
    /// Down time; `None`: it stays down.
    pub recovery_ns: Option<u64>,
}

/// Random crashes of every invoker.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomCrashes {
    /// Up time before each crash.
    pub time_to_failure: TimeDist,
    /// Down time after each crash.
    pub recovery: TimeDist,
}

/// Faults of a run and the detector's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// No ping for this long: the controller takes the invoker offline.
    pub offline_timeout_ns: u64,
    /// A FaaS activation whose completion ack never comes fails this long after it was
    /// published.
    pub ack_timeout_ns: u64,
    pub creation_failure: f64,
    pub worker_crash: f64,
    /// Scheduled crashes, by time (ties: config order).
    pub crashes: Vec<CrashSpec>,
    pub random_crashes: Option<RandomCrashes>,
    pub straggler_probability: f64,
    /// Factor on a straggling attempt's run time (draws below 1 count as 1).
    pub slowdown: Distribution,
    /// Broker outages `[from, until)`, sorted, disjoint and not touching.
    pub outages: Vec<(u64, u64)>,
}

impl FaultSpec {
    /// True when a broker outage covers `t`.
    pub fn broker_down(&self, t: u64) -> bool {
        self.outage_at(t).is_some()
    }

    /// The end of the outage that covers `t`, if one does.
    pub fn outage_at(&self, t: u64) -> Option<u64> {
        let i = self.outages.partition_point(|&(from, _)| from <= t);
        let &(_, until) = self.outages[..i].last()?;
        (t < until).then_some(until)
    }

    /// `t`, or the end of the outage covering it: when the broker can take a message sent at
    /// `t`.
    pub fn broker_up_at(&self, t: u64) -> u64 {
        self.outage_at(t).unwrap_or(t)
    }

    /// When the controller takes offline an invoker whose last ping it got at `last_ping`:
    /// after `offline_timeout` of time during which the broker was up (pings missed during
    /// an outage are the broker's fault, not the invoker's: the controller, whose own calls
    /// fail meanwhile, does not count them, as the live controller gives a grace period after
    /// a broker restart).
    pub fn offline_at(&self, last_ping: u64) -> u64 {
        let mut t = last_ping;
        let mut left = self.offline_timeout_ns;
        for &(from, until) in &self.outages {
            if until <= t {
                continue;
            }
            let from = from.max(t);
            if from - t >= left {
                break;
            }
            left -= from - t;
            t = until;
        }
        t + left
    }
}

/// Validates `[faults]` of `config` for a cluster of `invokers` invokers.
pub(super) fn faults(config: &Config, invokers: usize) -> Result<Option<FaultSpec>, FieldError> {
    let Some(f) = &config.faults else {
        return Ok(None);
    };
    if config.mode != Mode::Openwhisk {
        return Err(FieldError::new(
            "faults",
            "no [faults] outside mode = \"openwhisk\" (faults are injected into the platform model)",
            format!("mode = {:?}", format!("{:?}", config.mode).to_lowercase()),
        ));
    }
    if config.workload.program().is_some() {
        return Err(FieldError::new(
            "faults",
            "no [faults] with a `steps` workload (a collective with a lost member is not modelled)",
            "a steps workload",
        ));
    }
    Ok(Some(spec(f, invokers)?))
}

fn spec(f: &FaultsConfig, invokers: usize) -> Result<FaultSpec, FieldError> {
    let offline_timeout_ns = positive_seconds("faults.offline_timeout", f.offline_timeout)?;
    positive_seconds("faults.action_timeout", f.action_timeout)?;
    let ack_timeout_s =
        f.action_timeout.max(STD_ACTION_TIMEOUT_S) * ACK_TIMEOUT_FACTOR + ACK_TIMEOUT_ADDON_S;
    let creation_failure = probability("faults.creation_failure", f.creation_failure)?;
    let worker_crash = probability("faults.worker_crash", f.worker_crash)?;
    let mut crashes = Vec::with_capacity(f.invoker_crashes.len());
    for (i, c) in f.invoker_crashes.iter().enumerate() {
        let field = |k: &str| format!("faults.invoker_crashes[{i}].{k}");
        if c.invoker as usize >= invokers {
            return Err(FieldError::new(
                field("invoker"),
                format!("an invoker id in 0..{invokers} (the cluster's invokers)"),
                c.invoker,
            ));
        }
        let at_ns = seconds(&field("at"), c.at)?;
        let recovery_ns = match c.recovery {
            Some(r) => Some(positive_seconds(&field("recovery"), r)?),
            None => None,
        };
        crashes.push(CrashSpec {
            invoker: c.invoker,
            at_ns,
            recovery_ns,
        });
    }
    // Stable: ties keep config order.
    crashes.sort_by_key(|c| c.at_ns);
    let random_crashes = match &f.invoker_failures {
        Some(r) => Some(RandomCrashes {
            time_to_failure: time_dist(
                "faults.invoker_failures.time_to_failure",
                &r.time_to_failure.0,
            )?,
            recovery: time_dist("faults.invoker_failures.recovery", &r.recovery.0)?,
        }),
        None => None,
    };
    if let Some(r) = &random_crashes {
        if r.time_to_failure.is_zero() {
            return Err(FieldError::new(
                "faults.invoker_failures.time_to_failure",
                "a time to failure > 0 (a distribution that can draw more than 0 s)",
                0,
            ));
        }
    }
    let straggler_probability =
        probability("faults.stragglers.probability", f.stragglers.probability)?;
    f.stragglers
        .slowdown
        .validate()
        .map_err(|e| e.under("faults.stragglers.slowdown"))?;
    let mut outages = Vec::with_capacity(f.broker_outages.len());
    for (i, o) in f.broker_outages.iter().enumerate() {
        let field = |k: &str| format!("faults.broker_outages[{i}].{k}");
        let from = seconds(&field("from"), o.from)?;
        let until = seconds(&field("until"), o.until)?;
        if until <= from {
            return Err(FieldError::new(
                field("until"),
                format!("a time after `from` ({} s)", o.from),
                o.until,
            ));
        }
        outages.push((from, until));
    }
    outages.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(outages.len());
    for (from, until) in outages {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(until),
            _ => merged.push((from, until)),
        }
    }
    Ok(FaultSpec {
        offline_timeout_ns,
        ack_timeout_ns: secs_to_ns(ack_timeout_s),
        creation_failure,
        worker_crash,
        crashes,
        random_crashes,
        straggler_probability,
        slowdown: f.stragglers.slowdown.clone(),
        outages: merged,
    })
}

fn time_dist(field: &str, d: &Distribution) -> Result<TimeDist, FieldError> {
    d.validate().map_err(|e| e.under(field))?;
    Ok(TimeDist::new(d))
}

fn probability(field: &str, p: f64) -> Result<f64, FieldError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(FieldError::new(field, "a probability in [0, 1]", p));
    }
    Ok(p)
}

fn seconds(field: &str, v: f64) -> Result<u64, FieldError> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(FieldError::new(field, "a number of seconds >= 0", v));
    }
    Ok(secs_to_ns(v))
}

fn positive_seconds(field: &str, v: f64) -> Result<u64, FieldError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(FieldError::new(field, "a number of seconds > 0", v));
    }
    Ok(secs_to_ns(v).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(outages: Vec<(u64, u64)>) -> FaultSpec {
        FaultSpec {
            offline_timeout_ns: 10,
            ack_timeout_ns: 0,
            creation_failure: 0.0,
            worker_crash: 0.0,
            crashes: Vec::new(),
            random_crashes: None,
            straggler_probability: 0.0,
            slowdown: Distribution::constant(1.0),
            outages,
        }
    }

    #[test]
    fn offline_timer_does_not_count_broker_outages() {
        let s = spec_with(vec![]);
        assert_eq!(s.offline_at(5), 15);
        // An outage of 4 inside the timer delays it by 4; one that starts after it, nothing.
        let s = spec_with(vec![(8, 12), (40, 50)]);
        assert_eq!(s.offline_at(5), 19);
        // A ping in the middle of an outage: the timer starts at its end.
        assert_eq!(s.offline_at(10), 22);
        assert_eq!(s.offline_at(30), 40);
        assert_eq!(s.offline_at(31), 51);
        assert!(s.broker_down(8) && s.broker_down(11) && !s.broker_down(12));
        assert_eq!((s.broker_up_at(9), s.broker_up_at(12)), (12, 12));
    }
}
