//! Float-to-integer roundings for the hot paths, equal to `x.round() as u64` and
//! `x.ceil() as u64` for every `x` (NaN and negatives give 0, huge values saturate) but without
//! the libm call that `round` and `ceil` compile to on baseline x86-64 (no SSE4.1): below 2^52
//! the integer part is a truncating conversion and the fraction `x - trunc(x)` is exact; from
//! 2^52 on every double is an integer.

/// Doubles at or above this are integers.
const INTEGRAL: f64 = 4_503_599_627_370_496.0; // 2^52

/// `x.round() as u64` (halves away from zero).
#[inline]
pub(crate) fn round_u64(x: f64) -> u64 {
    if x < INTEGRAL {
        // Signed conversions are single instructions on x86-64, unsigned ones are not.
        if x <= 0.0 {
            return 0;
        }
        let i = x as i64;
        (i + i64::from(x - i as f64 >= 0.5)) as u64
    } else {
        x as u64
    }
}

/// `x.ceil() as u64`.
#[inline]
pub(crate) fn ceil_u64(x: f64) -> u64 {
    if x < INTEGRAL {
        if x <= 0.0 {
            return 0;
        }
        let i = x as i64;
        (i + i64::from((i as f64) < x)) as u64
    } else {
        x as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(x: f64) {
        assert_eq!(
            round_u64(x),
            x.round() as u64,
            "round {x:e} ({:#x})",
            x.to_bits()
        );
        assert_eq!(
            ceil_u64(x),
            x.ceil() as u64,
            "ceil {x:e} ({:#x})",
            x.to_bits()
        );
    }

    #[test]
    fn edges_equal_std() {
        let two52 = INTEGRAL;
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            0.49999999999999994,
            1.5,
            2.5,
            1e-300,
            -1.5,
            two52,
            two52 - 0.5,
            two52 + 1.0,
            two52 * 2.0 - 1.0,
            u64::MAX as f64,
            1e30,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
        ] {
            check(x);
            check(f64::from_bits(x.to_bits().wrapping_add(1)));
            check(f64::from_bits(x.to_bits().wrapping_sub(1)));
        }
    }

    proptest! {
        #[test]
        fn any_double_equals_std(bits in any::<u64>()) {
            check(f64::from_bits(bits));
        }

        #[test]
        fn nanosecond_scale_equals_std(x in 0.0f64..1e13, scale in prop::sample::select(vec![1.0, 1e9, 1.0 / 3.0])) {
            check(x * scale);
        }
    }
}
