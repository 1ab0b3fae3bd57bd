//! Byte sizes in configuration: an integer number of bytes or a string with a unit (`"500 GB"`, `"1.5 TiB"`).

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A size in bytes. In TOML either an integer (bytes) or a string with a decimal (`kB`, `MB`, `GB`, `TB`) or
/// binary (`KiB`, `MiB`, `GiB`, `TiB`) unit, e.g. `"500 GB"`, `"1.5TiB"`, `"750MB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    pub fn bytes(&self) -> u64 {
        self.0
    }

    /// Parses `"500 GB"`, `"1.5 TiB"`, `"1024"`, `"10 B"`; the unit is case-insensitive except that a
    /// lowercase-`b` suffix is still bytes (nobody configures disks in bits).
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number = number.replace('_', "");
        let unit = unit.trim();
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "t" | "tb" => 1_000_000_000_000,
            "ki" | "kib" => 1 << 10,
            "mi" | "mib" => 1 << 20,
            "gi" | "gib" => 1 << 30,
            "ti" | "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "invalid byte size {text:?}: unknown unit {unit:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)"
                ));
            }
        };
        if number.is_empty() {
            return Err(format!(
                "invalid byte size {text:?}: expected a number with an optional unit, e.g. \"500 GB\""
            ));
        }
        let bytes = if number.contains('.') {
            let value: f64 = number
                .parse()
                .map_err(|_| format!("invalid byte size {text:?}: {number:?} is not a number"))?;
            let bytes = value * multiplier as f64;
            if !bytes.is_finite() || bytes >= u64::MAX as f64 {
                return Err(format!("invalid byte size {text:?}: too large"));
            }
            bytes.round() as u64
        } else {
            let value: u64 = number
                .parse()
                .map_err(|_| format!("invalid byte size {text:?}: {number:?} is not a number"))?;
            value
                .checked_mul(multiplier)
                .ok_or_else(|| format!("invalid byte size {text:?}: too large"))?
        };
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    /// Human-readable with decimal units, e.g. `1.50 TB`, `750.00 MB`, `12 B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("TB", 1_000_000_000_000),
            ("GB", 1_000_000_000),
            ("MB", 1_000_000),
            ("kB", 1_000),
        ];
        for (unit, size) in UNITS {
            if self.0 >= size {
                return write!(f, "{:.2} {unit}", self.0 as f64 / size as f64);
            }
        }
        write!(f, "{} B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ByteSizeVisitor;

        impl Visitor<'_> for ByteSizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a byte size: an integer number of bytes or a string such as \"500 GB\"",
                )
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid byte size {v}: must not be negative")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(ByteSizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(ByteSize::parse("500 GB").unwrap().0, 500_000_000_000);
        assert_eq!(ByteSize::parse("1.5TiB").unwrap().0, 1_649_267_441_664);
        assert_eq!(ByteSize::parse("750mb").unwrap().0, 750_000_000);
        assert_eq!(ByteSize::parse("1_024").unwrap().0, 1024);
        assert_eq!(ByteSize::parse("2 KiB").unwrap().0, 2048);
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            ByteSize::parse("12 XB")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            ByteSize::parse("GB")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            ByteSize::parse("1.2.3 GB")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            ByteSize::parse("99999999999 TB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn displays_decimal_units() {
        assert_eq!(ByteSize(1_500_000_000_000).to_string(), "1.50 TB");
        assert_eq!(ByteSize(12).to_string(), "12 B");
    }
}
