//! Durations in configuration files: whole milliseconds (`250`) or a
//! number with a unit (`"250ms"`, `"5s"`, `"2m"`, `"1h"`). Written back in
//! the largest unit that divides them exactly, so they round-trip.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;
use std::time::Duration;

const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// A duration shown as configs write it, for messages.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub(crate) struct Humane(pub(crate) Duration);

impl fmt::Display for Humane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&humane(self.0))
    }
}

/// `d` as configs write it: `"1h"`, `"90s"`, `"250ms"` (whole milliseconds).
pub(crate) fn humane(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (unit, size) = UNITS
        .into_iter()
        .find(|&(_, size)| ms > 0 && ms % size == 0)
        .unwrap_or(("ms", 1));
    format!("{}{unit}", ms / size)
}

/// Parses `"250ms"`, `"5s"`, `"2m"`, `"1h"` or `"250"` (milliseconds).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let unit = unit.trim_start();
    let size = match unit {
        "" => Some(1),
        _ => UNITS.iter().find(|(u, _)| *u == unit).map(|&(_, s)| s),
    };
    match (number.parse::<u64>(), size) {
        (Ok(n), Some(size)) => n
            .checked_mul(size)
            .map(Duration::from_millis)
            .ok_or_else(|| format!("{text:?} is too long")),
        _ => Err(format!(
            "expected a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\" \
             (or whole milliseconds), not {text:?}"
        )),
    }
}

pub(crate) fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humane(*d))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(Millis)
}

struct Millis;

impl Visitor<'_> for Millis {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whole milliseconds or a string such as \"250ms\", \"5s\", \"2m\", \"1h\"")
    }

    fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(ms))
    }

    fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Duration, E> {
        u64::try_from(ms)
            .map(Duration::from_millis)
            .map_err(|_| E::custom(format_args!("a duration must be 0 or more, not {ms}")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse("250ms"), Ok(ms(250)));
        assert_eq!(parse("5s"), Ok(ms(5_000)));
        assert_eq!(parse(" 2 m "), Ok(ms(120_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("40"), Ok(ms(40)));
        assert!(parse("1.5s").is_err());
        assert!(parse("5 sec").unwrap_err().contains("\"5 sec\""));
        assert!(parse("-3s").is_err());
        assert!(parse("99999999999999999999h").is_err());
        assert!(parse("18446744073709551615h")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(humane(ms(0)), "0ms");
        assert_eq!(humane(ms(250)), "250ms");
        assert_eq!(humane(ms(90_000)), "90s");
        assert_eq!(humane(ms(7_200_000)), "2h");
        for d in [0, 1, 999, 1000, 61_000, 3_600_000] {
            assert_eq!(parse(&humane(ms(d))), Ok(ms(d)));
        }
    }
}
