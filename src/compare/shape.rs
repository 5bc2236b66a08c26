use super::json::number;
use super::json::parse::Node;
use serde::{Deserialize, Serialize};

/// What a value must look like, when its exact value does not matter.
///
/// A shape rule ([`JsonComparator::shape`](super::JsonComparator::shape))
/// makes two values at a path equal when both have the shape (or when they
/// are equal anyway): a fresh UUID or timestamp on each side passes, a
/// missing one, a `null` or a malformed one is still reported.
///
/// In a serde config a shape is its name in snake case: `"uuid"`,
/// `"rfc3339"`, `"number"`...
///
/// ```
/// use tower_shadow::compare::{JsonComparator, Shape};
///
/// let comparator = JsonComparator::new()
///     .shape("/id", Shape::Uuid)
///     .shape("/created_at", Shape::Rfc3339)
///     .shape("/items/*/etag", Shape::String);
/// # let _ = comparator;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Shape {
    /// Any value at all (only presence counts).
    Any,
    /// Any string.
    String,
    /// Any number.
    Number,
    /// Any integral number (`3`, `3.0`, `3e2`; not `3.5`).
    Integer,
    /// `true` or `false`.
    Bool,
    /// A string holding a UUID in its 8-4-4-4-12 hexadecimal form, any case.
    Uuid,
    /// A string holding an RFC 3339 timestamp
    /// (`2024-02-29T23:59:60.5+01:00`, `...Z`), range-checked.
    Rfc3339,
}

impl Shape {
    /// Whether a parsed JSON value has this shape.
    pub(crate) fn matches(self, node: &Node<'_>) -> bool {
        match (self, node) {
            (Self::Any, _) => true,
            (Self::String, Node::String(_)) => true,
            (Self::Number, Node::Number(_)) => true,
            (Self::Integer, Node::Number(n)) => number::is_integer(n),
            (Self::Bool, Node::Bool(_)) => true,
            (Self::Uuid, Node::String(s)) => is_uuid(&s.decode()),
            (Self::Rfc3339, Node::String(s)) => is_rfc3339(&s.decode()),
            _ => false,
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    let (Some(year), Some(month), Some(day)) = (num(0, 4), num(5, 2), num(8, 2)) else {
        return false;
    };
    let (Some(hour), Some(minute), Some(second)) = (num(11, 2), num(14, 2), num(17, 2)) else {
        return false;
    };
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += 1 + digits;
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && at(i + 3, b":")
                && num(i + 1, 2).is_some_and(|h| h <= 23)
                && num(i + 4, 2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::json::parse::parse;

    fn matches(shape: Shape, json: &str) -> bool {
        let tape = parse(json.as_bytes(), 8).unwrap();
        shape.matches(&tape.nodes[0])
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
        assert!(!is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-4266141740001"));
        assert!(matches(
            Shape::Uuid,
            r#""123e4567-e89b-12d3-a456-426614174000""#
        ));
        assert!(matches(
            Shape::Uuid,
            r#""\u0031\u0032\u0033e4567-e89b-12d3-a456-426614174000""#
        ));
        assert!(!matches(Shape::Uuid, "12"));
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2024-01-31T10:20:30Z",
            "2024-02-29T23:59:60.123456+01:00",
            "1999-12-31t00:00:00z",
            "2023-06-30T12:00:00-07:30",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2023-02-29T10:20:30Z",
            "2024-13-01T10:20:30Z",
            "2024-01-31 10:20:30Z",
            "2024-01-31T24:00:00Z",
            "2024-01-31T10:20:30",
            "2024-01-31T10:20:30.Z",
            "2024-01-31T10:20:30+0100",
            "2024-01-31T10:20:30Zx",
            "2024-1-31T10:20:30Z",
            "",
            "2024-01-31T10:20:30+01:60",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn kinds() {
        assert!(matches(Shape::Any, "null") && matches(Shape::Any, "{}"));
        assert!(matches(Shape::String, r#""""#) && !matches(Shape::String, "1"));
        assert!(matches(Shape::Number, "-1.5e3") && !matches(Shape::Number, r#""1""#));
        assert!(!matches(Shape::Integer, "15e-1") && matches(Shape::Integer, "1.50e1"));
        assert!(matches(Shape::Bool, "false") && !matches(Shape::Bool, "null"));
        assert_eq!(
            serde_json::to_string(&Shape::Rfc3339).unwrap(),
            r#""rfc3339""#
        );
        assert_eq!(
            serde_json::from_str::<Shape>(r#""uuid""#).unwrap(),
            Shape::Uuid
        );
    }
}
