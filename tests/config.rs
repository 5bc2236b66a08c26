//! Every configuration form: JSON round trips, one test per validation
//! error (each naming the field and what is allowed), and a loaded config
//! shaping a real stack.

use axum::{body::Body, routing::get, Router};
use http_body_util::BodyExt;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use tower::ServiceExt;
use tower_shadow::compare::{ComparatorConfig, JsonComparatorConfig};
use tower_shadow::config::{Config, ConfigError};
use tower_shadow::health::{HealthConfig, NoiseThresholds};
use tower_shadow::mask::MaskerConfig;
use tower_shadow::policy::{
    AdaptiveConfig, MultiKpiConfig, PolicyConfig, PredictiveConfig, ProgressiveConfig, RankConfig,
    SequentialConfig, ThresholdConfig,
};
use tower_shadow::record::FileRecorderConfig;
use tower_shadow::rollout::{AdaptiveShadowing, RolloutConfig};
use tower_shadow::router::RouterConfig;
use tower_shadow::shadow::{MarkerConfig, SamplerConfig, ShadowConfig};

/// Reads `json`, checks it differs from `default` (so the round trip is
/// not of defaults alone), writes it, reads it back: the same value.
fn round_trip<T>(json: &str, default: Option<T>) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value: T = serde_json::from_str(json).unwrap();
    if let Some(default) = default {
        assert_ne!(value, default, "{json} reads as the default");
    }
    let written = serde_json::to_string(&value).unwrap();
    let back: T = serde_json::from_str(&written).unwrap();
    assert_eq!(back, value, "{written}");
    value
}

