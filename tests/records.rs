//! Masking and records: no masked value reaches the candidate or a record;
//! the file recorder rotates, counts drops, loses nothing below its bound;
//! a recorded file replays to the same comparison.

use axum::body::Body;
use axum::extract::Request as AxumRequest;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http::{Method, Request};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use tower_shadow::compare::Standard;
use tower_shadow::mask::Masker;
use tower_shadow::record::{read, replay, FileRecorder, Memory, Recorder};
use tower_shadow::shadow::ShadowLayer;

const SECRETS: [&str; 4] = [
    "Bearer top-secret",
    "session=abcdef",
    "4111-1111",
    "alice@example.com",
];

fn stable() -> Router {
    Router::new().route(
        "/pay",
        post(|body: Bytes| async move {
            let total = serde_json::from_slice::<serde_json::Value>(&body)
                .map_or(0, |v| v["amount"].as_u64().unwrap_or(0));
            (
                [("set-cookie", "session=abcdef")],
                format!(r#"{{"total":{total},"email":"alice@example.com"}}"#),
            )
        }),
    )
}

/// The candidate: one cent off, and it remembers everything it was sent.
fn candidate(seen: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().route(
        "/pay",
        post(move |req: AxumRequest| {
            let seen = seen.clone();
            async move {
                let (head, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                seen.lock().unwrap().push(format!(
                    "{:?} {}",
                    head.headers,
                    String::from_utf8_lossy(&body)
                ));
                let total = serde_json::from_slice::<serde_json::Value>(&body)
                    .map_or(0, |v| v["amount"].as_u64().unwrap_or(0))
                    + 1;
                (
                    [("set-cookie", "session=abcdef")],
                    format!(r#"{{"total":{total},"email":"alice@example.com"}}"#),
                )
            }
        }),
    )
}

fn request(amount: u64) -> Request<Body> {
    Request::post("/pay")
        .header("authorization", "Bearer top-secret")
        .header("cookie", "session=abcdef")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            r#"{{"amount":{amount},"card":{{"number":"4111-1111"}},"email":"alice@example.com"}}"#
        )))
        .unwrap()
}

fn masker() -> Masker {
    Masker::new()
        .key(b"test")
        .redact_path("/card/number")
        .pseudonymize_path("/email")
}

#[tokio::test]
async fn no_masked_value_reaches_the_candidate_or_a_record() {
    let dir = std::env::temp_dir().join(format!("tower-shadow-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pairs.jsonl");
    let _ = std::fs::remove_file(&path);
    let file = FileRecorder::open(&path).unwrap().start().unwrap();
    let memory = Memory::new(10);
    let both = {
        let (file, memory) = (file.clone(), memory.clone());
        move |r: &tower_shadow::record::Record| {
            file.record(r);
            memory.record(r);
        }
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let layer = ShadowLayer::builder(candidate(seen.clone()))
        .methods([Method::POST])
        .masker(masker())
        .recorder(both)
        .build();
    let health = layer.health();
    let app = stable().layer(layer);
    for amount in 1..=5 {
        let res = app.clone().oneshot(request(amount)).await.unwrap();
        // The user's answer is untouched by masking.
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(body.starts_with(format!(r#"{{"total":{amount},"#).as_bytes()));
        health.idle().await;
    }
    file.close().unwrap();

    let seen = seen.lock().unwrap().join("\n");
    let file_text = std::fs::read_to_string(&path).unwrap();
    let memory_text = serde_json::to_string(&memory.records()).unwrap();
    for secret in SECRETS {
        assert!(
            !seen.contains(secret),
            "{secret} reached the candidate: {seen}"
        );
        assert!(!file_text.contains(secret), "{secret} reached the file");
        assert!(!memory_text.contains(secret), "{secret} reached the ring");
    }
    // Pseudonyms line up: the same email, the same pseudonym everywhere.
    let pseudonym = masker().pseudonym(b"alice@example.com");
    assert!(seen.contains(&pseudonym));
    assert_eq!(file.written(), 5);
    assert_eq!(file.dropped(), 0);
    assert_eq!(memory.records().len(), 5, "every pair differs by a cent");
    let record = &memory.records()[0];
    assert_eq!(record.comparison.differences[0].path, "/total");
    assert_eq!(record.correlation_id.len(), 32);

    // Replaying the file against the same candidate reproduces each comparison.
    let records: Vec<_> = read(&path).unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len(), 5);
    let replayed = replay(
        records,
        candidate(Arc::default()),
        &Standard::new(),
        &masker(),
    )
    .await;
    for r in &replayed {
        assert_eq!(r.comparison.differences, r.record.comparison.differences);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn sample_record() -> tower_shadow::record::Record {
    let line = r#"{"at_ms":1,"correlation_id":"c","endpoint":"GET /","request":{"method":"GET","uri":"/","headers":[],"body":{"text":""}},"baseline":{"status":200,"headers":[],"body":{"text":"a"},"latency_ms":1.0,"error":null,"truncated":false},"candidate":{"status":200,"headers":[],"body":{"base64":"/w=="},"latency_ms":1.0,"error":null,"truncated":false},"comparison":{"score":0.0,"differences":[]}}"#;
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_file_rotates_and_keeps_max_files() {
    let dir = std::env::temp_dir().join(format!("tower-shadow-rotate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.jsonl");
    let file = FileRecorder::open(&path)
        .unwrap()
        .max_bytes(2048)
        .max_files(2)
        .queue(10_000)
        .start()
        .unwrap();
    let record = sample_record();
    for _ in 0..200 {
        file.record(&record);
    }
    file.close().unwrap();
    assert_eq!(
        (file.written(), file.dropped()),
        (200, 0),
        "nothing lost below the bound"
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]);
    for name in &names {
        let len = std::fs::metadata(dir.join(name)).unwrap().len();
        assert!(len <= 2048, "{name} is {len} bytes");
        for line in read(dir.join(name)).unwrap() {
            assert_eq!(line.unwrap(), record);
        }
    }
    // Records after close are dropped, and counted.
    file.record(&record);
    assert_eq!(file.dropped(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_overloaded_queue_drops_and_counts_but_never_blocks() {
    let dir = std::env::temp_dir().join(format!("tower-shadow-flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = FileRecorder::open(dir.join("f.jsonl"))
        .unwrap()
        .queue(1)
        .start()
        .unwrap();
    let record = sample_record();
    let sent = 20_000;
    for _ in 0..sent {
        file.record(&record);
    }
    file.close().unwrap();
    assert_eq!(file.written() + file.dropped(), sent);
    assert!(
        file.dropped() > 0,
        "a queue of one cannot keep up with a tight loop"
    );
    let lines = read(dir.join("f.jsonl")).unwrap().count() as u64;
    assert_eq!(lines, file.written());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_lines_are_errors_that_name_the_line() {
    let dir = std::env::temp_dir().join(format!("tower-shadow-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.jsonl");
    let good = serde_json::to_string(&sample_record()).unwrap();
    std::fs::write(&path, format!("{good}\nnot json\n\n{good}\n")).unwrap();
    let lines: Vec<_> = read(&path).unwrap().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[1]
        .as_ref()
        .unwrap_err()
        .to_string()
        .starts_with("records line 2:"));
    assert_eq!(
        lines[2].as_ref().unwrap().candidate.body.to_bytes(),
        Bytes::from_static(b"\xff")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
