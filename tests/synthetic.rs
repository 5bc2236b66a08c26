//! Synthetic rehearsal: capture, clustering, the generator's rate and
//! concurrency, a faulty candidate flagged per profile, and transactions.

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::Layer;
use tower_shadow::chaos::FaultLayer;
use tower_shadow::health::{EndpointKey, RouteTemplate};
use tower_shadow::mask::Masker;
use tower_shadow::policy::{Decision, Standard};
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;
use tower_shadow::synthetic::{
    cluster, judge_profiles, CaptureLayer, ClusterConfig, Generator, RequestShape,
    SyntheticProfile, Transaction, Transactions,
};

/// Adjusted Rand index of two labelings (Hubert and Arabie).
fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let choose2 = |n: usize| (n * n.saturating_sub(1)) as f64 / 2.0;
    let mut table: HashMap<(usize, usize), usize> = HashMap::new();
    let (mut rows, mut cols): (HashMap<usize, usize>, HashMap<usize, usize>) = Default::default();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let index: f64 = table.values().map(|&n| choose2(n)).sum();
    let sum_rows: f64 = rows.values().map(|&n| choose2(n)).sum();
    let sum_cols: f64 = cols.values().map(|&n| choose2(n)).sum();
    let expected = sum_rows * sum_cols / choose2(a.len());
    let max = (sum_rows + sum_cols) / 2.0;
    (index - expected) / (max - expected)
}

#[test]
fn the_rand_index_of_the_test_is_right() {
    assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[5, 5, 7, 7]), 1.0);
    assert!(adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]) < 0.0);
}

/// A request of planted group `group`, with seeded variation.
fn planted(group: usize, rng: &mut StdRng) -> (http::request::Parts, Vec<u8>) {
    let (builder, body, agent) = match group {
        // Item pages: small GETs from browsers.
        0 => (
            Request::get(format!("/items/{}", rng.random_range(1..100_000))),
            0,
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        ),
        // Searches: long queries, from browsers too.
        1 => {
            let words = rng.random_range(6..30);
            (
                Request::get(format!("/search?q={}&page=1", "w".repeat(words * 4))),
                0,
                "Mozilla/5.0 (Macintosh) Safari/605.1.15",
            )
        }
        // Orders from the mobile app: JSON bodies of a few hundred bytes.
        2 => (
            Request::post("/orders"),
            rng.random_range(200..700),
            "MyShop/3.2 (iPhone; iOS 17.1) CFNetwork/1474",
        ),
        // Bulk imports on the same route: large bodies, from scripts.
        _ => (
            Request::post("/orders"),
            rng.random_range(20_000..80_000),
            "python-requests/2.31.0",
        ),
    };
    let (head, ()) = builder
        .header("user-agent", agent)
        .header("accept", "application/json")
        .body(())
        .unwrap()
        .into_parts();
    let body = format!("{{\"note\":\"{}\"}}", "n".repeat(body)).into_bytes();
    let body = if group >= 2 { body } else { Vec::new() };
    (head, body)
}

