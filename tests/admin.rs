//! The admin API over loopback: every endpoint, and each error status, with
//! a real HTTP client against `axum::serve`.

#![cfg(feature = "admin")]

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceExt;
use tower_shadow::admin::{Admin, GateConfig};
use tower_shadow::health::Health;
use tower_shadow::policy::ThresholdPolicy;
use tower_shadow::rollout::{Rollout, Stage};
use tower_shadow::router::Weights;

const TOKEN: &str = "s3cret-token";

/// The item service; with `bug`, every item has the wrong price.
fn items(bug: bool) -> Router {
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<u32>| async move {
            let price = if bug { 99 } else { 10 + id % 7 };
            axum::Json(json!({ "id": id, "price": price }))
        }),
    )
}

/// A rollout whose health has seen `n` pairs of `items(false)` against
/// `items(bug)`, sent in-process.
async fn rollout_with_traffic(bug: bool, n: u32) -> Rollout {
    let rollout = Rollout::builder(Health::new(), Weights::new(0.0))
        .policy(ThresholdPolicy::new().min_pairs(10))
        .stable_version("v2", json!({"image": "items:2"}))
        .candidate_version("v3", json!({"image": "items:3"}))
        .version("v1", json!({"image": "items:1"}))
        .build();
    let service = rollout.service(items(false), items(bug));
    for id in 0..n {
        let request = Request::get(format!("/items/{id}"))
            .body(Body::empty())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The pair is compared once the primary's body has been read.
        response.into_body().collect().await.unwrap();
    }
    rollout.health().idle().await;
    rollout
}

struct Api {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
    text: String,
}

impl Api {
    /// Serves `admin` under `/admin` on a loopback port.
    async fn serve(admin: Admin) -> Self {
        let app = Router::new().nest("/admin", admin.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { addr, client }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}/admin{path}", self.addr));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, Bytes::new()).await
    }

    async fn post(&self, path: &str, body: &str) -> Answer {
        self.call(Method::POST, path, Some(TOKEN), body.to_owned())
            .await
    }
}

