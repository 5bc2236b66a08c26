//! A protobuf message read without its schema, keyed by field number: what
//! the comparison falls back to when no descriptor names the fields.

use base64::Engine;
use serde_json::{Map, Value};

/// How deep nested messages are read; deeper ones are shown as bytes.
const MAX_NESTING: usize = 32;

/// The message as a JSON object from field numbers (as strings) to values;
/// a field that occurs more than once becomes an array. `None` when
/// `bytes` is not a well-formed message.
///
/// Without a schema a length-delimited field is ambiguous; it is read as a
/// string when it is printable UTF-8, else as a nested message when it
/// parses as one, else as text or base64 bytes. Fixed-width fields are
/// read as unsigned integers.
pub(super) fn message(bytes: &[u8]) -> Option<Value> {
    nested(bytes, MAX_NESTING)
}

fn nested(mut bytes: &[u8], depth: usize) -> Option<Value> {
    let mut fields = Map::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return None;
        }
        let value = match key & 7 {
            0 => Value::from(varint(&mut bytes)?),
            1 => Value::from(u64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?)),
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                length_delimited(take(&mut bytes, len)?, depth)
            }
            5 => Value::from(u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?)),
            // Groups (3, 4) are deprecated and not read; 6 and 7 do not exist.
            _ => return None,
        };
        match fields.entry(number.to_string()) {
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
            serde_json::map::Entry::Occupied(mut slot) => match slot.get_mut() {
                Value::Array(values) => values.push(value),
                first => *first = Value::Array(vec![first.take(), value]),
            },
        }
    }
    Some(Value::Object(fields))
}

fn length_delimited(bytes: &[u8], depth: usize) -> Value {
    let text = std::str::from_utf8(bytes).ok();
    if let Some(text) = text.filter(|t| !t.chars().any(char::is_control)) {
        return Value::from(text);
    }
    if let Some(message) = (depth > 0).then(|| nested(bytes, depth - 1)).flatten() {
        return message;
    }
    match text {
        Some(text) => Value::from(text),
        None => Value::from(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_fields_by_number() {
        // 1: 150 (varint), 2: "Ada", 4: "a", 4: "b", 5: {1: "Paris"}, 6: fixed32 7
        let mut bytes = vec![0x08, 0x96, 0x01, 0x12, 3, b'A', b'd', b'a'];
        bytes.extend([0x22, 1, b'a', 0x22, 1, b'b']);
        bytes.extend([0x2a, 7, 0x0a, 5, b'P', b'a', b'r', b'i', b's']);
        bytes.extend([0x35, 7, 0, 0, 0]);
        assert_eq!(
            message(&bytes),
            Some(json!({"1": 150, "2": "Ada", "4": ["a", "b"], "5": {"1": "Paris"}, "6": 7}))
        );
        assert_eq!(message(&[]), Some(json!({})));
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        assert_eq!(message(&[0x08]), None, "a varint cut short");
        assert_eq!(message(&[0x12, 5, b'a']), None, "a length past the end");
        assert_eq!(message(&[0x00, 1]), None, "field number zero");
        assert_eq!(message(&[0x0b]), None, "a group");
        let mut endless = vec![0x08];
        endless.extend([0xff; 11]);
        assert_eq!(message(&endless), None, "a varint over ten bytes");
    }

    #[test]
    fn unreadable_bytes_fall_back_to_base64() {
        assert_eq!(
            message(&[0x0a, 2, 0xff, 0x00]),
            Some(json!({"1": base64::engine::general_purpose::STANDARD.encode([0xff, 0])}))
        );
    }
}
