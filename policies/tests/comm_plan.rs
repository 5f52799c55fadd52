//! Message-plan invariants for any burst size, pack layout, chunk size and collective: every
//! message delivered exactly once, local exactly when same pack, bytes conserved, broadcast
//! reaching every worker once, the reduce tree correct.

use policies::comm::*;
use proptest::prelude::*;

/// A layout of `n` workers cut into contiguous packs at `cuts`, hosts from `hosts`.
fn layout_strategy() -> impl Strategy<Value = CommLayout> {
    (
        1u32..70,
        prop::collection::vec(any::<bool>(), 70),
        prop::collection::vec(0u32..5, 70),
    )
        .prop_map(|(n, cuts, hosts)| {
            let mut packs = Vec::new();
            let mut first = 0;
            for w in 1..=n {
                if w == n || cuts[w as usize] {
                    packs.push((first, w - first, hosts[packs.len()]));
                    first = w;
                }
            }
            CommLayout::from_packs(packs).unwrap()
        })
}

fn collective_strategy(n: u32) -> impl Strategy<Value = Collective> {
    let bytes = 0u64..5_000_000;
    let root = 0..n;
    prop_oneof![
        // Send patterns need 2 workers: a lone worker gets an (empty) all-to-all instead.
        (bytes.clone(), any::<bool>()).prop_map(move |(b, ring)| {
            if n >= 2 {
                Collective::Send(Send {
                    bytes: ByteSize(b),
                    pattern: Some(if ring { Pattern::Ring } else { Pattern::Halves }),
                    pairs: vec![],
                })
            } else {
                Collective::AllToAll(AllToAll {
                    bytes_per_pair: ByteSize(b),
                })
            }
        }),
        (root.clone(), bytes.clone()).prop_map(|(root, b)| Collective::Broadcast(Broadcast {
            root,
            bytes: ByteSize(b)
        })),
        (root.clone(), bytes.clone()).prop_map(|(root, b)| Collective::Scatter(Scatter {
            root,
            bytes_per_worker: ByteSize(b)
        })),
        (root.clone(), bytes.clone()).prop_map(|(root, b)| Collective::Gather(Gather {
            root,
            bytes_per_worker: ByteSize(b)
        })),
        bytes.clone().prop_map(|b| Collective::AllToAll(AllToAll {
            bytes_per_pair: ByteSize(b)
        })),
        (root, bytes.clone()).prop_map(|(root, b)| Collective::Reduce(Reduce {
            root,
            bytes: ByteSize(b)
        })),
        bytes.prop_map(|b| Collective::Allreduce(Allreduce { bytes: ByteSize(b) })),
    ]
}

fn case() -> impl Strategy<Value = (CommLayout, Collective, u64)> {
    layout_strategy().prop_flat_map(|layout| {
        let n = layout.workers();
        (
            Just(layout),
            collective_strategy(n),
            prop_oneof![Just(0u64), Just(1000), Just(1 << 20), 1u64..3_000_000],
        )
    })
}

/// Structural checks every plan passes.
fn check_structure(
    plan: &MessagePlan,
    layout: &CommLayout,
    chunk: u64,
) -> Result<(), TestCaseError> {
    let n = layout.workers();
    for (i, t) in plan.transfers().iter().enumerate() {
        prop_assert!(
            t.src < n && t.dst < n && t.src != t.dst,
            "transfer {i}: {t:?}"
        );
        // Local exactly when same pack.
        prop_assert_eq!(t.route == Route::Local, layout.same_pack(t.src, t.dst));
        let chunks = if t.is_remote() {
            chunk_count(t.bytes, chunk)
        } else {
            1
        };
        prop_assert_eq!(t.chunks, chunks);
        let sum: u64 = (0..t.chunks).map(|c| t.chunk_bytes(c, chunk)).sum();
        prop_assert_eq!(sum, t.bytes, "chunks carry the payload");
        if let Some(u) = t.fanout_of {
            let up = plan.transfers()[u as usize];
            prop_assert!(
                up.uploads() && up.src == t.src && up.bytes == t.bytes && (u as usize) < i
            );
            prop_assert!(plan.fanouts_of(u as usize).contains(&(i as u32)));
        }
        for &d in plan.after(i) {
            // A dependency is delivered to the sender, and comes earlier: the plan order is
            // an execution order and there is no cycle.
            prop_assert!((d as usize) < i);
            prop_assert_eq!(plan.transfers()[d as usize].dst, t.src);
            prop_assert!(plan.dependents_of(d as usize).contains(&(i as u32)));
        }
        prop_assert!(plan.sends_of(t.src).contains(&(i as u32)));
        prop_assert!(plan.receives_of(t.dst).contains(&(i as u32)));
    }
    let sends: usize = (0..n).map(|w| plan.sends_of(w).len()).sum();
    let receives: usize = (0..n).map(|w| plan.receives_of(w).len()).sum();
    prop_assert_eq!(sends, plan.transfers().len());
    prop_assert_eq!(receives, plan.transfers().len());
    let total: u64 = plan.transfers().iter().map(|t| t.bytes).sum();
    prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), total);
    Ok(())
}

