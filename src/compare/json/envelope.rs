//! One exchange against another: errors, status, headers, trailers, body.

use super::decode::decoded;
use super::parse::{parse, ParseError};
use super::rules::Rules;
use super::walk::walk;
use crate::compare::{Comparison, DiffKind, Difference, HeaderRules};
use crate::exchange::Exchange;
use http::header::CONTENT_TYPE;
use http::HeaderMap;

/// What [`compare`] needs from a comparator's configuration.
pub(crate) struct Settings<'c> {
    pub(crate) rules: &'c Rules,
    pub(crate) headers: &'c HeaderRules,
    pub(crate) max_depth: usize,
    pub(crate) max_differences: usize,
}

/// Compares two exchanges; see `JsonComparator` for what and how.
pub(crate) fn compare(s: &Settings<'_>, baseline: &Exchange, candidate: &Exchange) -> Comparison {
    let error_kind = |e: &Exchange| e.error.as_ref().map(|e| e.kind);
    match (error_kind(baseline), error_kind(candidate)) {
        (None, None) => {}
        (b, c) if b == c => return Comparison::equivalent(),
        _ => {
            let difference = Difference::new(
                "error",
                DiffKind::Error,
                baseline.error.as_ref(),
                candidate.error.as_ref(),
            );
            return Comparison::different(0.0, vec![difference]);
        }
    }

    let mut differences = Vec::new();
    let mut units = 0.0;
    let mut differing = 0.0;

    if baseline.status.is_some() || candidate.status.is_some() {
        units += 1.0;
        if baseline.status != candidate.status {
            differing += 1.0;
            let show = |e: &Exchange| e.status.map(|s| s.as_u16());
            differences.push(Difference::new(
                "status",
                DiffKind::Status,
                show(baseline),
                show(candidate),
            ));
        }
    }

    let empty = HeaderMap::new();
    let mut fields = |prefix: &str, b: &HeaderMap, c: &HeaderMap, out: &mut Vec<Difference>| {
        let names = b.keys().chain(c.keys().filter(|n| !b.contains_key(*n)));
        for name in names {
            if !s.headers.compares(name) {
                continue;
            }
            units += 1.0;
            if !b.get_all(name).iter().eq(c.get_all(name).iter()) {
                differing += 1.0;
                let show = |map: &HeaderMap| {
                    let values: Vec<_> = map
                        .get_all(name)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect();
                    (!values.is_empty()).then(|| values.join(", "))
                };
                out.push(Difference::new(
                    format!("{prefix}/{name}"),
                    DiffKind::Header,
                    show(b),
                    show(c),
                ));
            }
        }
    };
    fields(
        "/headers",
        &baseline.headers,
        &candidate.headers,
        &mut differences,
    );
    fields(
        "/trailers",
        baseline.trailers.as_ref().unwrap_or(&empty),
        candidate.trailers.as_ref().unwrap_or(&empty),
        &mut differences,
    );

    units += 1.0;
    let budget = s.max_differences.saturating_sub(differences.len());
    differing += body(s, baseline, candidate, budget, &mut differences);

    if differences.is_empty() && differing == 0.0 {
        Comparison::equivalent()
    } else {
        Comparison::different(1.0 - differing / units, differences)
    }
}

/// Compares the bodies, appending at most `budget` differences; returns
/// the share of the body that differs (`0.0..=1.0`).
fn body(
    s: &Settings<'_>,
    baseline: &Exchange,
    candidate: &Exchange,
    budget: usize,
    out: &mut Vec<Difference>,
) -> f64 {
    if baseline.body == candidate.body && baseline.truncated == candidate.truncated {
        return 0.0;
    }
    let mut whole = |b: String, c: String| {
        if budget > 0 {
            out.push(Difference::new("/body", DiffKind::Body, Some(b), Some(c)));
        }
        1.0
    };
    match (decoded(baseline), decoded(candidate)) {
        (None, None) => {}
        (Some(Ok(b)), Some(Ok(c))) => return body(s, &b, &c, budget, out),
        (Some(Ok(b)), None) => return body(s, &b, candidate, budget, out),
        (None, Some(Ok(c))) => return body(s, baseline, &c, budget, out),
        (b, c) => {
            let show = |e: &Exchange, d: Option<Result<Exchange, String>>, other: &Exchange| match d
            {
                Some(Err(why)) => why,
                Some(Ok(plain)) => show_bytes(&plain.body, &other.body),
                None => show_bytes(&e.body, &other.body),
            };
            return whole(show(baseline, b, candidate), show(candidate, c, baseline));
        }
    }
    if baseline.truncated || candidate.truncated {
        let show = |e: &Exchange, other: &Exchange| {
            let text = show_bytes(&e.body, &other.body);
            if e.truncated {
                format!("truncated at {} bytes, not compared: {text}", e.body.len())
            } else {
                text
            }
        };
        return whole(show(baseline, candidate), show(candidate, baseline));
    }
    if !(looks_json(baseline) && looks_json(candidate)) {
        return whole(
            show_bytes(&baseline.body, &candidate.body),
            show_bytes(&candidate.body, &baseline.body),
        );
    }
    match (
        parse(&baseline.body, s.max_depth),
        parse(&candidate.body, s.max_depth),
    ) {
        (Ok(b), Ok(c)) => {
            let walked = walk(s.rules, &b, &c, budget);
            out.extend(walked.differences);
            if walked.differing == 0 {
                0.0
            } else {
                (walked.differing as f64 / walked.compared.max(1) as f64).min(1.0)
            }
        }
        (b, c) => {
            let show = |e: &Exchange, result: Result<_, ParseError>, other: &Exchange| match result
            {
                Ok(_) => show_bytes(&e.body, &other.body),
                Err(error) if error.is_binary() => {
                    format!("not JSON, {error}: {}", show_bytes(&e.body, &other.body))
                }
                Err(error) => format!("{error}: {}", show_bytes(&e.body, &other.body)),
            };
            whole(
                show(baseline, b.map(drop), candidate),
                show(candidate, c.map(drop), baseline),
            )
        }
    }
}