#[test]
fn every_config_round_trips() {
    round_trip(
        r#"{"window": "2m", "buckets": 24, "max_endpoints": 8, "max_paths": 16,
            "noise": {"relative": 0.3, "absolute": 0.001}}"#,
        Some(HealthConfig::default()),
    );
    round_trip(
        r#"{"relative": 0.5, "absolute": 0.01}"#,
        Some(NoiseThresholds::default()),
    );
    round_trip(
        r#"{"name": "x-mirror", "value": "yes"}"#,
        Some(MarkerConfig::default()),
    );
    for sampler in [
        r#""always""#,
        r#"{"random": {"percent": 5}}"#,
        r#"{"random": {"percent": 5, "seed": 42}}"#,
        r#"{"by_key": {"header": "x-user-id", "percent": 5}}"#,
        r#"{"by_key": {"cookie": "session", "percent": 50, "seed": 3, "when_missing": true}}"#,
        r#"{"rate_limited": {"per_second": 10, "inner": {"random": {"percent": 1}}}}"#,
    ] {
        round_trip::<SamplerConfig>(sampler, None);
    }
    round_trip(
        r#"{"defaults": false, "key": "0123456789abcdef0123", "redact_headers": ["x-api-key"],
            "pseudonymize_headers": ["x-user-id"], "keep_headers": ["authorization"],
            "redact_paths": ["/card/number"], "pseudonymize_paths": ["/users/*/email"]}"#,
        Some(MaskerConfig::default()),
    );
    round_trip::<ComparatorConfig>(r#""standard""#, None);
    round_trip(
        r#"{"json": {"ignore": ["/meta/timestamp"], "tolerance": {"/price": {"relative": 0.01}},
                     "unordered": ["/tags"], "shape": {"/id": "uuid"}, "max_depth": 32}}"#,
        Some(ComparatorConfig::default()),
    );
    round_trip(
        r#"{"ignore": ["/a"], "max_differences": 5}"#,
        Some(JsonComparatorConfig::default()),
    );
    round_trip(
        r#"{"sampler": {"by_key": {"header": "x-tenant-id", "percent": 20}},
            "methods": ["GET", "POST"], "max_body_bytes": 65536, "max_in_flight": 32,
            "shadow_timeout": "750ms", "correlation_header": "x-request-id",
            "marker": {"name": "x-mirror", "value": "1"},
            "masker": {"redact_headers": ["x-api-key"]},
            "comparator": {"json": {"ignore": ["/meta"]}}}"#,
        Some(ShadowConfig::default()),
    );
    round_trip(
        r#"{"sticky_header": "x-user-id"}"#,
        Some(RouterConfig::default()),
    );
    for policy in [
        r#""standard""#,
        r#"{"threshold": {"rollback_threshold": 97}}"#,
        r#"{"progressive": {"step": {"exponential": {"first": 0.01, "factor": 2}}}}"#,
        r#"{"multi_kpi": {"kpis": {"db_query_ms": 1.3}, "max_warnings": 0}}"#,
        r#"{"rank": {"looks": 20}}"#,
        r#"{"sequential": {"false_alarm_rate": 0.001}}"#,
        r#"{"adaptive": {"kpis": ["db_query_ms"], "warmup": 30}}"#,
        r#"{"predictive": {"horizon": 6}}"#,
        r#"{"guarded": {"guard": {"threshold": {}}, "driver": {"progressive": {"target": 0.5}}}}"#,
        r#"{"any": [{"threshold": {}}, {"sequential": {}}]}"#,
        r#"{"all": [{"rank": {}}, {"predictive": {}}]}"#,
        r#"{"min_pairs": {"min": 500, "policy": "standard"}}"#,
    ] {
        round_trip::<PolicyConfig>(policy, None);
    }
    round_trip(
        r#"{"critical_threshold": 70}"#,
        Some(ThresholdConfig::default()),
    );
    round_trip(r#"{"target": 0.5}"#, Some(ProgressiveConfig::default()));
    round_trip(r#"{"max_warnings": 3}"#, Some(MultiKpiConfig::default()));
    round_trip(r#"{"window_ticks": 3}"#, Some(RankConfig::default()));
    round_trip(
        r#"{"max_mismatch_rate": null}"#,
        Some(SequentialConfig::default()),
    );
    round_trip(r#"{"lambda": 0.5}"#, Some(AdaptiveConfig::default()));
    round_trip(r#"{"alpha": 0.3}"#, Some(PredictiveConfig::default()));
    round_trip(
        r#"{"percent": 5, "min": 1, "max": 50}"#,
        Some(AdaptiveShadowing::new(0.0, 0.0, 100.0)),
    );
    round_trip(
        r#"{"interval": "30s", "validation": "5m", "testing_weight": 0.01, "max_events": 50,
            "adaptive": {"percent": 5, "min": 1, "max": 50},
            "policy": {"threshold": {}}, "stable_version": "v1", "candidate_version": "v2"}"#,
        Some(RolloutConfig::default()),
    );
    round_trip(
        r#"{"path": "pairs.jsonl", "max_bytes": 1048576, "max_files": 2, "queue": 64}"#,
        Some(FileRecorderConfig::new("pairs.jsonl")),
    );
    let config = round_trip(
        include_str!("../examples/config.json"),
        Some(Config::default()),
    );
    assert!(config.validate().is_ok());
    let written = serde_json::to_string_pretty(&config).unwrap();
    assert_eq!(Config::from_json(&written), Ok(config));
}

#[test]
fn an_empty_document_is_the_defaults() {
    assert_eq!(Config::from_json("{}"), Ok(Config::default()));
    assert!(Config::default().validate().is_ok());
    let written = serde_json::to_string(&Config::default()).unwrap();
    assert_eq!(Config::from_json(&written), Ok(Config::default()));
}

#[test]
fn durations_take_milliseconds_or_units() {
    let interval = |json: &str| {
        Config::from_json(&format!(r#"{{"rollout": {{"interval": {json}}}}}"#))
            .map(|c| c.rollout.interval.as_millis())
    };
    assert_eq!(interval("1500"), Ok(1500));
    assert_eq!(interval(r#""250ms""#), Ok(250));
    assert_eq!(interval(r#""5s""#), Ok(5_000));
    assert_eq!(interval(r#""2m""#), Ok(120_000));
    assert_eq!(interval(r#""1h""#), Ok(3_600_000));
    let error = interval(r#""5 minutes""#).unwrap_err();
    assert_eq!(error.field(), "rollout.interval");
    assert!(
        error.rule().contains(r#""250ms", "5s", "2m" or "1h""#),
        "{error}"
    );
    assert!(interval("-5").unwrap_err().rule().contains("0 or more"));
    assert!(interval("1.5")
        .unwrap_err()
        .rule()
        .contains("whole milliseconds"));
}

/// Loading `json` fails at `field`, with a rule containing `allowed`, and
/// the message shows both.
fn rejects(json: &str, field: &str, allowed: &str) -> ConfigError {
    let error = Config::from_json(json).unwrap_err();
    assert_eq!(error.field(), field, "{error}");
    assert!(error.rule().contains(allowed), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(field) && message.contains(allowed),
        "{message}"
    );
    error
}

macro_rules! rejects {
    ($($name:ident: $json:expr => $field:expr, $allowed:expr;)*) => {$(
        #[test]
        fn $name() {
            rejects($json, $field, $allowed);
        }
    )*};
}

rejects! {
    // The document itself.
    not_json: "{" => "", "EOF while parsing";
    not_json_inside: r#"{"shadow": {"max_in_flight": 1,}}"# => "shadow", "trailing comma";
    trailing_text: "{} {}" => "", "trailing characters";
    unknown_section: r#"{"shadows": {}}"# => "shadows", "unknown field `shadows`, expected one of";
    wrong_type: r#"{"shadow": {"max_in_flight": "many"}}"# => "shadow.max_in_flight", "expected usize";
    unknown_sampler: r#"{"shadow": {"sampler": {"sometimes": {}}}}"# => "shadow.sampler", "unknown variant `sometimes`";
    unknown_policy: r#"{"rollout": {"policy": "strict"}}"# => "rollout.policy", "unknown variant `strict`";

    // health
    health_window: r#"{"health": {"window": 0}}"# => "health.window", "must be in 1ms..=24h, not 0ms";
    health_buckets: r#"{"health": {"buckets": 0}}"# => "health.buckets", "must be in 1..=1024, not 0";
    health_max_endpoints: r#"{"health": {"max_endpoints": 0}}"# => "health.max_endpoints", "must be in 1..=4096, not 0";
    health_max_paths: r#"{"health": {"max_paths": 5000}}"# => "health.max_paths", "must be in 1..=4096, not 5000";
    health_noise_relative: r#"{"health": {"noise": {"relative": 1.5}}}"# => "health.noise.relative", "must be in 0..=1, not 1.5";
    health_noise_absolute: r#"{"health": {"noise": {"absolute": -0.1}}}"# => "health.noise.absolute", "must be in 0..=1, not -0.1";

    // shadow
    shadow_random_percent: r#"{"shadow": {"sampler": {"random": {"percent": 120}}}}"#
        => "shadow.sampler.random.percent", "must be in 0..=100, not 120";
    shadow_by_key_neither: r#"{"shadow": {"sampler": {"by_key": {"percent": 5}}}}"#
        => "shadow.sampler.by_key", "exactly one of `header` and `cookie`";
    shadow_by_key_both: r#"{"shadow": {"sampler": {"by_key": {"header": "x-a", "cookie": "b", "percent": 5}}}}"#
        => "shadow.sampler.by_key", "exactly one of `header` and `cookie`";
    shadow_by_key_header: r#"{"shadow": {"sampler": {"by_key": {"header": "x a", "percent": 5}}}}"#
        => "shadow.sampler.by_key.header", "must be a header name";
    shadow_by_key_cookie: r#"{"shadow": {"sampler": {"by_key": {"cookie": "", "percent": 5}}}}"#
        => "shadow.sampler.by_key.cookie", "must not be empty";
    shadow_by_key_percent: r#"{"shadow": {"sampler": {"by_key": {"header": "x-a", "percent": -1}}}}"#
        => "shadow.sampler.by_key.percent", "must be in 0..=100, not -1";
    shadow_rate_limited: r#"{"shadow": {"sampler": {"rate_limited": {"per_second": 0}}}}"#
        => "shadow.sampler.rate_limited.per_second", "must be a finite number above 0, not 0";
    shadow_rate_limited_inner: r#"{"shadow": {"sampler": {"rate_limited": {"per_second": 5, "inner": {"random": {"percent": 101}}}}}}"#
        => "shadow.sampler.rate_limited.inner.random.percent", "must be in 0..=100, not 101";
    shadow_methods: r#"{"shadow": {"methods": ["GET", "post"]}}"#
        => "shadow.methods", "must be HTTP method names in capitals, such as POST, not \"post\"";
    shadow_max_body_bytes: r#"{"shadow": {"max_body_bytes": 1073741824}}"#
        => "shadow.max_body_bytes", "must be in 0..=268435456, not 1073741824";
    shadow_max_in_flight: r#"{"shadow": {"max_in_flight": 100000}}"#
        => "shadow.max_in_flight", "must be in 0..=65536, not 100000";
    shadow_timeout_zero: r#"{"shadow": {"shadow_timeout": "0s"}}"#
        => "shadow.shadow_timeout", "must be in 1ms..=1h, not 0ms";
    shadow_timeout_long: r#"{"shadow": {"shadow_timeout": "2h"}}"#
        => "shadow.shadow_timeout", "must be in 1ms..=1h, not 2h";
    shadow_correlation_header: r#"{"shadow": {"correlation_header": ""}}"#
        => "shadow.correlation_header", "must be a header name";
    shadow_marker_name: r#"{"shadow": {"marker": {"name": "x shadow"}}}"#
        => "shadow.marker.name", "must be a header name";
    shadow_marker_value: r#"{"shadow": {"marker": {"value": "a\nb"}}}"#
        => "shadow.marker.value", "must be visible ASCII";
    shadow_masker_key: r#"{"shadow": {"masker": {"key": "short"}}}"#
        => "shadow.masker.key", "must be 16 or more bytes long, not 5";
    shadow_masker_header: r#"{"shadow": {"masker": {"pseudonymize_headers": ["x user"]}}}"#
        => "shadow.masker.pseudonymize_headers", "must be a header name";
    shadow_masker_path: r#"{"shadow": {"masker": {"redact_paths": ["card"]}}}"#
        => "shadow.masker.redact_paths", "must be empty or start with `/`";
    shadow_comparator: r#"{"shadow": {"comparator": {"json": {"max_depth": 0}}}}"#
        => "shadow.comparator.json.max_depth", "must be 1 to 256, not 0";

    // router
    router_sticky_header: r#"{"router": {"sticky_header": "x user"}}"#
        => "router.sticky_header", "must be a header name";

    // rollout
    rollout_interval: r#"{"rollout": {"interval": "2d"}}"#
        => "rollout.interval", "expected a duration";
    rollout_interval_range: r#"{"rollout": {"interval": 0}}"#
        => "rollout.interval", "must be in 1ms..=24h, not 0ms";
    rollout_validation: r#"{"rollout": {"validation": "25h"}}"#
        => "rollout.validation", "must be in 0ms..=24h, not 25h";
    rollout_testing_weight: r#"{"rollout": {"testing_weight": 1.5}}"#
        => "rollout.testing_weight", "must be in 0..=1, not 1.5";
    rollout_max_events: r#"{"rollout": {"max_events": 0}}"#
        => "rollout.max_events", "must be in 1..=1000000, not 0";
    rollout_adaptive_min: r#"{"rollout": {"adaptive": {"percent": 5, "min": -1, "max": 50}}}"#
        => "rollout.adaptive.min", "must be in 0..=100, not -1";
    rollout_adaptive_max: r#"{"rollout": {"adaptive": {"percent": 5, "min": 10, "max": 5}}}"#
        => "rollout.adaptive.max", "must be in 10..=100, not 5";
    rollout_adaptive_percent: r#"{"rollout": {"adaptive": {"percent": 60, "min": 1, "max": 50}}}"#
        => "rollout.adaptive.percent", "must be in 1..=50, not 60";
    rollout_policy_threshold: r#"{"rollout": {"policy": {"threshold": {"rollback_threshold": 101}}}}"#
        => "rollout.policy.threshold.rollback_threshold", "must be in 0..=100, not 101";
    rollout_policy_nested: r#"{"rollout": {"policy": {"guarded": {"guard": {"any": [{"threshold": {}}, {"progressive": {"target": 2}}]}, "driver": "standard"}}}}"#
        => "rollout.policy.guarded.guard.any[1].progressive.target", "not 2";
    rollout_policy_empty_any: r#"{"rollout": {"policy": {"any": []}}}"#
        => "rollout.policy.any", "must hold 1 or more policies, not 0";
    rollout_policy_min_pairs: r#"{"rollout": {"policy": {"min_pairs": {"min": 5, "policy": {"sequential": {"false_alarm_rate": 0.9}}}}}}"#
        => "rollout.policy.min_pairs.policy.sequential.false_alarm_rate", "must be in 0..=0.5, not 0.9";

    // record
    record_path: r#"{"record": {"path": ""}}"# => "record.path", "must not be empty";
    record_path_missing: r#"{"record": {}}"# => "record", "missing field `path`";
    record_max_bytes: r#"{"record": {"path": "p.jsonl", "max_bytes": 10}}"#
        => "record.max_bytes", "must be in 1024..=1099511627776, not 10";
    record_max_files: r#"{"record": {"path": "p.jsonl", "max_files": 5000}}"#
        => "record.max_files", "must be in 0..=1000, not 5000";
    record_queue: r#"{"record": {"path": "p.jsonl", "queue": 0}}"#
        => "record.queue", "must be in 1..=1000000, not 0";
}

#[cfg(feature = "admin")]
mod admin {
    use super::*;
    use tower_shadow::admin::{AdminConfig, GateConfig};

    #[test]
    fn admin_configs_round_trip() {
        round_trip(r#"{"min_score": 99}"#, Some(GateConfig::default()));
        let admin = round_trip(
            r#"{"gate": {"min_pairs": 500}, "history_capacity": 720, "history_every": "5s"}"#,
            Some(AdminConfig::default()),
        );
        let config = Config::from_json(r#"{"admin": {"history_capacity": 720}}"#).unwrap();
        assert_eq!(config.admin.history_capacity, admin.history_capacity);
    }

    rejects! {
        admin_gate_min_score: r#"{"admin": {"gate": {"min_score": 101}}}"#
            => "admin.gate.min_score", "must be in 0..=100, not 101";
        admin_history_capacity: r#"{"admin": {"history_capacity": 0}}"#
            => "admin.history_capacity", "must be in 1..=100000, not 0";
        admin_history_every: r#"{"admin": {"history_every": 0}}"#
            => "admin.history_every", "must be in 1ms..=1h, not 0ms";
    }
}

/// Without the `admin` feature the section is unknown, not silently ignored.
#[cfg(not(feature = "admin"))]
#[test]
fn admin_needs_its_feature() {
    rejects(r#"{"admin": {}}"#, "admin", "unknown field `admin`");
}

#[test]
fn errors_name_the_part_configured() {
    let error = rejects(
        r#"{"rollout": {"policy": {"threshold": {"step_down": 1}}}}"#,
        "rollout.policy.threshold.step_down",
        "must be in 0..1 (1 excluded), not 1",
    );
    assert!(error.to_string().starts_with("invalid policy config: "));
    let error = rejects(
        r#"{"shadow": {"max_in_flight": 70000}}"#,
        "shadow.max_in_flight",
        "0..=65536",
    );
    assert!(error.to_string().starts_with("invalid shadow config: "));
    // The same error type behind the older paths.
    let policy: tower_shadow::policy::ConfigError = error.clone();
    let compare: tower_shadow::compare::ConfigError = policy;
    assert_eq!(compare, error);
}

/// The loaded settings shape the stack: only keyed requests of the
/// configured methods are shadowed, and the candidate sees the marker.
#[tokio::test]
async fn a_loaded_config_shapes_the_stack() {
    let config = Config::from_json(
        r#"{
            "shadow": {
                "sampler": {"by_key": {"header": "x-user-id", "percent": 100}},
                "methods": ["GET", "POST"],
                "marker": {"name": "x-mirror", "value": "yes"}
            },
            "rollout": {"policy": {"threshold": {}}}
        }"#,
    )
    .unwrap();
    let rollout = config.rollout().unwrap();
    let stable = Router::new().route("/", get(|| async { "v1" }).post(|| async { "v1" }));
    let candidate = Router::new().route(
        "/",
        get(|h: http::HeaderMap| async move { format!("{:?}", h.get("x-mirror")) })
            .post(|| async { "v1" }),
    );
    let app = config.service(&rollout, stable, candidate).unwrap();
    let send = |method: &str, user: Option<&str>| {
        let mut request = http::Request::builder().method(method).uri("/");
        if let Some(user) = user {
            request = request.header("x-user-id", user);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    for (method, user) in [
        ("GET", None),
        ("GET", Some("u1")),
        ("POST", Some("u2")),
        ("PUT", Some("u3")),
    ] {
        let response = send(method, user).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    rollout.health().idle().await;
    let snapshot = rollout.health().snapshot();
    // GET without a key and PUT are not shadowed; the GET with a key is
    // (and differs: the candidate echoes the marker), so is the POST.
    assert_eq!((snapshot.pairs, snapshot.different), (2, 1));
    let sample = &snapshot.top_differences[0].sample;
    assert!(format!("{sample:?}").contains("yes"), "{sample:?}");
}

/// The `router` section reaches the stack: with a sticky header, each user
/// stays on one version, and the users split between both.
#[tokio::test]
async fn a_loaded_sticky_header_keeps_users_on_one_version() {
    let config = Config::from_json(r#"{"router": {"sticky_header": "x-user-id"}}"#).unwrap();
    let rollout = config.rollout().unwrap();
    rollout.start_testing(0.5).unwrap();
    let stable = Router::new().route("/", get(|| async { "v1" }));
    let candidate = Router::new().route("/", get(|| async { "v2" }));
    let app = config.service(&rollout, stable, candidate).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for user in 0..40 {
        let mut versions = std::collections::BTreeSet::new();
        for _ in 0..5 {
            let request = http::Request::get("/")
                .header("x-user-id", format!("user-{user}"))
                .body(Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let version = *response
                .extensions()
                .get::<tower_shadow::router::Version>()
                .unwrap();
            response.into_body().collect().await.unwrap();
            versions.insert(version.to_string());
        }
        assert_eq!(versions.len(), 1, "user-{user} moved: {versions:?}");
        seen.extend(versions);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    rollout.health().idle().await;
}