/// Asserts a JSON error: `status`, an `error` message, and `field` when given.
fn assert_error(answer: &Answer, status: StatusCode, field: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/json",
        "{}",
        answer.text
    );
    assert!(answer.json["error"].is_string(), "{}", answer.text);
    assert_eq!(
        answer.json.get("field").and_then(Value::as_str),
        field,
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_list_show_metrics_differences_and_history() {
    let faulty = rollout_with_traffic(true, 150).await;
    let healthy = rollout_with_traffic(false, 150).await;
    let api = Api::serve(
        Admin::new()
            .token(TOKEN)
            .deployment("checkout", faulty)
            .deployment("search", healthy),
    )
    .await;

    let list = api.get("/deployments").await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<&str> = list.json["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "search"]);
    assert_eq!(list.json["deployments"][0]["stage"], "shadow");
    assert_eq!(list.json["deployments"][0]["weight"], 0.0);
    assert_eq!(list.json["deployments"][0]["pairs"], 150);

    let show = api.get("/deployments/checkout").await;
    assert_eq!(show.status, StatusCode::OK, "{}", show.text);
    let d = &show.json;
    assert_eq!(
        (d["name"].as_str(), d["stage"].as_str()),
        (Some("checkout"), Some("shadow"))
    );
    assert_eq!(
        (d["weight"].as_f64(), d["paused"].as_bool()),
        (Some(0.0), Some(false))
    );
    assert_eq!(d["stable_version"], "v2");
    assert_eq!(d["versions"].as_array().unwrap().len(), 3);
    assert_eq!(d["health"]["pairs"], 150);
    assert_eq!(d["health"]["different"], 150);
    assert_eq!(d["health"]["score"], 0.0);
    assert!(d["health"]["candidate_latency"]["p99_ms"].is_number());
    assert!(d["last_event"].is_null());

    let metrics = api.get("/deployments/checkout/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(metrics.json["pairs"], 150);
    assert!(metrics.json["score_parts"]["equivalence"].is_number());
    assert!(metrics.json["endpoints"].is_object());

    let diffs = api.get("/deployments/checkout/differences").await;
    assert_eq!(diffs.status, StatusCode::OK);
    let top = &diffs.json["top_differences"][0];
    assert_eq!(top["path"], "/price", "{}", diffs.text);
    assert_eq!(top["count"], 150);
    assert_eq!(top["sample"]["candidate"], "99");
    assert!(top["sample"]["baseline"].is_string());
    let endpoint = diffs.json["endpoints"].as_object().unwrap();
    assert_eq!(endpoint.len(), 1, "{}", diffs.text);
    let healthy = api.get("/deployments/search/differences").await;
    assert_eq!(healthy.json["top_differences"], json!([]));

    let history = api.get("/deployments/checkout/history").await;
    assert_eq!(history.status, StatusCode::OK);
    let samples = history.json["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1, "one sample per 2 s: {}", history.text);
    let sample = &samples[0];
    assert_eq!(
        (sample["stage"].as_str(), sample["score"].as_f64()),
        (Some("shadow"), Some(0.0))
    );
    assert_eq!(sample["difference_rate"], 1.0);
    for field in [
        "at_ms",
        "weight",
        "baseline_error_rate",
        "candidate_error_rate",
        "baseline_p99_ms",
        "candidate_p99_ms",
    ] {
        assert!(sample[field].is_number(), "{field}");
    }

    for path in [
        "/deployments/nope",
        "/deployments/nope/metrics",
        "/deployments/nope/differences",
        "/deployments/nope/events",
        "/deployments/nope/history",
        "/deployments/nope/gate",
    ] {
        let answer = api.get(path).await;
        assert_error(&answer, StatusCode::NOT_FOUND, None);
        assert_eq!(answer.json["error"], "no deployment named `nope`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded() {
    let rollout = rollout_with_traffic(false, 5).await;
    let api = Api::serve(
        Admin::new()
            .history(3, Duration::ZERO)
            .deployment("a", rollout),
    )
    .await;
    for _ in 0..6 {
        api.get("/deployments/a").await;
    }
    let history = api.get("/deployments/a/history").await;
    assert_eq!(history.json["samples"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_the_policy_evidence() {
    let rollout = rollout_with_traffic(true, 50).await;
    rollout.step(); // score 0 < 80: rolled back, with evidence
    assert_eq!(rollout.stage(), Stage::RolledBack);
    let api = Api::serve(Admin::new().deployment("checkout", rollout)).await;

    let events = api.get("/deployments/checkout/events").await;
    assert_eq!(events.status, StatusCode::OK);
    let event = &events.json["events"][0];
    assert_eq!(
        (event["from"].as_str(), event["to"].as_str()),
        (Some("shadow"), Some("rolled_back"))
    );
    assert_eq!(event["actor"], "policy");
    assert_eq!(event["decision"]["action"], "rollback");
    let checks = event["evidence"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "score" && c["crossed"] == true),
        "{}",
        events.text
    );
    let show = api.get("/deployments/checkout").await;
    assert_eq!(show.json["last_event"], *event);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_answers_200_or_412_with_its_reasons() {
    let healthy = rollout_with_traffic(false, 150).await;
    let faulty = rollout_with_traffic(true, 150).await;
    let young = rollout_with_traffic(false, 20).await;
    let rolled_back = rollout_with_traffic(false, 150).await;
    rolled_back.abort().unwrap();
    let api = Api::serve(
        Admin::new()
            .deployment("healthy", healthy)
            .deployment("faulty", faulty)
            .deployment("young", young)
            .deployment("rolled-back", rolled_back),
    )
    .await;

    let ok = api.get("/deployments/healthy/gate").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["healthy"], true);
    assert_eq!(ok.json["deployment"], "healthy");
    assert_eq!(ok.json["score"], 100.0);
    assert_eq!(
        ok.json["thresholds"],
        json!({"min_score": 95.0, "min_pairs": 100})
    );
    assert_eq!(ok.json["reason"], "score 100.0 ≥ 95 on 150 pairs");

    // Flagger POSTs its own JSON payload; no token is needed to read.
    let flagger = r#"{"name":"checkout","namespace":"prod","phase":"Progressing","metadata":{}}"#;
    let posted = api
        .call(Method::POST, "/deployments/healthy/gate", None, flagger)
        .await;
    assert_eq!(posted.status, StatusCode::OK);

    let bad = api.get("/deployments/faulty/gate").await;
    assert_eq!(bad.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(bad.json["healthy"], false);
    assert_eq!(bad.json["reason"], "score 0.0 < 95");
    // Argo Rollouts: always 200, the verdict in the body.
    let argo = api.get("/deployments/faulty/gate?always_ok=true").await;
    assert_eq!(
        (argo.status, argo.json["healthy"].as_bool()),
        (StatusCode::OK, Some(false))
    );

    let young = api.get("/deployments/young/gate").await;
    assert_eq!(young.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(young.json["reason"], "20 pairs < 100 needed for a verdict");
    let lenient = api
        .get("/deployments/young/gate?min_pairs=10&min_score=99.5")
        .await;
    assert_eq!(lenient.status, StatusCode::OK, "{}", lenient.text);
    assert_eq!(
        lenient.json["thresholds"],
        json!({"min_score": 99.5, "min_pairs": 10})
    );

    let rolled_back = api.get("/deployments/rolled-back/gate").await;
    assert_eq!(rolled_back.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(rolled_back.json["stage"], "rolled_back");

    for (query, field) in [
        ("min_score=high", "min_score"),
        ("min_score=101", "min_score"),
        ("min_pairs=-3", "min_pairs"),
        ("always_ok=maybe", "always_ok"),
        ("verbose=1", "verbose"),
    ] {
        let answer = api.get(&format!("/deployments/healthy/gate?{query}")).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_gate_thresholds_apply() {
    let rollout = rollout_with_traffic(false, 30).await;
    let gate = GateConfig {
        min_score: 99.0,
        min_pairs: 25,
    };
    let api = Api::serve(Admin::new().gate(gate).deployment("a", rollout)).await;
    let answer = api.get("/deployments/a/gate").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.json["thresholds"],
        json!({"min_score": 99.0, "min_pairs": 25})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_require_the_bearer_token() {
    let rollout = rollout_with_traffic(false, 5).await;
    let api = Api::serve(Admin::new().token(TOKEN).deployment("a", rollout.clone())).await;
    let read_only = Api::serve(Admin::new().deployment("a", rollout.clone())).await;

    for op in [
        "shadow", "testing", "promote", "pause", "resume", "rollback",
    ] {
        let path = format!("/deployments/a/{op}");
        let body = r#"{"weight": 0.1}"#;
        let none = api.call(Method::POST, &path, None, body).await;
        assert_error(&none, StatusCode::UNAUTHORIZED, None);
        assert!(none.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let wrong = api
            .call(Method::POST, &path, Some("s3cret-tokeN"), body)
            .await;
        assert_error(&wrong, StatusCode::FORBIDDEN, None);
        let prefix = api.call(Method::POST, &path, Some("s3cret"), body).await;
        assert_error(&prefix, StatusCode::FORBIDDEN, None);
        let unset = read_only.call(Method::POST, &path, Some(TOKEN), body).await;
        assert_error(&unset, StatusCode::FORBIDDEN, None);
        // Authorisation comes before the deployment is looked up.
        let unknown = api
            .call(Method::POST, &format!("/deployments/nope/{op}"), None, body)
            .await;
        assert_error(&unknown, StatusCode::UNAUTHORIZED, None);
        let unknown = api.post(&format!("/deployments/nope/{op}"), body).await;
        assert_error(&unknown, StatusCode::NOT_FOUND, None);
    }

    // Other schemes are no bearer token.
    let request = Request::post(format!("http://{}/admin/deployments/a/promote", api.addr))
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Full::default())
        .unwrap();
    let response = api.client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(rollout.stage(), Stage::Shadow, "nothing changed");
    assert!(rollout.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_walk_a_rollout_through_its_stages() {
    let rollout = rollout_with_traffic(false, 5).await;
    let api = Api::serve(Admin::new().token(TOKEN).deployment("a", rollout.clone())).await;

    let testing = api
        .post("/deployments/a/testing", r#"{"weight": 0.25}"#)
        .await;
    assert_eq!(testing.status, StatusCode::OK, "{}", testing.text);
    assert_eq!(testing.json["deployment"]["stage"], "testing");
    assert_eq!(testing.json["deployment"]["weight"], 0.25);
    assert_eq!(testing.json["event"]["actor"], "operator");
    assert_eq!(rollout.weights().canary(), 0.25);

    let pause = api.post("/deployments/a/pause", "").await;
    assert_eq!(pause.status, StatusCode::OK);
    assert_eq!(pause.json["deployment"]["paused"], true);
    assert_eq!(pause.json["event"]["message"], "paused");
    let again = api.post("/deployments/a/pause", "").await;
    assert_error(&again, StatusCode::CONFLICT, None);
    assert_eq!(again.json["error"], "the rollout is already paused");
    let resume = api.post("/deployments/a/resume", "").await;
    assert_eq!(
        (resume.status, resume.json["deployment"]["paused"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let again = api.post("/deployments/a/resume", "").await;
    assert_error(&again, StatusCode::CONFLICT, None);

    let promote = api.post("/deployments/a/promote", "").await;
    assert_eq!(promote.status, StatusCode::OK);
    assert_eq!(promote.json["deployment"]["stage"], "live");
    assert_eq!(promote.json["deployment"]["weight"], 1.0);
    let again = api.post("/deployments/a/promote", "").await;
    assert_error(&again, StatusCode::CONFLICT, None);
    assert_eq!(again.json["stage"], "live");
    assert_eq!(
        again.json["error"],
        "cannot move the rollout from stage `live` to `live`"
    );
    let testing = api
        .post("/deployments/a/testing", r#"{"weight": 0.5}"#)
        .await;
    assert_error(&testing, StatusCode::CONFLICT, None);

    let rollback = api.post("/deployments/a/rollback", "").await;
    assert_eq!(rollback.status, StatusCode::OK);
    assert_eq!(rollback.json["deployment"]["stage"], "rolled_back");
    assert_eq!(rollback.json["deployment"]["weight"], 0.0);
    let again = api.post("/deployments/a/rollback", "").await;
    assert_error(&again, StatusCode::CONFLICT, None);
    assert_eq!(again.json["stage"], "rolled_back");

    let shadow = api.post("/deployments/a/shadow", "").await;
    assert_eq!(shadow.status, StatusCode::OK);
    assert_eq!(shadow.json["deployment"]["stage"], "shadow");
    let again = api.post("/deployments/a/shadow", "").await;
    assert_error(&again, StatusCode::CONFLICT, None);
    assert_eq!(again.json["stage"], "shadow");

    let named = api
        .post("/deployments/a/rollback", r#"{"version": "v1"}"#)
        .await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.text);
    assert_eq!(named.json["deployment"]["stable_version"], "v1");
    assert_eq!(rollout.stable_version().as_deref(), Some("v1"));

    let events = api.get("/deployments/a/events").await;
    let messages: Vec<&str> = events.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "testing started by an operator",
            "paused",
            "resumed",
            "promoted by an operator",
            "aborted by an operator",
            "retry: back to shadow",
            "rolled back to `v1` by an operator",
        ]
    );
    let history = api.get("/deployments/a/history").await;
    let stages: Vec<&str> = history.json["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert!(stages.len() >= 7, "a sample after each change: {stages:?}");
    assert!(stages.contains(&"live"), "{stages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_a_400_naming_the_field() {
    let rollout = rollout_with_traffic(false, 5).await;
    let api = Api::serve(Admin::new().token(TOKEN).deployment("a", rollout.clone())).await;

    for (body, field) in [
        ("", "weight"),
        ("{}", "weight"),
        (r#"{"weight": null}"#, "weight"),
        (r#"{"weight": "0.1"}"#, "weight"),
        (r#"{"weight": 1.5}"#, "weight"),
        (r#"{"weight": -0.1}"#, "weight"),
        (r#"{"weight": 0.1, "wieght": 0.2}"#, "wieght"),
        (r#"{"weight": 0.1"#, "body"),
        ("weight=0.1", "body"),
        ("[0.1]", "body"),
        (r#"{"weight": 0.1, "thresholds": 5}"#, "thresholds"),
        (
            r#"{"weight": 0.1, "thresholds": {"threshold": {"critical_threshold": "high"}}}"#,
            "thresholds.threshold.critical_threshold",
        ),
        (
            r#"{"weight": 0.1, "thresholds": {"threshold": {"critical_threshold": 97}}}"#,
            "thresholds.threshold.critical_threshold",
        ),
        (
            r#"{"weight": 0.1, "thresholds": {"threshold": {"critical": 70}}}"#,
            "thresholds.threshold.critical",
        ),
        (
            r#"{"weight": 0.1, "thresholds": {"progressive": {"target": 0}}}"#,
            "thresholds.progressive.target",
        ),
        (
            r#"{"weight": 0.1, "thresholds": {"progressive": {"step": {"linear": "x"}}}}"#,
            "thresholds.progressive.step",
        ),
        (
            r#"{"weight": 0.1, "thresholds": {"guard": {}}}"#,
            "thresholds.guard",
        ),
    ] {
        let answer = api.post("/deployments/a/testing", body).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
    }

    for (body, field) in [
        (r#"{"version": 1}"#, "version"),
        (r#"{"version": "v0"}"#, "version"),
        (r#"{"versoin": "v1"}"#, "versoin"),
        ("v1", "body"),
    ] {
        let answer = api.post("/deployments/a/rollback", body).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, Some(field));
    }
    assert_eq!(rollout.stage(), Stage::Shadow, "nothing changed");

    // axum's own rejection (a body over its 2 MB limit) in the same shape.
    let huge = format!(r#"{{"weight": 0.1, "pad": "{}"}}"#, "x".repeat(3 << 20));
    let answer = api.post("/deployments/a/testing", &huge).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_thresholds_apply_from_the_next_tick() {
    let rollout = rollout_with_traffic(false, 5).await;
    let api = Api::serve(Admin::new().token(TOKEN).deployment("a", rollout.clone())).await;
    // An invalid threshold names its field and changes nothing.
    let bad = r#"{"weight": 0.1, "thresholds": {"threshold": {"critical_threshold": 120}}}"#;
    let answer = api.post("/deployments/a/testing", bad).await;
    assert_error(
        &answer,
        StatusCode::BAD_REQUEST,
        Some("thresholds.threshold.critical_threshold"),
    );
    assert_eq!(rollout.stage(), Stage::Shadow, "nothing changed");

    // A guard no score can pass: the next tick rolls the candidate back.
    let body = r#"{"weight": 0.1, "thresholds": {"threshold": {"rollback_threshold": 100, "critical_threshold": 100, "min_pairs": 1}}}"#;
    let answer = api.post("/deployments/a/testing", body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(rollout.stage(), Stage::Testing);
    assert!(rollout
        .events()
        .iter()
        .any(|e| e.message == "policy replaced by an operator"));
    let mut snapshot = rollout.health().snapshot();
    snapshot.score = 99.9;
    rollout.step_with(&snapshot);
    assert_eq!(
        rollout.stage(),
        Stage::RolledBack,
        "{:#?}",
        rollout.events()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_and_methods_are_json_errors() {
    let api = Api::serve(Admin::new().token(TOKEN)).await;
    let list = api.get("/deployments").await;
    assert_eq!(
        (list.status, &list.json),
        (StatusCode::OK, &json!({"deployments": []}))
    );
    assert_error(&api.get("/nope").await, StatusCode::NOT_FOUND, None);
    assert_error(
        &api.get("/deployments/a/promote").await,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
    );
    assert_error(
        &api.post("/deployments", "").await,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_self_contained_dashboard() {
    let api = Api::serve(Admin::new()).await;
    // Nested at `/admin`: the page is at `/admin` and `/admin/dashboard`.
    for path in ["", "/dashboard"] {
        let page = api.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        assert_eq!(
            page.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(page.text.contains("id=\"stage\""));
        assert!(page.text.contains("/history"));
    }
}
