//! Seeded random streams, one per component: the seed of a stream is a hash of the run seed,
//! the component's name and its index, so adding a component (or drawing more from one) never
//! shifts another component's draws. The simulator and the live executor both draw from these
//! streams (e.g. the `workload` stream of a burst), so they see the same inputs for a seed.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// The RNG every component uses.
pub type Rng = Pcg64Mcg;

/// FNV-1a of a name: stable across platforms and Rust versions.
fn fnv1a(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: a good 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stream of component `name` number `index` in a run with `seed`.
pub fn stream(seed: u64, name: &str, index: u64) -> Rng {
    let a = mix(seed ^ mix(fnv1a(name)));
    let b = mix(a ^ mix(index.wrapping_add(0x5851_f42d_4c95_7f2d)));
    let c = mix(b ^ 0x1405_7b7e_f767_814f);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&b.to_le_bytes());
    bytes[8..].copy_from_slice(&c.to_le_bytes());
    Pcg64Mcg::from_seed(bytes)
}

/// The stream of component `name` number `index`, created on its first draw: a consumer that
/// draws nothing (a constant distribution) pays nothing, and one that draws gets exactly the
/// draws of [`stream`].
#[derive(Debug, Clone)]
pub struct LazyStream {
    seed: u64,
    name: &'static str,
    index: u64,
    rng: Option<Rng>,
}

impl LazyStream {
    /// The stream [`stream`]`(seed, name, index)`, not created yet.
    pub fn new(seed: u64, name: &'static str, index: u64) -> Self {
        LazyStream {
            seed,
            name,
            index,
            rng: None,
        }
    }

    #[inline]
    fn get(&mut self) -> &mut Rng {
        let (seed, name, index) = (self.seed, self.name, self.index);
        self.rng.get_or_insert_with(|| stream(seed, name, index))
    }
}

impl rand::RngCore for LazyStream {
    fn next_u32(&mut self) -> u32 {
        self.get().next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.get().next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.get().fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    fn draws(r: &mut Rng) -> Vec<u64> {
        (0..8).map(|_| r.random()).collect()
    }

    #[test]
    fn same_inputs_same_stream() {
        assert_eq!(
            draws(&mut stream(1, "queue", 3)),
            draws(&mut stream(1, "queue", 3))
        );
    }

    #[test]
    fn streams_differ_by_seed_name_and_index() {
        let base = draws(&mut stream(1, "queue", 3));
        assert_ne!(base, draws(&mut stream(2, "queue", 3)));
        assert_ne!(base, draws(&mut stream(1, "invoker", 3)));
        assert_ne!(base, draws(&mut stream(1, "queue", 4)));
    }

    #[test]
    fn a_lazy_stream_draws_what_the_stream_draws() {
        let mut lazy = LazyStream::new(5, "workload", 9);
        let mut eager = stream(5, "workload", 9);
        assert_eq!(
            draws(&mut eager),
            (0..8).map(|_| lazy.random()).collect::<Vec<u64>>()
        );
    }

    #[test]
    fn drawing_from_one_stream_does_not_shift_another() {
        let alone = draws(&mut stream(9, "invoker", 0));
        let mut other = stream(9, "client", 0);
        let _ = draws(&mut other);
        let mut added = stream(9, "new-component", 0);
        let _ = draws(&mut added);
        assert_eq!(alone, draws(&mut stream(9, "invoker", 0)));
    }
}
