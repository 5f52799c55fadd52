//! Sizes and rates as config files write them: a plain number (bytes, bytes per second) or a
//! string with a unit (`"64 MiB"`, `"1.5 GB"`, `"12.5 Gbps"`, `"419 MiB/s"`).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes: an integer, or a string with a decimal (`kB`, `MB`, `GB`, `TB`) or binary
/// (`KiB`, `MiB`, `GiB`, `TiB`) unit, or `B`. Fractions are allowed with a unit and rounded to
/// whole bytes (`"1.5 KiB"` is 1536).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

/// A data rate in bytes per second: a number, or a string `"<size>/s"` (`"419 MiB/s"`,
/// `"1 GB/s"`) or in bits per second (`"12.5 Gbps"`, `"100 Mbps"`, `"1 kbps"`, decimal units).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Rate(pub f64);

/// Bytes per unit name (case-sensitive, as printed by `Display`; `k`/`K` both accepted).
fn byte_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

/// Bits per second per unit name.
fn bit_rate_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "bps" => 1.0,
        "kbps" | "Kbps" => 1e3,
        "Mbps" => 1e6,
        "Gbps" => 1e9,
        "Tbps" => 1e12,
        _ => return None,
    })
}

/// Splits `"12.5 Gbps"` into (12.5, "Gbps"); the space is optional.
fn number_and_unit(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+'))
        .unwrap_or(s.len());
    // `e` may start a unit (none does today) or an exponent; only digits/sign after it count.
    let (num, unit) = s.split_at(split);
    let value: f64 = num.trim().parse().ok()?;
    Some((value, unit.trim()))
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected a size like 1048576, \"64 KiB\" or \"1.5 GB\", got \"{s}\"");
        let (value, unit) = number_and_unit(s).ok_or_else(bad)?;
        let scale = byte_unit(unit).ok_or_else(bad)?;
        let bytes = value * scale;
        if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
            return Err(bad());
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "expected a rate in bytes/s like 5e8, \"419 MiB/s\" or \"12.5 Gbps\", got \"{s}\""
            )
        };
        let (value, unit) = number_and_unit(s).ok_or_else(bad)?;
        let bytes_per_s = if let Some(size_unit) = unit.strip_suffix("/s") {
            value * byte_unit(size_unit.trim()).ok_or_else(bad)?
        } else if let Some(bits) = bit_rate_unit(unit) {
            value * bits / 8.0
        } else if unit.is_empty() {
            value
        } else {
            return Err(bad());
        };
        if !(bytes_per_s.is_finite() && bytes_per_s > 0.0) {
            return Err(bad());
        }
        Ok(Rate(bytes_per_s))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly (`64 MiB`), else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{} {unit}", self.0 / scale);
            }
        }
        write!(f, "{} B", self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} MiB/s", self.0 / (1024.0 * 1024.0))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of bytes or a size like \"64 MiB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("expected a size >= 0, got {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 {
                    Ok(ByteSize(v as u64))
                } else {
                    Err(E::custom(format!(
                        "expected a whole number of bytes >= 0, got {v}"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate in bytes/s or a string like \"419 MiB/s\" or \"12.5 Gbps\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                if v.is_finite() && v > 0.0 {
                    Ok(Rate(v))
                } else {
                    Err(E::custom(format!("expected a rate > 0 bytes/s, got {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!("1048576".parse::<ByteSize>().unwrap(), ByteSize(1 << 20));
        assert_eq!("64 KiB".parse::<ByteSize>().unwrap(), ByteSize(65536));
        assert_eq!("1.5KiB".parse::<ByteSize>().unwrap(), ByteSize(1536));
        assert_eq!("2 GB".parse::<ByteSize>().unwrap(), ByteSize(2_000_000_000));
        assert_eq!("1 GiB".parse::<ByteSize>().unwrap(), ByteSize(1 << 30));
        assert!("1 GiBs".parse::<ByteSize>().is_err());
        assert!("-1 MiB".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(64 << 20).to_string(), "64 MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 B");
    }

    #[test]
    fn rates_parse_bits_and_bytes() {
        assert_eq!("12.5 Gbps".parse::<Rate>().unwrap(), Rate(12.5e9 / 8.0));
        assert_eq!(
            "419 MiB/s".parse::<Rate>().unwrap(),
            Rate(419.0 * 1048576.0)
        );
        assert_eq!("1 GB/s".parse::<Rate>().unwrap(), Rate(1e9));
        assert_eq!("5e8".parse::<Rate>().unwrap(), Rate(5e8));
        assert!("0 Gbps".parse::<Rate>().is_err());
        assert!("3 furlongs".parse::<Rate>().is_err());
    }

    #[test]
    fn toml_takes_numbers_and_strings() {
        #[derive(Deserialize)]
        struct T {
            a: ByteSize,
            b: ByteSize,
            r: Rate,
            s: Rate,
        }
        let t: T = toml::from_str("a = 4096\nb = \"1 MiB\"\nr = 1e9\ns = \"25 Gbps\"").unwrap();
        assert_eq!((t.a, t.b), (ByteSize(4096), ByteSize(1 << 20)));
        assert_eq!((t.r, t.s), (Rate(1e9), Rate(25e9 / 8.0)));
        let err = toml::from_str::<T>("a = -1\nb = 1\nr = 1\ns = 1")
            .err()
            .unwrap();
        assert!(err.to_string().contains("size >= 0"), "{err}");
    }
}
