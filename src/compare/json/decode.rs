//! Content codings (`Content-Encoding`) undone before bodies are compared,
//! so two gzip-compressed JSON answers are compared value by value, not as
//! opaque bytes.

use crate::exchange::Exchange;
use bytes::Bytes;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::header::CONTENT_ENCODING;
use std::io::Read;

/// The most bytes a body may decode to; beyond it (a compression bomb, or
/// just a huge answer) the body is reported, not compared.
pub(crate) const MAX_DECODED: usize = 8 << 20;

/// The exchange with its body decoded and `Content-Encoding` removed, or,
/// when it cannot be decoded, a description of the body for a difference.
/// `None` when the body has no content coding.
pub(crate) fn decoded(e: &Exchange) -> Option<Result<Exchange, String>> {
    let coding = coding(e)?;
    let size = e.body.len();
    if e.truncated {
        return Some(Err(format!(
            "{coding}-encoded body truncated at {size} bytes, not decoded"
        )));
    }
    let mut out = Vec::new();
    let read = match coding.as_str() {
        "gzip" | "x-gzip" => bounded(MultiGzDecoder::new(&e.body[..]), &mut out),
        // `deflate` is zlib-wrapped by the standard; some servers send it raw.
        "deflate" => bounded(ZlibDecoder::new(&e.body[..]), &mut out).or_else(|_| {
            out.clear();
            bounded(DeflateDecoder::new(&e.body[..]), &mut out)
        }),
        _ => {
            return Some(Err(format!(
                "{coding}-encoded body, {size} bytes, not decoded"
            )))
        }
    };
    Some(match read {
        Ok(()) if out.len() > MAX_DECODED => Err(format!(
            "{coding}-encoded body, {size} bytes, decodes to more than {MAX_DECODED} bytes, not compared"
        )),
        Ok(()) => {
            let mut plain = e.clone();
            plain.headers.remove(CONTENT_ENCODING);
            plain.body = Bytes::from(out);
            Ok(plain)
        }
        Err(error) => Err(format!(
            "{coding}-encoded body, {size} bytes, does not decode: {error}"
        )),
    })
}

/// Reads at most one byte past [`MAX_DECODED`] into `out`.
fn bounded(decoder: impl Read, out: &mut Vec<u8>) -> std::io::Result<()> {
    decoder
        .take(MAX_DECODED as u64 + 1)
        .read_to_end(out)
        .map(drop)
}

/// The body's content coding, lowercased, unless none (`identity`).
fn coding(e: &Exchange) -> Option<String> {
    let value = e.headers.get(CONTENT_ENCODING)?.as_bytes().trim_ascii();
    (!value.is_empty() && !value.eq_ignore_ascii_case(b"identity"))
        .then(|| String::from_utf8_lossy(value).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use http::{HeaderValue, StatusCode};
    use std::io::Write;

    fn encoded(coding: &'static str, body: Vec<u8>) -> Exchange {
        let mut e = Exchange::new(StatusCode::OK, http::HeaderMap::new(), body);
        e.headers
            .insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
        e
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_and_deflate_are_decoded() {
        let plain = decoded(&encoded("gzip", gzip(b"{\"a\":1}")))
            .unwrap()
            .unwrap();
        assert_eq!(&plain.body[..], b"{\"a\":1}");
        assert!(plain.headers.get(CONTENT_ENCODING).is_none());

        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(b"[1]").unwrap();
        let plain = decoded(&encoded("deflate", zlib.finish().unwrap()));
        assert_eq!(&plain.unwrap().unwrap().body[..], b"[1]");

        let identity = Exchange::new(StatusCode::OK, http::HeaderMap::new(), "x");
        assert!(decoded(&identity).is_none());
        assert!(decoded(&encoded("identity", b"x".to_vec())).is_none());
    }

    #[test]
    fn what_cannot_be_decoded_is_described() {
        let cases = [
            (
                encoded("br", vec![1, 2, 3]),
                "br-encoded body, 3 bytes, not decoded",
            ),
            (
                encoded("gzip", b"not gzip".to_vec()),
                "gzip-encoded body, 8 bytes, does not decode: ",
            ),
            (
                encoded("gzip", gzip(b"{}")).with_truncated(true),
                "gzip-encoded body truncated at ",
            ),
            (
                encoded("gzip", gzip(&vec![b' '; MAX_DECODED + 1])),
                "gzip-encoded body, ",
            ),
        ];
        for (exchange, why) in cases {
            let error = decoded(&exchange).unwrap().unwrap_err();
            assert!(error.starts_with(why), "{error}");
        }
        let bomb = decoded(&encoded("gzip", gzip(&vec![b' '; MAX_DECODED + 1])));
        assert!(bomb.unwrap().unwrap_err().ends_with("not compared"));
    }
}