/// Executes the plan in order on data: each worker starts with a one-hot contribution vector;
/// a transfer carries its source's current vector, which must be final (everything the source
/// receives is among the transfer's dependencies). `combine` says how the destination merges.
fn run_values(
    plan: &MessagePlan,
    n: u32,
    init: impl Fn(u32) -> Vec<u32>,
    combine: bool,
) -> Result<Vec<Vec<u32>>, TestCaseError> {
    let mut value: Vec<Vec<u32>> = (0..n).map(&init).collect();
    let mut delivered = vec![false; plan.transfers().len()];
    for (i, t) in plan.transfers().iter().enumerate() {
        for &r in plan.receives_of(t.src) {
            // Everything the sender receives in this collective came before it sends (as a
            // dependency), or comes from a transfer it is not waiting for (none in our plans).
            prop_assert!(
                plan.after(i).contains(&r),
                "transfer {i} sent before its source received {r}"
            );
            prop_assert!(delivered[r as usize]);
        }
        let carried = value[t.src as usize].clone();
        let dst = &mut value[t.dst as usize];
        if combine {
            for (a, b) in dst.iter_mut().zip(&carried) {
                *a += b;
            }
        } else {
            *dst = carried;
        }
        prop_assert!(!delivered[i], "delivered twice");
        delivered[i] = true;
    }
    prop_assert!(delivered.iter().all(|&d| d));
    Ok(value)
}

