//! Recovery specs (TOML, Display, FromStr, validation) and the decisions of each policy.

use std::str::FromStr;

use policies::recovery::avoiding;
use policies::{ClusterView, InvokerView, Recovery, RecoverySpec, RerunScope};
use proptest::prelude::*;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    recovery: RecoverySpec,
}

fn from_toml(body: &str) -> Result<RecoverySpec, String> {
    toml::from_str::<Config>(&format!("[recovery]\n{body}"))
        .map(|c| c.recovery)
        .map_err(|e| e.to_string())
}

fn all_specs() -> Vec<RecoverySpec> {
    vec![
        RecoverySpec::None,
        RecoverySpec::FailBurst,
        RecoverySpec::RerunFailedWorkers { retries: 2 },
        RecoverySpec::RerunPack { retries: 0 },
        RecoverySpec::SpeculateStragglers {
            after: 0.9,
            retries: 1,
        },
        RecoverySpec::SpeculateStragglers {
            after: 1.0,
            retries: 2,
        },
        RecoverySpec::Openwhisk { client_retries: 3 },
    ]
}

#[test]
fn names_parse_from_toml_with_defaults() {
    assert_eq!(
        toml::from_str::<Config>("").unwrap().recovery,
        RecoverySpec::None
    );
    let cases = [
        ("name = \"none\"", RecoverySpec::None),
        ("name = \"fail-burst\"", RecoverySpec::FailBurst),
        (
            "name = \"rerun-failed-workers\"",
            RecoverySpec::RerunFailedWorkers { retries: 2 },
        ),
        (
            "name = \"rerun-pack\"\nretries = 5",
            RecoverySpec::RerunPack { retries: 5 },
        ),
        (
            "name = \"speculate-stragglers\"\nafter = 0.75",
            RecoverySpec::SpeculateStragglers {
                after: 0.75,
                retries: 2,
            },
        ),
        (
            "name = \"openwhisk\"",
            RecoverySpec::Openwhisk { client_retries: 0 },
        ),
    ];
    for (body, want) in cases {
        assert_eq!(from_toml(body).unwrap(), want, "{body}");
    }
}

#[test]
fn unknown_names_and_keys_are_rejected() {
    let e = from_toml("name = \"retry-everything\"").unwrap_err();
    assert!(e.contains("rerun-failed-workers"), "lists the names: {e}");
    let e = from_toml("name = \"fail-burst\"\nretries = 2").unwrap_err();
    assert!(e.contains("retries"), "{e}");
    let e = from_toml("name = \"speculate-stragglers\"").unwrap_err();
    assert!(e.contains("after"), "{e}");
}

#[test]
fn display_round_trips_through_from_str() {
    for spec in all_specs() {
        let text = spec.to_string();
        assert_eq!(RecoverySpec::from_str(&text).unwrap(), spec, "{text}");
    }
    assert_eq!(
        RecoverySpec::from_str("rerun-pack").unwrap(),
        RecoverySpec::RerunPack { retries: 2 }
    );
}

#[test]
fn bad_parameters_name_the_field() {
    let e = RecoverySpec::from_str("speculate-stragglers { after = 1.5 }").unwrap_err();
    assert!(e.contains("`after`") && e.contains("(0, 1]"), "{e}");
    let e = RecoverySpec::from_str("speculate-stragglers { after = 0.0 }").unwrap_err();
    assert!(e.contains("after"), "{e}");
    let e = RecoverySpec::from_str("openwhisk { client_retries = 1000 }").unwrap_err();
    assert!(e.contains("client_retries"), "{e}");
    let e = RecoverySpec::from_str("Rerun").unwrap_err();
    assert!(e.contains("expected a recovery policy like"), "{e}");
    let e = RecoverySpec::from_str("rerun-pack { retries = }").unwrap_err();
    assert!(e.contains("in recovery policy"), "{e}");
    let nan = RecoverySpec::SpeculateStragglers {
        after: f64::NAN,
        retries: 0,
    };
    assert_eq!(nan.validate().unwrap_err().path, "after");
}

#[test]
fn which_placement_each_applies_to() {
    for spec in all_specs() {
        let faas_only = matches!(spec, RecoverySpec::Openwhisk { .. });
        assert_eq!(spec.for_bursts(), !faas_only, "{spec}");
    }
    assert!(RecoverySpec::None.for_faas() && RecoverySpec::None.for_bursts());
    assert!(!RecoverySpec::RerunPack { retries: 1 }.for_faas());
}