#[test]
fn clustering_recovers_planted_groups() {
    let mut rng = StdRng::seed_from_u64(20261122);
    let masker = Masker::new();
    let mut labels = Vec::new();
    let mut shapes = Vec::new();
    for _ in 0..800 {
        // Shares 40 / 25 / 25 / 10 %.
        let group = match rng.random::<f64>() {
            u if u < 0.40 => 0,
            u if u < 0.65 => 1,
            u if u < 0.90 => 2,
            _ => 3,
        };
        let (head, body) = planted(group, &mut rng);
        let route = RouteTemplate.endpoint(&head);
        shapes.push(RequestShape::of(&head, route, &body, body.len(), &masker));
        labels.push(group);
    }
    let clustering = cluster(&shapes, &ClusterConfig::default());
    let ari = adjusted_rand_index(&labels, &clustering.assignments);
    assert!(ari >= 0.9, "adjusted Rand index {ari}");
    assert_eq!(clustering.profiles.len(), 4, "{:?}", clustering.profiles);
    let names: Vec<&str> = clustering
        .profiles
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names[0], "GET /items/{id}");
    assert!(names.contains(&"POST /orders #1") && names.contains(&"POST /orders #2"));
    let total: f64 = clustering.profiles.iter().map(|p| p.share).sum();
    assert!((total - 1.0).abs() < 1e-9);

    // The same shapes and seed give the same clustering.
    assert_eq!(cluster(&shapes, &ClusterConfig::default()), clustering);
    // A fixed number of groups is obeyed.
    let mut two = ClusterConfig::default();
    two.groups = Some(2);
    assert_eq!(cluster(&shapes, &two).profiles.len(), 2);
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn shop() -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { format!("{{\"id\":{id}}}") }),
        )
        .route(
            "/orders",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_layer_profiles_live_traffic_over_a_socket() {
    let capture = CaptureLayer::builder().seed(1).build().unwrap();
    let captured = capture.captured();
    let addr = serve(shop().layer(capture)).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for i in 0..60u32 {
        let request = if i % 3 == 0 {
            let body = format!(r#"{{"card":"4111 1111 1111 {i:04}","qty":{i}}}"#);
            Request::post(format!("http://{addr}/orders"))
                .header("content-type", "application/json")
                .body(Full::from(body))
        } else {
            Request::get(format!("http://{addr}/items/{i}")).body(Full::default())
        };
        let response = client.request(request.unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(captured.len(), 60);
    assert!(captured.rate().is_some());
    let clustering = captured.cluster(&ClusterConfig::default());
    let shares: Vec<(&str, f64)> = clustering
        .profiles
        .iter()
        .map(|p| (p.name.as_str(), p.share))
        .collect();
    assert_eq!(shares.len(), 2, "{shares:?}");
    assert_eq!(shares[0].0, "GET /items/{id}");
    assert!((shares[0].1 - 2.0 / 3.0).abs() < 1e-9);
    let order = &clustering.profiles[1].template;
    let body = String::from_utf8(order.body.to_bytes().to_vec()).unwrap();
    assert!(body.contains(r#""card":"1111 1111 1111 1111""#), "{body}");
    assert!(!body.contains("4111"), "{body}");
}

/// A service that counts its calls in flight and when they came, answering
/// after a latency that varies per call.
#[derive(Clone, Default)]
struct Instrumented {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    calls: Arc<parking_lot::Mutex<Vec<Instant>>>,
}

impl tower::Service<Request<Full<Bytes>>> for Instrumented {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        let n = {
            let mut calls = self.calls.lock();
            calls.push(Instant::now());
            calls.len()
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let in_flight = Arc::clone(&self.in_flight);
        // Mostly 1 to 20 ms, in a fixed pattern; 50 calls in every 1000
        // take 100 ms, a burst that fills any bound under 40.
        let n = n as u64;
        let latency = Duration::from_millis(if n % 1000 < 50 {
            100
        } else {
            1 + (n * 37) % 20
        });
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(Response::new(Empty::new()))
        })
    }
}

fn profile(name: &str, uri: &str, share: f64) -> SyntheticProfile {
    serde_json::from_value(serde_json::json!({
        "name": name, "share": share, "route": name,
        "template": {"method": "GET", "uri": uri, "headers": [], "body": {"text": ""}}
    }))
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_generator_hits_its_rate_and_never_exceeds_its_concurrency() {
    let (baseline, candidate) = (Instrumented::default(), Instrumented::default());
    let generator = Generator::builder(vec![profile("a", "/a", 0.7), profile("b", "/b", 0.3)])
        .rate(200.0)
        .stress(2.0)
        .concurrency(16)
        .duration(Duration::from_secs(10))
        .build()
        .unwrap();
    let report = generator.run(baseline.clone(), candidate.clone()).await;

    // In virtual time: 400 requests per second for 10 s.
    let calls = candidate.calls.lock().clone();
    assert_eq!(calls.len(), 4000);
    assert_eq!(report.requests, 4000);
    let span = (*calls.last().unwrap() - calls[0]).as_secs_f64();
    let rate = (calls.len() - 1) as f64 / span;
    assert!((rate / 400.0 - 1.0).abs() < 0.05, "measured rate {rate}");
    assert!(
        (report.rate / 400.0 - 1.0).abs() < 0.05,
        "reported rate {}",
        report.rate
    );

    // About 4 calls in flight usually, 40 wanted in the bursts: the bound
    // is reached and holds.
    for side in [&baseline, &candidate] {
        assert_eq!(side.most.load(Ordering::SeqCst), 16);
    }
    assert_eq!(report.max_in_flight, 16);
    assert!(report.late > 0);
    let a = report.profiles["a"].requests as f64 / 4000.0;
    assert!((a - 0.7).abs() < 0.03, "share of a {a}");
    assert_eq!(generator.health().snapshot().pairs, 4000);
}

#[tokio::test(start_paused = true)]
async fn the_generator_stops_after_its_request_count_and_follows_the_mix() {
    let service = Instrumented::default();
    let generator = Generator::builder(vec![profile("a", "/a", 0.7), profile("b", "/b", 0.3)])
        .rate(50.0)
        .requests(100)
        .mix("b", 1.0)
        .build()
        .unwrap();
    let report = generator.drive(service.clone()).await;
    assert_eq!(service.calls.lock().len(), 100);
    assert_eq!(report.profiles.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(generator.health().snapshot().pairs, 0);
}

#[test]
fn a_generator_that_would_not_stop_is_refused() {
    let error = Generator::builder(vec![profile("a", "/a", 1.0)])
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("duration_secs"), "{error}");
    let error = Generator::builder(Vec::new())
        .requests(1)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("profiles"), "{error}");
    let error = Generator::builder(vec![profile("a", "/a", 1.0)])
        .requests(1)
        .mix("a", -1.0)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid generator config: mix.a: must be a finite number, 0 or more, not -1"
    );
    let error = Generator::builder(vec![profile("a", "/a", 1.0)])
        .requests(1)
        .mix("b", 1.0)
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("mix: no profile has a weight above 0"),
        "{error}"
    );
}

/// Three profiles, captured from the shop.
fn shop_profiles() -> Vec<SyntheticProfile> {
    vec![
        profile("GET /items/{id}", "/items/1", 0.5),
        profile("GET /items/{id} #2", "/items/22", 0.3),
        serde_json::from_value(serde_json::json!({
            "name": "POST /orders", "share": 0.2, "route": "POST /orders",
            "template": {"method": "POST", "uri": "/orders", "headers": [], "body": {"text": "{\"qty\":1}"}}
        }))
        .unwrap(),
    ]
}

async fn rehearse(
    candidate_errors: f64,
) -> (Decision, std::collections::BTreeMap<String, Decision>) {
    let faults = FaultLayer::new()
        .seed(5)
        .error(StatusCode::INTERNAL_SERVER_ERROR, candidate_errors);
    let candidate = faults.layer(shop());
    let generator = Generator::builder(shop_profiles())
        .rate(1000.0)
        .requests(3000)
        .seed(9)
        .build()
        .unwrap();
    generator.run(shop(), candidate).await;
    let snapshot = generator.health().snapshot();
    assert_eq!(snapshot.pairs, 3000);
    let per_profile = judge_profiles(&snapshot, &Standard::standard(), 0.1);
    let rollout = Rollout::builder(generator.health(), Weights::new(0.1)).build();
    (rollout.step(), per_profile)
}

#[tokio::test(start_paused = true)]
async fn a_candidate_with_5_percent_injected_errors_is_flagged_per_profile() {
    let (decision, per_profile) = rehearse(0.05).await;
    assert!(
        matches!(decision, Decision::Rollback { .. }),
        "{decision:?}"
    );
    assert_eq!(per_profile.len(), 3);
    for (name, verdict) in &per_profile {
        let flagged = matches!(verdict, Decision::Rollback { .. })
            || matches!(verdict, Decision::Shift { canary_weight, .. } if *canary_weight < 0.1);
        assert!(flagged, "{name}: {verdict:?}");
    }

    // The same rehearsal without faults is not flagged.
    let (decision, per_profile) = rehearse(0.0).await;
    assert!(matches!(decision, Decision::Shift { .. }), "{decision:?}");
    assert!(per_profile
        .values()
        .all(|d| !matches!(d, Decision::Rollback { .. })));
}

#[tokio::test(start_paused = true)]
async fn transactions_run_on_their_interval_and_count_in_the_health() {
    let health = tower_shadow::health::Health::builder()
        .window(Duration::from_secs(600))
        .build();
    let checks = Transactions::new(health.clone())
        .interval(Duration::from_secs(10))
        .transaction(Transaction::get("item", "/items/7").expect_body("\"id\":7"))
        .transaction(Transaction::get("missing", "/nowhere"));
    let handle = checks.spawn(shop());
    tokio::time::sleep(Duration::from_secs(35)).await;
    drop(handle);
    // Runs at 0, 10, 20 and 30 s.
    let snapshot = health.snapshot();
    assert_eq!(snapshot.endpoints["transaction item"].pairs, 4);
    assert_eq!(snapshot.endpoints["transaction item"].different, 0);
    assert_eq!(snapshot.endpoints["transaction missing"].different, 4);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(health.snapshot().pairs, 8, "stopped with its handle");
}
