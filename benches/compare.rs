//! The comparator on 64 KiB JSON bodies, equal and slightly different,
//! against the obvious baseline measured in the same run: parse both
//! bodies with `serde_json` into `Value`s and compare those.
//!
//! - `equal/*`: byte-identical bodies (the common case in a healthy
//!   rollout);
//! - `different/*`: the same document with a handful of values changed and
//!   its members written in another order, so no shortcut applies.
//!
//! `cargo bench --bench compare -- --warm-up-time 1 --measurement-time 3`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use tower_shadow::compare::{Comparator, JsonComparator, Standard, Tolerance};
use tower_shadow::exchange::Exchange;

const SIZE: usize = 64 * 1024;

/// A catalogue-like document of about `SIZE` bytes; `variant` changes a
/// few values and the member order.
fn document(variant: bool) -> Vec<u8> {
    let mut out =
        String::from("{\"meta\":{\"timestamp\":\"2024-01-01T00:00:00Z\",\"page\":1},\"items\":[");
    let mut i = 0;
    while out.len() < SIZE - 300 {
        if i > 0 {
            out.push(',');
        }
        let changed = variant && i % 97 == 13;
        let price = if changed {
            1000 + i
        } else {
            1000 + i * 7 % 500
        };
        let item = if variant {
            format!(
                r#"{{"name":"item number {i}","id":{i},"price":{price}.25,"tags":["red","large","sale"],"stock":{{"warehouse":"north","count":{}}},"active":true,"note":null}}"#,
                i * 13 % 100
            )
        } else {
            format!(
                r#"{{"id":{i},"name":"item number {i}","price":{price}.25,"tags":["red","large","sale"],"stock":{{"count":{},"warehouse":"north"}},"active":true,"note":null}}"#,
                i * 13 % 100
            )
        };
        out.push_str(&item);
        i += 1;
    }
    out.push_str("],\"total\":");
    out.push_str(&i.to_string());
    out.push('}');
    out.into_bytes()
}

fn exchange(body: Vec<u8>) -> Exchange {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Exchange::new(StatusCode::OK, headers, Bytes::from(body))
}

fn serde_baseline(a: &Exchange, b: &Exchange) -> bool {
    let a: Value = serde_json::from_slice(&a.body).unwrap();
    let b: Value = serde_json::from_slice(&b.body).unwrap();
    a == b
}

fn bench(c: &mut Criterion) {
    let base = exchange(document(false));
    // Another allocation with the same bytes: no pointer-equality shortcut.
    let same = exchange(document(false));
    let changed = exchange(document(true));
    assert!(serde_baseline(&base, &same));
    assert!(!serde_baseline(&base, &changed));

    let standard = Standard::new();
    let rules = JsonComparator::new()
        .ignore("/meta/timestamp")
        .tolerance("/items/*/price", Tolerance::relative(0.01))
        .unordered("/items/*/tags")
        .ignore_header("date");
    let differences = standard.compare(&base, &changed).differences.len();
    assert!(differences > 0 && differences < 20, "{differences}");
    assert!(standard.compare(&base, &same).is_equivalent());

    for (name, other) in [("equal", &same), ("different", &changed)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(
            (base.body.len() + other.body.len()) as u64,
        ));
        group.bench_function("serde_json_value", |b| {
            b.iter(|| serde_baseline(black_box(&base), black_box(other)))
        });
        group.bench_function("standard", |b| {
            b.iter(|| standard.compare(black_box(&base), black_box(other)))
        });
        group.bench_function("json_rules", |b| {
            b.iter(|| rules.compare(black_box(&base), black_box(other)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