/// Whether the content type says JSON (`application/json`, `text/json`,
/// `*/*+json`) or, failing that, the body starts like a JSON object or array.
pub(crate) fn looks_json(e: &Exchange) -> bool {
    let declared = e.headers.get(CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        let essence = v.split(|&b| b == b';').next().unwrap_or(v).trim_ascii();
        let ends_with = |suffix: &[u8]| {
            essence.len() >= suffix.len()
                && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        };
        essence.eq_ignore_ascii_case(b"application/json")
            || essence.eq_ignore_ascii_case(b"text/json")
            || ends_with(b"+json")
    });
    declared
        || matches!(
            e.body
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')),
            Some(b'{' | b'[')
        )
}

/// Bytes before the first difference worth showing before a value.
const CONTEXT: usize = 32;

/// A body for a `Difference`: its text from a little before where it
/// starts to differ from `other`, or its size when it is not UTF-8.
fn show_bytes(body: &[u8], other: &[u8]) -> String {
    let first = body.iter().zip(other).take_while(|(a, b)| a == b).count();
    if body.is_empty() {
        return "empty body".to_owned();
    }
    match std::str::from_utf8(body) {
        Ok(text) if first <= CONTEXT * 2 => text.to_owned(),
        Ok(text) => {
            let mut from = first - CONTEXT;
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            // Difference::new shortens it further.
            let end = (from + 2 * crate::compare::Difference::MAX_VALUE).min(text.len());
            let mut end = end;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("…{}", &text[from..end])
        }
        Err(_) => format!("binary, {} bytes, differs from byte {first}", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ErrorKind, ExchangeError};
    use http::header::CONTENT_ENCODING;
    use http::{HeaderValue, StatusCode};

    fn settings<'a>(rules: &'a Rules, headers: &'a HeaderRules) -> Settings<'a> {
        Settings {
            rules,
            headers,
            max_depth: 16,
            max_differences: 100,
        }
    }

    fn json(body: &str) -> Exchange {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Exchange::new(StatusCode::OK, headers, body.to_owned())
    }

    fn text(body: impl Into<bytes::Bytes>) -> Exchange {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Exchange::new(StatusCode::OK, headers, body)
    }

    fn run(a: &Exchange, b: &Exchange) -> Comparison {
        let (rules, headers) = (Rules::default(), HeaderRules::all());
        compare(&settings(&rules, &headers), a, b)
    }

    #[test]
    fn json_bodies_are_compared_by_value() {
        let c = run(
            &json(r#"{"a": 1.0, "b": [1]}"#),
            &json(r#"{"b":[1],"a":1}"#),
        );
        assert!(c.is_equivalent() && c.score == 1.0);
        let c = run(
            &json(r#"{"a":1,"b":2,"c":3,"d":4}"#),
            &json(r#"{"a":1,"b":2,"c":3,"d":5}"#),
        );
        assert_eq!(c.differences.len(), 1);
        assert_eq!(c.differences[0].path, "/d");
        // status, content-type: equal; body: a quarter of it differs.
        assert!((c.score - (1.0 - 0.25 / 3.0)).abs() < 1e-9, "{}", c.score);
    }

    #[test]
    fn text_bodies_are_compared_as_bytes() {
        let c = run(&text("hello"), &text("hellO"));
        let d = &c.differences[0];
        assert_eq!((d.path.as_str(), d.kind), ("/body", DiffKind::Body));
        assert_eq!(d.baseline.as_deref(), Some("hello"));
        assert!((c.score - (1.0 - 1.0 / 3.0)).abs() < 1e-9);
        // Long bodies show where they start to differ.
        let a = format!("{}A tail", "x".repeat(1000));
        let b = format!("{}B tail", "x".repeat(1000));
        let c = run(&text(a), &text(b));
        assert!(c.differences[0]
            .baseline
            .as_deref()
            .unwrap()
            .ends_with("xA tail"));
        // Sniffed JSON without a content type.
        let bare = |b: &'static str| Exchange::new(StatusCode::OK, HeaderMap::new(), b);
        assert!(run(&bare(" [1.0]"), &bare("[1]")).is_equivalent());
        assert!(!run(&bare("1.0"), &bare("1")).is_equivalent());
    }

    #[test]
    fn bodies_that_cannot_be_compared_as_json_say_why() {
        let cases: [(Exchange, &str); 4] = [
            (
                json(r#"{"a":"#),
                "invalid JSON: unexpected end at byte 5: {\"a\":",
            ),
            (
                json("\u{1}"),
                "invalid JSON: expected a value at byte 0: \u{1}",
            ),
            (
                json(&format!("{}{}", "[".repeat(17), "]".repeat(17))),
                "JSON nested deeper than 16 levels (at byte 16): ",
            ),
            (
                Exchange::new(StatusCode::OK, json("").headers, vec![b'[', 0xff, 0xfe]),
                "not JSON, not UTF-8 (invalid byte at 1): binary, 3 bytes, differs from byte 1",
            ),
        ];
        for (bad, why) in cases {
            let c = run(&json("[]"), &bad);
            let d = &c.differences[0];
            assert_eq!((d.path.as_str(), d.kind), ("/body", DiffKind::Body));
            assert_eq!(d.baseline.as_deref(), Some("[]"));
            assert!(d.candidate.as_deref().unwrap().starts_with(why), "{d}");
        }
    }

    #[test]
    fn encoded_and_truncated_bodies_are_not_parsed() {
        let mut gz = json("\x1f\u{8b}...");
        gz.headers
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let c = run(&json("[]"), &gz);
        let body = c.differences.iter().find(|d| d.path == "/body").unwrap();
        assert!(body
            .candidate
            .as_deref()
            .unwrap()
            .starts_with("gzip-encoded body, 6 bytes, does not decode: "));
        assert!(c
            .differences
            .iter()
            .any(|d| d.path == "/headers/content-encoding"));
        // The same encoded bytes on both sides are equal.
        assert!(run(&gz, &gz.clone()).is_equivalent());

        let cut = json("[1,2,").with_truncated(true);
        let c = run(&json("[1,2,3]"), &cut);
        assert_eq!(
            c.differences[0].candidate.as_deref(),
            Some("truncated at 5 bytes, not compared: [1,2,")
        );
        assert!(run(&cut, &cut.clone()).is_equivalent());
    }

    #[test]
    fn compressed_bodies_are_compared_decoded() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let gzip = |text: &str| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(text.as_bytes()).unwrap();
            let mut e = json("");
            e.body = encoder.finish().unwrap().into();
            e.headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            e
        };
        let c = run(&gzip(r#"{"a":1,"b":2}"#), &gzip(r#"{"b":2,"a":3}"#));
        assert_eq!(c.differences.len(), 1, "{:?}", c.differences);
        assert_eq!(c.differences[0].path, "/a");
        assert!(run(&gzip(r#"{"a":1}"#), &gzip(r#"{ "a": 1 }"#)).is_equivalent());
        // One side compressed, the other not: the content is compared, and
        // the header difference is reported.
        let c = run(&json(r#"{"a":1}"#), &gzip(r#"{"a":1}"#));
        let paths: Vec<_> = c.differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/headers/content-encoding"]);
    }

    #[test]
    fn status_headers_trailers_and_errors() {
        let mut b = json("[]");
        b.status = Some(StatusCode::NOT_FOUND);
        b.headers.insert("x-extra", HeaderValue::from_static("1"));
        b.headers.append("x-extra", HeaderValue::from_static("2"));
        b.headers
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        let b = b.with_trailers(trailers);
        let c = run(&json("[]"), &b);
        let found: Vec<_> = c
            .differences
            .iter()
            .map(|d| (d.path.as_str(), d.kind))
            .collect();
        assert_eq!(
            found,
            [
                ("status", DiffKind::Status),
                ("/headers/x-extra", DiffKind::Header),
                ("/trailers/grpc-status", DiffKind::Header),
            ]
        );
        assert_eq!(c.differences[1].candidate.as_deref(), Some("1, 2"));
        assert_eq!(c.differences[1].baseline, None);
        // status, content-type, x-extra, grpc-status, body: 3 of 5 differ.
        assert!((c.score - 0.4).abs() < 1e-9, "{}", c.score);

        let failed = Exchange::failed(ExchangeError::new(ErrorKind::Timeout, "5s"));
        let c = run(&json("[]"), &failed);
        assert_eq!(c.differences[0].kind, DiffKind::Error);
        assert_eq!(c.score, 0.0);
        assert!(run(&failed, &failed.clone()).is_equivalent());
    }

    #[test]
    fn the_difference_budget_holds() {
        let (rules, headers) = (Rules::default(), HeaderRules::all());
        let s = Settings {
            max_differences: 1,
            ..settings(&rules, &headers)
        };
        let mut b = json("[2,3]");
        b.status = Some(StatusCode::CREATED);
        let c = compare(&s, &json("[1,2]"), &b);
        assert_eq!(c.differences.len(), 1);
        assert!(!c.is_equivalent());
    }
}
