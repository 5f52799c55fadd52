//! What live messages carry: deterministic pseudo-random bytes (the same for a seed on every
//! run), checksums, and the reduction of partial results.
//!
//! A payload is a stream of little-endian 64-bit lanes, lane i being a hash of the stream key
//! and i (a tail shorter than 8 bytes is the low bytes of one more lane). A reduce contribution
//! is a *scaled* stream: lane i of worker w is `base[i] * a_w` (wrapping), and partial results
//! combine by lane-wise wrapping addition. Multiplication distributes over that addition, so
//! the sum of every contribution is `base[i] * sum(a_w)`: the root of a reduce checks the
//! whole tree's result in one pass without regenerating N payloads.

/// The 64-bit golden-ratio increment of splitmix64.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// splitmix64's finaliser: a bijective mix of one word.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stream key from its parts (seed, step, what, id...), order-sensitive.
pub fn key(parts: &[u64]) -> u64 {
    parts.iter().fold(0x6275_7273_7473_696d, |acc, &p| {
        mix(acc ^ mix(p.wrapping_add(GOLDEN)))
    })
}

fn lane(key: u64, i: u64) -> u64 {
    mix(key.wrapping_add(i.wrapping_mul(GOLDEN)))
}

/// Fills `buf` with the stream `key`, every lane multiplied by `scale` (1: the plain stream).
pub fn fill_scaled(key: u64, scale: u64, buf: &mut [u8]) {
    let mut lanes = buf.chunks_exact_mut(8);
    let mut i = 0u64;
    for out in &mut lanes {
        out.copy_from_slice(&lane(key, i).wrapping_mul(scale).to_le_bytes());
        i += 1;
    }
    let tail = lanes.into_remainder();
    if !tail.is_empty() {
        let bytes = lane(key, i).wrapping_mul(scale).to_le_bytes();
        tail.copy_from_slice(&bytes[..tail.len()]);
    }
}

/// `len` bytes of the stream `key`.
pub fn generate(key: u64, len: usize) -> Vec<u8> {
    scaled(key, 1, len)
}

/// `len` bytes of the stream `key` scaled by `scale`.
pub fn scaled(key: u64, scale: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_scaled(key, scale, &mut v);
    v
}

/// The scale of worker `w`'s reduce contribution (odd, so no contribution is all zeros).
pub fn contribution_scale(step_key: u64, w: u32) -> u64 {
    mix(step_key ^ mix(w as u64 + 1)) | 1
}

/// Adds `other` into `acc` lane by lane (wrapping); a tail is added as one little-endian
/// integer of its length. Both must have the same length.
pub fn add_into(acc: &mut [u8], other: &[u8]) -> Result<(), String> {
    if acc.len() != other.len() {
        return Err(format!(
            "cannot combine partial results of {} and {} bytes",
            acc.len(),
            other.len()
        ));
    }
    let mut a = acc.chunks_exact_mut(8);
    let mut b = other.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        let s = u64::from_le_bytes((*x).try_into().expect("8 bytes"))
            .wrapping_add(u64::from_le_bytes(y.try_into().expect("8 bytes")));
        x.copy_from_slice(&s.to_le_bytes());
    }
    let (ta, tb) = (a.into_remainder(), b.remainder());
    if !ta.is_empty() {
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x[..ta.len()].copy_from_slice(ta);
        y[..tb.len()].copy_from_slice(tb);
        let s = u64::from_le_bytes(x).wrapping_add(u64::from_le_bytes(y));
        let n = ta.len();
        ta.copy_from_slice(&s.to_le_bytes()[..n]);
    }
    Ok(())
}

/// The first byte where `data` differs from the stream `key` scaled by `scale`, if any.
pub fn first_difference(key: u64, scale: u64, data: &[u8]) -> Option<usize> {
    let mut i = 0u64;
    let mut lanes = data.chunks_exact(8);
    for got in &mut lanes {
        let want = lane(key, i).wrapping_mul(scale).to_le_bytes();
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            return Some(i as usize * 8 + at);
        }
        i += 1;
    }
    let tail = lanes.remainder();
    let want = lane(key, i).wrapping_mul(scale).to_le_bytes();
    tail.iter()
        .zip(&want)
        .position(|(a, b)| a != b)
        .map(|at| i as usize * 8 + at)
}

/// CRC-32 (IEEE) of `data`: what every chunk carries and its receiver recomputes.
pub fn checksum(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_key_sensitive() {
        let a = generate(key(&[1, 2, 3]), 1001);
        assert_eq!(a, generate(key(&[1, 2, 3]), 1001));
        assert_ne!(a, generate(key(&[1, 2, 4]), 1001));
        assert_ne!(key(&[1, 2]), key(&[2, 1]));
        // Not constant: a pseudo-random stream.
        assert!(a.iter().filter(|&&b| b == a[0]).count() < 50);
        // A prefix of a longer stream.
        assert_eq!(&generate(key(&[1, 2, 3]), 2000)[..1001], &a[..]);
    }

    #[test]
    fn contributions_sum_to_the_scaled_base() {
        let base = key(&[7, 3]);
        for len in [0usize, 5, 8, 1003, 4096] {
            let mut acc = vec![0u8; len];
            let mut total = 0u64;
            for w in 0..5u32 {
                let s = contribution_scale(base, w);
                total = total.wrapping_add(s);
                add_into(&mut acc, &scaled(base, s, len)).unwrap();
            }
            assert_eq!(first_difference(base, total, &acc), None, "len {len}");
            if len > 0 {
                acc[len - 1] ^= 1;
                assert_eq!(first_difference(base, total, &acc), Some(len - 1));
            }
        }
        assert!(add_into(&mut [0u8; 3], &[0u8; 4]).is_err());
    }

    #[test]
    fn checksum_sees_a_flipped_bit() {
        let mut a = generate(7, 1 << 16);
        let c = checksum(&a);
        a[12345] ^= 0x10;
        assert_ne!(c, checksum(&a));
    }
}
