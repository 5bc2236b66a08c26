//! gRPC's length-prefixed messages: a one-byte compression flag, a four-byte
//! big-endian length, then the message.

use bytes::Bytes;

/// Why a body could not be split into messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NotFramed {
    /// A message is compressed; it is not decompressed here.
    Compressed,
    /// The body is not a sequence of gRPC messages.
    Malformed,
}

/// The messages of a gRPC body. A body cut at `max_body_bytes`
/// (`truncated`) ends with part of a message, which is left out.
pub(super) fn messages(body: &Bytes, truncated: bool) -> Result<Vec<Bytes>, NotFramed> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        let Some(prefix) = rest.get(..5) else {
            return if truncated {
                Ok(out)
            } else {
                Err(NotFramed::Malformed)
            };
        };
        match prefix[0] {
            0 => {}
            1 => return Err(NotFramed::Compressed),
            _ => return Err(NotFramed::Malformed),
        }
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        let start = at + 5;
        if body.len() - start < len {
            return if truncated {
                Ok(out)
            } else {
                Err(NotFramed::Malformed)
            };
        }
        out.push(body.slice(start..start + len));
        at = start + len;
    }
    Ok(out)
}

#[cfg(test)]
pub(super) fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_messages_and_drops_a_cut_tail() {
        let mut body = frame(b"ab");
        body.extend(frame(b""));
        body.extend(frame(b"cde"));
        let body = Bytes::from(body);
        let all = messages(&body, false).unwrap();
        assert_eq!(all, vec!["ab", "", "cde"]);

        let cut = body.slice(..body.len() - 1);
        assert_eq!(messages(&cut, false), Err(NotFramed::Malformed));
        assert_eq!(messages(&cut, true).unwrap(), vec!["ab", ""]);
        let cut_prefix = body.slice(..9);
        assert_eq!(messages(&cut_prefix, true).unwrap(), vec!["ab"]);
        assert_eq!(messages(&cut_prefix, false), Err(NotFramed::Malformed));
    }

    #[test]
    fn refuses_compressed_and_unknown_flags() {
        let mut compressed = frame(b"x");
        compressed[0] = 1;
        assert_eq!(
            messages(&Bytes::from(compressed), false),
            Err(NotFramed::Compressed)
        );
        assert_eq!(
            messages(&Bytes::from_static(b"{\"json\": true}"), false),
            Err(NotFramed::Malformed)
        );
        assert_eq!(messages(&Bytes::new(), false).unwrap(), Vec::<Bytes>::new());
    }
}