#[test]
fn each_policy_decides_by_attempt() {
    let decide = |spec: RecoverySpec| -> Vec<Recovery> {
        let p = spec.build();
        (0..3).map(|a| p.on_failure(a)).collect()
    };
    assert_eq!(decide(RecoverySpec::None), vec![Recovery::Keep; 3]);
    assert_eq!(
        decide(RecoverySpec::FailBurst),
        vec![Recovery::FailBurst; 3]
    );
    let rerun = Recovery::Rerun(RerunScope::Functions);
    assert_eq!(
        decide(RecoverySpec::RerunFailedWorkers { retries: 2 }),
        vec![rerun, rerun, Recovery::Keep]
    );
    assert_eq!(
        decide(RecoverySpec::RerunPack { retries: 1 }),
        vec![
            Recovery::Rerun(RerunScope::Pack),
            Recovery::Keep,
            Recovery::Keep
        ]
    );
    assert_eq!(
        decide(RecoverySpec::Openwhisk { client_retries: 0 }),
        vec![Recovery::Keep; 3]
    );
    assert_eq!(
        decide(RecoverySpec::Openwhisk { client_retries: 3 }),
        vec![Recovery::Rerun(RerunScope::Invocation); 3]
    );
    assert_eq!(
        decide(RecoverySpec::SpeculateStragglers {
            after: 0.5,
            retries: 1
        }),
        vec![rerun, Recovery::Keep, Recovery::Keep]
    );
}

#[test]
fn stragglers_get_backups_past_the_quantile() {
    let p = RecoverySpec::SpeculateStragglers {
        after: 0.75,
        retries: 0,
    }
    .build();
    // A burst of 8: the 0.75-quantile is the 6th finished time.
    let finished = [1.0, 1.1, 1.2, 1.3, 1.4];
    assert_eq!(p.backup_after(8, &finished), None);
    assert_eq!(
        p.backup_after(8, &[1.0, 1.1, 1.2, 1.3, 1.4, 2.0]),
        Some(2.0)
    );
    assert_eq!(
        p.backup_after(8, &[1.0, 1.1, 1.2, 1.3, 1.4, 2.0, 3.0]),
        Some(2.0)
    );
    // A single function is never a straggler of its own burst.
    assert_eq!(p.backup_after(1, &[]), None);
    // Other policies never ask for backups.
    let rerun = RecoverySpec::RerunFailedWorkers { retries: 2 }.build();
    assert_eq!(rerun.backup_after(8, &finished), None);
}

fn view(cpus: &[u32]) -> ClusterView {
    ClusterView {
        invokers: cpus
            .iter()
            .enumerate()
            .map(|(i, &c)| InvokerView {
                id: i as u32,
                total_cpus: c,
                free_cpus: c,
                user_memory_mb: 1024,
                free_memory_mb: 1024,
                healthy: true,
            })
            .collect(),
    }
}

#[test]
fn reruns_go_elsewhere_when_the_rest_could_hold_them() {
    let v = view(&[4, 2, 2]);
    let away = avoiding(&v, 0, 4);
    assert!(!away.invokers[0].healthy);
    assert!(away.invokers[1].healthy && away.invokers[2].healthy);
    // 5 CPUs can never fit on invokers 1 and 2 (4 CPUs): anywhere, the failed one included.
    assert_eq!(avoiding(&v, 0, 5), v);
    // An invoker id outside the view changes nothing.
    assert_eq!(avoiding(&v, 9, 1), v);
}

proptest! {
    /// A rerun policy re-runs exactly `retries` times, then keeps the failure.
    #[test]
    fn reruns_are_bounded(retries in 0u32..20) {
        let p = RecoverySpec::RerunFailedWorkers { retries }.build();
        let reruns = (0..40).take_while(|&a| p.on_failure(a) != Recovery::Keep).count();
        prop_assert_eq!(reruns as u32, retries);
    }

    /// The backup threshold is one of the finished times, known from ceil(after * n) on.
    #[test]
    fn backup_threshold_is_the_nearest_rank(after in 0.01f64..=1.0, n in 1u32..64, done in 0usize..64) {
        let p = RecoverySpec::SpeculateStragglers { after, retries: 0 }.build();
        let finished: Vec<f64> = (0..done.min(n as usize)).map(|i| i as f64).collect();
        let rank = ((after * n as f64).ceil() as usize).max(1);
        match p.backup_after(n, &finished) {
            Some(t) => {
                prop_assert!(finished.len() >= rank);
                prop_assert_eq!(t, finished[rank - 1]);
            }
            None => prop_assert!(finished.len() < rank),
        }
    }
}