fn one_hot(n: u32) -> impl Fn(u32) -> Vec<u32> {
    move |w| (0..n).map(|k| (k == w) as u32).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn plans_deliver_every_message_once_and_conserve_bytes((layout, collective, chunk) in case()) {
        let plan = MessagePlan::new(&collective, &layout, chunk).unwrap();
        check_structure(&plan, &layout, chunk)?;
        let n = layout.workers();
        let nn = n as u64;
        let t = plan.transfers();
        let mut pairs: Vec<(u32, u32)> = t.iter().map(|t| (t.src, t.dst)).collect();
        pairs.sort_unstable();
        let received = |w: u32| t.iter().filter(|t| t.dst == w).count();
        match &collective {
            Collective::Send(s) => {
                let mut want = Collective::send_pairs(s, n);
                want.sort_unstable();
                prop_assert_eq!(&pairs, &want);
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), want.len() as u64 * s.bytes.0);
            }
            Collective::Broadcast(b) => {
                // Every worker but the root receives the payload exactly once, from the root
                // or from its pack leader after the leader got it.
                for w in 0..n {
                    prop_assert_eq!(received(w), (w != b.root) as usize);
                }
                let has = run_values(&plan, n, |w| vec![(w == b.root) as u32], false)?;
                prop_assert!(has.iter().all(|v| v[0] == 1), "broadcast reaches every worker");
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), (nn - 1) * b.bytes.0);
                let uploads = t.iter().filter(|t| t.uploads()).count();
                prop_assert_eq!(uploads, (layout.packs().len() > 1) as usize, "one upload");
                prop_assert_eq!(t.iter().filter(|t| t.is_remote()).count(), layout.packs().len() - 1);
            }
            Collective::Scatter(s) => {
                let mut want: Vec<_> = (0..n).filter(|&d| d != s.root).map(|d| (s.root, d)).collect();
                want.sort_unstable();
                prop_assert_eq!(&pairs, &want);
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), (nn - 1) * s.bytes_per_worker.0);
            }
            Collective::Gather(g) => {
                let mut want: Vec<_> = (0..n).filter(|&s| s != g.root).map(|s| (s, g.root)).collect();
                want.sort_unstable();
                prop_assert_eq!(&pairs, &want);
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), (nn - 1) * g.bytes_per_worker.0);
            }
            Collective::AllToAll(a) => {
                let want: Vec<_> = (0..n).flat_map(|s| (0..n).filter(move |&d| d != s).map(move |d| (s, d))).collect();
                prop_assert_eq!(&pairs, &want);
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), nn * (nn - 1) * a.bytes_per_pair.0);
            }
            Collective::Reduce(r) => {
                // Every non-root sends exactly once; every contribution reaches the root once.
                for w in 0..n {
                    let sent = t.iter().filter(|t| t.src == w).count();
                    prop_assert_eq!(sent, (w != r.root) as usize);
                }
                let v = run_values(&plan, n, one_hot(n), true)?;
                prop_assert!(v[r.root as usize].iter().all(|&c| c == 1), "root has each contribution once: {:?}", v[r.root as usize]);
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), (nn - 1) * r.bytes.0);
                let levels = if n > 1 { 32 - (n - 1).leading_zeros() } else { 0 };
                prop_assert!(received(r.root) as u32 <= levels);
            }
            Collective::Allreduce(a) => {
                // Reduce part (towards lower ids) then broadcast part (towards higher ids).
                let mut value: Vec<Vec<u32>> = (0..n).map(one_hot(n)).collect();
                for (i, tr) in t.iter().enumerate() {
                    let carried = value[tr.src as usize].clone();
                    if tr.dst < tr.src {
                        for (x, y) in value[tr.dst as usize].iter_mut().zip(&carried) { *x += y; }
                    } else {
                        // A broadcast transfer carries the complete result.
                        prop_assert!(carried.iter().all(|&c| c == 1), "transfer {i} carries an incomplete result");
                        // ... and waits for it: the root for every reduce delivery, a leader for
                        // the broadcast it forwards.
                        let deps = plan.after(i);
                        if tr.src == 0 {
                            for &r in plan.receives_of(0) {
                                prop_assert!(deps.contains(&r));
                            }
                        } else {
                            prop_assert!(deps.iter().any(|&d| t[d as usize].src < tr.src));
                        }
                        value[tr.dst as usize] = carried;
                    }
                }
                prop_assert!(value.iter().all(|v| v.iter().all(|&c| c == 1)), "every worker ends with the full result");
                prop_assert_eq!(plan.bytes_local() + plan.bytes_remote(), 2 * (nn - 1) * a.bytes.0);
            }
        }
    }
}

#[test]
fn reduce_with_packs_of_a_power_of_two_keeps_the_first_levels_local() {
    // N = 64, G = 8, root 0: 56 local transfers (levels 0..2) and 7 remote ones.
    let layout = CommLayout::direct(64, 8);
    let r = Collective::Reduce(Reduce {
        root: 0,
        bytes: ByteSize(1),
    });
    let plan = MessagePlan::new(&r, &layout, 0).unwrap();
    let remote = plan.transfers().iter().filter(|t| t.is_remote()).count();
    assert_eq!((plan.transfers().len() - remote, remote), (56, 7));
}

#[test]
fn faas_layout_sends_everything_through_the_backend() {
    let layout = CommLayout::one_worker_per_pack(&[0, 0, 1, 1]);
    let a = Collective::AllToAll(AllToAll {
        bytes_per_pair: ByteSize(10),
    });
    let plan = MessagePlan::new(&a, &layout, 0).unwrap();
    assert!(plan.transfers().iter().all(|t| t.is_remote()));
    assert_eq!(plan.bytes_remote(), 120);
}
