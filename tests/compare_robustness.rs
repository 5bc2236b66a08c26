//! What the fuzz target (`fuzz/fuzz_targets/compare.rs`) checks, as
//! properties that run with `cargo test`: arbitrary byte pairs, JSON-like
//! inputs and deep nesting through the comparators, with no panic, no
//! stack overflow, and the invariants every comparison keeps.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use proptest::prelude::*;
use tower_shadow::compare::{Comparator, DiffKind, JsonComparator, Shape, Standard, Tolerance};
use tower_shadow::exchange::Exchange;

fn exchange(body: &[u8], json: bool) -> Exchange {
    let mut headers = HeaderMap::new();
    if json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Exchange::new(StatusCode::OK, headers, body.to_vec())
}

fn rules() -> JsonComparator {
    JsonComparator::new()
        .ignore("/a")
        .ignore("/*/b")
        .tolerance("/*", Tolerance::relative(0.1))
        .unordered("")
        .unordered("/*")
        .shape("/1", Shape::Uuid)
        .shape("/*/s", Shape::Integer)
        .max_differences(64)
}

fn check(a: &[u8], b: &[u8], json: bool) {
    let (x, y) = (exchange(a, json), exchange(b, json));
    let standard = Standard::new();
    let rules = rules();
    let comparators: [&dyn Comparator; 2] = [&standard, &rules];
    for c in comparators {
        for (l, r) in [(&x, &y), (&y, &x)] {
            let out = c.compare(l, r);
            assert!((0.0..=1.0).contains(&out.score), "{out:?}");
            assert_eq!(out.is_equivalent(), out.score == 1.0, "{out:?}");
            assert!(out.differences.len() <= 100);
            for d in &out.differences {
                for v in [&d.baseline, &d.candidate].into_iter().flatten() {
                    assert!(v.len() <= 256 + '…'.len_utf8());
                }
            }
        }
        assert!(c.compare(&x, &x.clone()).is_equivalent());
    }
    assert_eq!(
        standard.compare(&x, &y).is_equivalent(),
        standard.compare(&y, &x).is_equivalent()
    );
}

/// JSON-ish text: valid documents, mangled ones, and everything between.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"a\"".to_owned()),
        Just("\"b\"".to_owned()),
        Just("\"\\u00e9\\n\"".to_owned()),
        Just("\"123e4567-e89b-12d3-a456-426614174000\"".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just(" ".to_owned()),
        "-?[0-9]{1,25}(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes(a in prop::collection::vec(any::<u8>(), 0..200),
                       b in prop::collection::vec(any::<u8>(), 0..200),
                       json in any::<bool>()) {
        check(&a, &b, json);
    }

    #[test]
    fn jsonish_text(a in jsonish(), b in jsonish(), json in any::<bool>()) {
        check(&a, &b, json);
    }

    #[test]
    fn valid_json_equals_itself_respaced(a in jsonish()) {
        if serde_json::from_slice::<serde_json::Value>(&a).is_ok() {
            let spaced = [b" \n".as_slice(), &a, b"\t"].concat();
            for c in [&Standard::new() as &dyn Comparator, &rules()] {
                prop_assert!(c.compare(&exchange(&a, true), &exchange(&spaced, true)).is_equivalent());
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn deep_nesting(depth in 0usize..5000, open in prop::sample::select(vec!["[", "{\"a\":", "[{\"b\":"]),
                    close_all in any::<bool>()) {
        let close = match open { "[" => "]", "{\"a\":" => "}", _ => "}]" };
        let doc = |leaf: &str| {
            let mut s = open.repeat(depth);
            s.push_str(leaf);
            if close_all {
                s.push_str(&close.repeat(depth));
            }
            s.into_bytes()
        };
        check(&doc("1"), &doc("2"), true);
    }
}

/// Inputs the fuzz target once stopped on, split as it splits them.
#[test]
fn fuzz_regressions() {
    // Hundreds of differing numbers: the list stops at `max_differences`.
    let input = include_bytes!("../fuzz/regressions/compare/too-many-differences");
    let rest = &input[1..];
    let split = rest
        .iter()
        .position(|&b| b == 0xff)
        .unwrap_or(rest.len() / 2);
    let (a, b) = rest.split_at(split);
    let b = b.strip_prefix(&[0xff]).unwrap_or(b);
    check(a, b, true);
    let c = Standard::new()
        .max_differences(3)
        .compare(&exchange(a, true), &exchange(b, true));
    assert_eq!(c.differences.len(), 3);
    assert!(c.score < 1.0);
}

#[test]
fn nesting_past_the_limit_is_one_body_difference() {
    let deep = |n: usize, leaf: &str| format!("{}{leaf}{}", "[".repeat(n), "]".repeat(n));
    let c = Standard::new().compare(
        &exchange(deep(100_000, "1").as_bytes(), true),
        &exchange(deep(100_000, "2").as_bytes(), true),
    );
    assert_eq!(c.differences.len(), 1);
    let d = &c.differences[0];
    assert_eq!((d.path.as_str(), d.kind), ("/body", DiffKind::Body));
    assert!(d
        .baseline
        .as_deref()
        .unwrap()
        .starts_with("JSON nested deeper than 128 levels (at byte 128): "));
    // At the limit, still compared as JSON.
    let c = Standard::new().compare(
        &exchange(deep(128, "1").as_bytes(), true),
        &exchange(deep(128, "2").as_bytes(), true),
    );
    assert_eq!(c.differences[0].path, "/0".repeat(128));
}
