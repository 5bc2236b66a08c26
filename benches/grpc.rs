//! `GrpcComparator` on a server stream of 200 `users.User` messages (about
//! 12 KiB), equal and with a few fields changed, against the obvious
//! baseline measured in the same run: decode both streams with the
//! generated prost types and compare them with `==` (no field names, no
//! report).
//!
//! `cargo bench --bench grpc --features grpc -- --warm-up-time 1 --measurement-time 3`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use grpc_fixture::prost::Message;
use grpc_fixture::{Address, User};
use http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode, Uri};
use tower_shadow::compare::{Comparator, GrpcComparator};
use tower_shadow::exchange::Exchange;

const USERS: u64 = 200;

/// The stream's messages, framed; `variant` changes one email in 50.
fn stream(variant: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for id in 0..USERS {
        let changed = variant && id % 50 == 7;
        let user = User {
            id,
            name: format!("user number {id}"),
            email: format!(
                "{id}@{}",
                if changed {
                    "new.example"
                } else {
                    "example.com"
                }
            ),
            roles: vec!["reader".into(), "writer".into()],
            address: Some(Address {
                city: "Paris".into(),
            }),
        };
        let message = user.encode_to_vec();
        out.push(0);
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend(message);
    }
    out
}

fn exchange(body: Vec<u8>) -> Exchange {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    Exchange::new(StatusCode::OK, headers, Bytes::from(body))
        .with_trailers(trailers)
        .with_uri(Uri::from_static("/users.Users/ListUsers"))
}

fn prost_baseline(a: &Exchange, b: &Exchange) -> bool {
    let users = |mut body: &[u8]| {
        let mut out = Vec::new();
        while body.len() >= 5 {
            let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
            out.push(User::decode(&body[5..5 + len]).unwrap());
            body = &body[5 + len..];
        }
        out
    };
    users(&a.body) == users(&b.body)
}

fn bench(c: &mut Criterion) {
    let base = exchange(stream(false));
    // Another allocation with the same bytes: no pointer-equality shortcut.
    let same = exchange(stream(false));
    let changed = exchange(stream(true));
    assert!(prost_baseline(&base, &same));
    assert!(!prost_baseline(&base, &changed));

    let named =
        GrpcComparator::from_file_descriptor_set(grpc_fixture::FILE_DESCRIPTOR_SET).unwrap();
    let numbered = GrpcComparator::new();
    let differences = named.compare(&base, &changed).differences;
    assert_eq!(differences.len(), 4, "{differences:?}");
    assert_eq!(differences[0].path, "/7/email");
    assert!(named.compare(&base, &same).is_equivalent());

    for (name, other) in [("grpc equal", &same), ("grpc different", &changed)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(
            (base.body.len() + other.body.len()) as u64,
        ));
        group.bench_function("prost_decode", |b| {
            b.iter(|| prost_baseline(black_box(&base), black_box(other)))
        });
        group.bench_function("by_name", |b| {
            b.iter(|| named.compare(black_box(&base), black_box(other)))
        });
        group.bench_function("by_number", |b| {
            b.iter(|| numbered.compare(black_box(&base), black_box(other)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
