//! Arbitrary byte pairs through the comparators: no panic, no stack
//! overflow, and the invariants any comparison keeps.
//!
//! Input: one flag byte, then the two bodies split at the first `0xff`
//! byte (or in the middle when there is none). The flags pick the content
//! types, truncation, a content coding and a small nesting limit.
//!
//! `cargo +nightly fuzz run compare` (from the repository root).

#![no_main]

use http::{header, HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_shadow::compare::{Comparator, JsonComparator, Shape, Standard, Tolerance};
use tower_shadow::exchange::Exchange;

fn exchange(body: &[u8], json: bool, truncated: bool, gzip: bool) -> Exchange {
    let mut headers = HeaderMap::new();
    if json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Exchange::new(StatusCode::OK, headers, body.to_vec()).with_truncated(truncated)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let split = rest
        .iter()
        .position(|&b| b == 0xff)
        .unwrap_or(rest.len() / 2);
    let (a, b) = rest.split_at(split);
    let b = b.strip_prefix(&[0xff]).unwrap_or(b);
    let bit = |i: u8| flags & (1 << i) != 0;
    let x = exchange(a, bit(0), bit(2) && bit(3), bit(4) && bit(5) && bit(6));
    let y = exchange(b, bit(1), false, false);

    let depth = if bit(7) { 3 } else { 128 };
    let rules = JsonComparator::new()
        .max_depth(depth)
        .ignore("/a")
        .ignore("/*/b")
        .tolerance("/*", Tolerance::relative(0.1))
        .tolerance("/n/*", Tolerance::absolute(1.0))
        .unordered("")
        .unordered("/*")
        .unordered("/0/*")
        .shape("/1", Shape::Uuid)
        .shape("/id", Shape::Rfc3339)
        .shape("/*/s", Shape::Integer)
        .max_differences(64);
    let standard = Standard::new().max_depth(depth);
    let comparators: [(&dyn Comparator, usize); 2] = [(&standard, 100), (&rules, 64)];

    for (c, max) in comparators {
        for (l, r) in [(&x, &y), (&y, &x)] {
            let out = c.compare(l, r);
            assert!((0.0..=1.0).contains(&out.score), "{out:?}");
            assert_eq!(out.is_equivalent(), out.score == 1.0, "{out:?}");
            assert!(out.differences.len() <= max);
        }
        // Anything equals itself, and so does a copy that is not byte-equal.
        assert!(c.compare(&x, &x.clone()).is_equivalent());
        if bit(0) && !bit(2) && !(bit(4) && bit(5) && bit(6)) {
            let spaced = exchange(&[a, b" "].concat(), true, false, false);
            let plain = exchange(a, true, false, false);
            let parses = serde_json::from_slice::<serde_json::Value>(a).is_ok();
            let shallow = depth == 128;
            if parses && shallow {
                assert!(
                    c.compare(&plain, &spaced).is_equivalent(),
                    "{:?}",
                    String::from_utf8_lossy(a)
                );
            }
        }
    }
    // Without tolerances (not transitive) equivalence is symmetric.
    assert_eq!(
        standard.compare(&x, &y).is_equivalent(),
        standard.compare(&y, &x).is_equivalent()
    );
});
