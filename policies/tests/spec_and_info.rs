//! Policy specs (TOML, Display, FromStr) and the burst-info payload.

use std::str::FromStr;

use policies::{BurstInfo, ContainerPlacement, PlacementPlan, PolicySpec};
use proptest::prelude::*;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    policy: PolicySpec,
}

fn from_toml(body: &str) -> Result<PolicySpec, String> {
    toml::from_str::<Config>(&format!("[policy]\n{body}"))
        .map(|c| c.policy)
        .map_err(|e| e.to_string())
}

fn all_specs() -> Vec<PolicySpec> {
    vec![
        PolicySpec::faas(),
        PolicySpec::BurstHomogeneous {
            granularity: 6,
            join: false,
        },
        PolicySpec::BurstHomogeneous {
            granularity: 1,
            join: true,
        },
        PolicySpec::BurstHeterogeneous { join: true },
        PolicySpec::BurstHeterogeneous { join: false },
        PolicySpec::BurstBestFit,
        PolicySpec::BurstRoundRobin { granularity: 4 },
    ]
}

#[test]
fn every_spec_parses_from_toml() {
    let cases = [
        ("name = \"faas\"", PolicySpec::faas()),
        (
            "name = \"burst-homogeneous\"\ngranularity = 6",
            PolicySpec::BurstHomogeneous {
                granularity: 6,
                join: false,
            },
        ),
        (
            "name = \"burst-homogeneous\"\ngranularity = 2\njoin = true",
            PolicySpec::BurstHomogeneous {
                granularity: 2,
                join: true,
            },
        ),
        (
            "name = \"burst-heterogeneous\"",
            PolicySpec::BurstHeterogeneous { join: true },
        ),
        (
            "name = \"burst-heterogeneous\"\njoin = false",
            PolicySpec::BurstHeterogeneous { join: false },
        ),
        ("name = \"burst-best-fit\"", PolicySpec::BurstBestFit),
        (
            "name = \"burst-round-robin\"\ngranularity = 3",
            PolicySpec::BurstRoundRobin { granularity: 3 },
        ),
    ];
    for (body, want) in cases {
        assert_eq!(from_toml(body).unwrap(), want, "{body}");
    }
}

#[test]
fn toml_errors_name_the_problem() {
    let e = from_toml("name = \"burst-homogeneous\"").unwrap_err();
    assert!(e.contains("granularity"), "{e}");
    let e = from_toml("name = \"burst-best-fit\"\ngranularity = 2").unwrap_err();
    assert!(e.contains("granularity"), "{e}");
    let e = from_toml("name = \"spread\"").unwrap_err();
    assert!(e.contains("spread"), "{e}");
    let spec = from_toml("name = \"burst-round-robin\"\ngranularity = 0").unwrap();
    let e = spec.validate().unwrap_err();
    assert_eq!(e.path, "granularity");
    assert_eq!(e.message(), "expected an integer >= 1, got 0");
}

#[test]
fn display_round_trips() {
    for spec in all_specs() {
        let shown = spec.to_string();
        assert_eq!(PolicySpec::from_str(&shown), Ok(spec.clone()), "{shown}");
        // Display is also valid TOML once the braces become top-level keys.
        let body = match shown.split_once('{') {
            Some((name, rest)) => format!(
                "name = \"{}\"\n{}",
                name.trim(),
                rest.trim_end_matches('}').replace(',', "\n")
            ),
            None => format!("name = \"{shown}\""),
        };
        assert_eq!(from_toml(&body).unwrap(), spec, "{body}");
    }
    assert_eq!(
        PolicySpec::BurstHomogeneous {
            granularity: 6,
            join: false
        }
        .to_string(),
        "burst-homogeneous { granularity = 6, join = false }"
    );
}

#[test]
fn from_str_defaults_and_errors() {
    assert_eq!(
        "burst-homogeneous { granularity = 6 }".parse(),
        Ok(PolicySpec::BurstHomogeneous {
            granularity: 6,
            join: false
        })
    );
    assert_eq!(
        "burst-heterogeneous".parse(),
        Ok(PolicySpec::BurstHeterogeneous { join: true })
    );
    assert_eq!(" faas ".parse(), Ok(PolicySpec::faas()));
    for bad in [
        "",
        "burst-homogeneous",
        "burst-homogeneous { granularity = 0 }",
        "burst-homogeneous { granularity = -1 }",
        "burst-homogeneous { granularity = 6, size = 2 }",
        "burst-best-fit { granularity = 2 }",
        "nope",
        "faas {",
        "Faas",
        "burst-homogeneous { granularity = 6 } trailing",
    ] {
        let r = PolicySpec::from_str(bad);
        assert!(r.is_err(), "`{bad}` parsed as {r:?}");
    }
}

fn plan(containers: &[(u32, u32, u32)]) -> PlacementPlan {
    PlacementPlan {
        containers: containers
            .iter()
            .map(|&(invoker, first_worker, workers)| ContainerPlacement {
                invoker,
                first_worker,
                workers,
            })
            .collect(),
        overloaded: false,
    }
}

#[test]
fn burst_info_payload() {
    let info = BurstInfo::from_plan(5, &plan(&[(0, 0, 10), (3, 10, 2), (0, 12, 1)]), &[7, 8, 9]);
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(
        json,
        r#"{"invoker0":{"container7":[0,9],"container9":[12,12]},"invoker3":{"container8":[10,11]}}"#
    );
    let back: BurstInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back,
        BurstInfo {
            burst_id: 0,
            ..info.clone()
        }
    );
    assert_eq!(back.locate(11), Some((3, 8)));
    assert_eq!(back.locate(13), None);
    assert_eq!(back.containers(), 3);
}

#[test]
fn burst_info_rejects_bad_payloads() {
    for bad in [
        r#"{"inv0":{"container0":[0,1]}}"#,
        r#"{"invoker01":{"container0":[0,1]}}"#,
        r#"{"invoker-1":{"container0":[0,1]}}"#,
        r#"{"invoker0":{"c0":[0,1]}}"#,
        r#"{"invoker0":{"container0":[3,1]}}"#,
        r#"{"invoker0":{"container0":[0]}}"#,
        r#"{"invoker0":[0,1]}"#,
    ] {
        let r = serde_json::from_str::<BurstInfo>(bad);
        assert!(r.is_err(), "{bad} parsed as {r:?}");
    }
    let e = serde_json::from_str::<BurstInfo>(r#"{"invoker0":{"container0":[3,1]}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invoker0.container0"), "{e}");
}

proptest! {
    #[test]
    fn burst_info_round_trips(sizes in prop::collection::vec((0u32..50, 1u32..20), 1..30), base: u32) {
        let mut next = 0;
        let containers: Vec<(u32, u32, u32)> = sizes.iter().map(|&(inv, w)| {
            let c = (inv, next, w);
            next += w;
            c
        }).collect();
        let ids: Vec<u64> = (0..containers.len() as u64).map(|i| base as u64 + i).collect();
        let info = BurstInfo::from_plan(0, &plan(&containers), &ids);
        let back: BurstInfo = serde_json::from_str(&serde_json::to_string(&info).unwrap()).unwrap();
        prop_assert_eq!(&back, &info);
        for &(inv, first, w) in &containers {
            let (i, _) = back.locate(first + w - 1).unwrap();
            prop_assert_eq!(i, inv);
        }
    }
}
