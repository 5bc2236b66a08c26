//! The endpoints.

use super::auth::Authorized;
use super::body::{Fields, JsonBody};
use super::error::{self, ApiError};
use super::gate::{self, GateQuery};
use super::history::{rate, Sample};
use super::{dashboard, Deployment, Shared};
use crate::health::{EndpointSnapshot, HealthSnapshot, LatencySummary, PathReport, ScoreParts};
use crate::policy::{
    guarded, ConfigError, Guarded, ProgressiveConfig, ProgressivePolicy, Standard, ThresholdConfig,
    ThresholdPolicy,
};
use crate::rollout::{Event, RolloutError, Stage, VersionInfo};
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::{StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard", get(dashboard::page))
        .route("/deployments", get(list))
        .route("/deployments/{name}", get(show))
        .route("/deployments/{name}/metrics", get(metrics))
        .route("/deployments/{name}/differences", get(differences))
        .route("/deployments/{name}/events", get(events))
        .route("/deployments/{name}/history", get(history))
        .route("/deployments/{name}/gate", get(gate).post(gate))
        .route("/deployments/{name}/shadow", post(shadow))
        .route("/deployments/{name}/testing", post(testing))
        .route("/deployments/{name}/promote", post(promote))
        .route("/deployments/{name}/pause", post(pause))
        .route("/deployments/{name}/resume", post(resume))
        .route("/deployments/{name}/rollback", post(rollback))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(shared)
}

/// The deployment named in the path: 404 when there is none.
struct Target {
    name: String,
    deployment: Arc<Deployment>,
}

impl FromRequestParts<Arc<Shared>> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let Path(name) = Path::<String>::from_request_parts(parts, shared)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        let deployment = shared
            .deployments
            .get(&name)
            .cloned()
            .ok_or_else(|| ApiError::unknown(&name))?;
        Ok(Self { name, deployment })
    }
}

impl Target {
    /// A fresh snapshot, recorded in the history when a sample is due
    /// (`force`: after a change, always).
    fn snapshot(&self, force: bool) -> HealthSnapshot {
        let snapshot = self.deployment.rollout.health().snapshot();
        self.deployment.observe(&snapshot, force);
        snapshot
    }

    fn view(&self, snapshot: &HealthSnapshot) -> DeploymentView {
        let rollout = &self.deployment.rollout;
        DeploymentView {
            name: self.name.clone(),
            stage: rollout.stage(),
            paused: rollout.is_paused(),
            weight: rollout.weights().canary(),
            stable_version: rollout.stable_version(),
            versions: rollout.versions(),
            health: HealthView::of(snapshot),
            last_event: rollout.events().pop(),
        }
    }

    /// The answer to a change: the event and the deployment after it.
    fn changed(&self, result: Result<Option<Event>, RolloutError>) -> Result<Response, ApiError> {
        let rollout = &self.deployment.rollout;
        let event = result.map_err(|e| ApiError::conflict(e, rollout.stage().as_str()))?;
        let snapshot = self.snapshot(true);
        let event = event.or_else(|| rollout.events().pop());
        Ok(Json(Changed {
            event,
            deployment: self.view(&snapshot),
        })
        .into_response())
    }
}

impl Deployment {
    fn observe(&self, snapshot: &HealthSnapshot, force: bool) {
        let now = Instant::now();
        let mut history = self.history.lock();
        if history.due(now, force) {
            let rollout = &self.rollout;
            let sample = Sample::of(
                rollout.stage(),
                rollout.is_paused(),
                rollout.weights().canary(),
                snapshot,
            );
            history.push(now, sample);
        }
    }
}

#[derive(Serialize)]
struct Summary {
    name: String,
    stage: Stage,
    paused: bool,
    weight: f64,
    score: f64,
    pairs: u64,
    stable_version: Option<String>,
}

#[derive(Serialize)]
struct DeploymentView {
    name: String,
    stage: Stage,
    paused: bool,
    weight: f64,
    stable_version: Option<String>,
    versions: Vec<VersionInfo>,
    health: HealthView,
    last_event: Option<Event>,
}

#[derive(Serialize)]
struct HealthView {
    window_secs: f64,
    score: f64,
    score_parts: ScoreParts,
    pairs: u64,
    equivalent: u64,
    different: u64,
    difference_rate: f64,
    baseline_errors: u64,
    candidate_errors: u64,
    baseline_error_rate: f64,
    candidate_error_rate: f64,
    baseline_latency: LatencySummary,
    candidate_latency: LatencySummary,
    sampled: u64,
    skipped: u64,
    in_flight: u64,
}

impl HealthView {
    fn of(s: &HealthSnapshot) -> Self {
        Self {
            window_secs: s.window_secs,
            score: s.score,
            score_parts: s.score_parts,
            pairs: s.pairs,
            equivalent: s.equivalent,
            different: s.different,
            difference_rate: rate(s.different, s.pairs),
            baseline_errors: s.baseline_errors,
            candidate_errors: s.candidate_errors,
            baseline_error_rate: rate(s.baseline_errors, s.pairs),
            candidate_error_rate: rate(s.candidate_errors, s.pairs),
            baseline_latency: s.baseline_latency,
            candidate_latency: s.candidate_latency,
            sampled: s.sampled,
            skipped: s.skipped,
            in_flight: s.in_flight,
        }
    }
}

#[derive(Serialize)]
struct Changed {
    event: Option<Event>,
    deployment: DeploymentView,
}

#[derive(Serialize)]
struct Differences<'a> {
    pairs: u64,
    different: u64,
    top_differences: &'a [PathReport],
    noise: &'a [PathReport],
    endpoints: BTreeMap<&'a str, EndpointDifferences<'a>>,
}

#[derive(Serialize)]
struct EndpointDifferences<'a> {
    pairs: u64,
    different: u64,
    top_differences: &'a [PathReport],
}

impl<'a> EndpointDifferences<'a> {
    fn of(e: &'a EndpointSnapshot) -> Self {
        Self {
            pairs: e.pairs,
            different: e.different,
            top_differences: &e.top_differences,
        }
    }
}

async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let deployments: Vec<Summary> = shared
        .deployments
        .iter()
        .map(|(name, deployment)| {
            let rollout = &deployment.rollout;
            let snapshot = rollout.health().snapshot();
            deployment.observe(&snapshot, false);
            Summary {
                name: name.clone(),
                stage: rollout.stage(),
                paused: rollout.is_paused(),
                weight: rollout.weights().canary(),
                score: snapshot.score,
                pairs: snapshot.pairs,
                stable_version: rollout.stable_version(),
            }
        })
        .collect();
    Json(serde_json::json!({ "deployments": deployments }))
}

async fn show(target: Target) -> Json<DeploymentView> {
    let snapshot = target.snapshot(false);
    Json(target.view(&snapshot))
}

async fn metrics(target: Target) -> Json<HealthSnapshot> {
    Json(target.snapshot(false))
}

async fn differences(target: Target) -> Response {
    let s = target.snapshot(false);
    Json(Differences {
        pairs: s.pairs,
        different: s.different,
        top_differences: &s.top_differences,
        noise: &s.noise,
        endpoints: s
            .endpoints
            .iter()
            .map(|(name, e)| (name.as_str(), EndpointDifferences::of(e)))
            .collect(),
    })
    .into_response()
}

async fn events(target: Target) -> Json<Value> {
    Json(serde_json::json!({
        "deployment": target.name,
        "events": target.deployment.rollout.events(),
    }))
}

async fn history(target: Target) -> Json<Value> {
    target.snapshot(false);
    let history = target.deployment.history.lock();
    Json(serde_json::json!({
        "deployment": target.name,
        "samples": history.samples(),
    }))
}

async fn gate(State(shared): State<Arc<Shared>>, target: Target, uri: Uri) -> Response {
    let query = match GateQuery::parse(uri.query(), shared.gate) {
        Ok(query) => query,
        Err(e) => return e.into_response(),
    };
    let snapshot = target.snapshot(false);
    let verdict = gate::judge(
        &target.name,
        &target.deployment.rollout,
        &snapshot,
        query.thresholds,
    );
    let status = if verdict.healthy || query.always_ok {
        StatusCode::OK
    } else {
        StatusCode::PRECONDITION_FAILED
    };
    (status, Json(verdict)).into_response()
}

async fn shadow(_: Authorized, target: Target) -> Result<Response, ApiError> {
    target.changed(target.deployment.rollout.retry().map(Some))
}

async fn testing(
    _: Authorized,
    target: Target,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut fields =
        body.ok_or_else(|| ApiError::field("weight", "a body like {\"weight\": 0.1} is required"))?;
    let weight = fields
        .number("weight")?
        .ok_or_else(|| ApiError::field("weight", "required: the canary weight, in 0..=1"))?;
    if !(0.0..=1.0).contains(&weight) {
        return Err(ApiError::field(
            "weight",
            format!("must be in 0..=1, not {weight}"),
        ));
    }
    let thresholds = fields.object("thresholds")?;
    fields.finish("", &["weight", "thresholds"])?;
    let policy = thresholds.map(check_thresholds).transpose()?;
    let rollout = &target.deployment.rollout;
    let started = rollout.start_testing(weight);
    if let (Ok(_), Some(policy)) = (&started, policy) {
        // Only once the move is accepted: a refused start changes nothing.
        rollout.set_policy(policy);
    }
    target.changed(started.map(Some))
}

/// Checks `{"threshold": ThresholdConfig, "progressive": ProgressiveConfig}`
/// and builds the policy they describe: the threshold guard over the
/// progressive walk, each part defaulting to the standard policy's.
fn check_thresholds(
    mut fields: Fields,
) -> Result<Guarded<ThresholdPolicy, ProgressivePolicy>, ApiError> {
    let threshold = match fields.object("threshold")? {
        Some(threshold) => Some(config::<ThresholdConfig>(
            "thresholds.threshold.",
            threshold,
            |c| c.validate(),
        )?),
        None => None,
    };
    let progressive = match fields.object("progressive")? {
        Some(progressive) => Some(config::<ProgressiveConfig>(
            "thresholds.progressive.",
            progressive,
            |c| c.validate(),
        )?),
        None => None,
    };
    fields.finish("thresholds.", &["threshold", "progressive"])?;
    let (standard_guard, standard_driver) = Standard::standard().into_inner();
    let invalid = |field: &str, e: ConfigError| ApiError::field(field, e.to_string());
    let guard = match threshold {
        Some(config) => config
            .build()
            .map_err(|e| invalid("thresholds.threshold", e))?,
        None => standard_guard,
    };
    let driver = match progressive {
        Some(config) => config
            .build()
            .map_err(|e| invalid("thresholds.progressive", e))?,
        None => standard_driver,
    };
    Ok(guarded(guard, driver))
}

/// Loads a policy config, naming the faulty field: each field is first
/// loaded alone (every field of a config has a default), so a type error
/// is pinned to its field; then the whole config is validated.
fn config<T: DeserializeOwned>(
    prefix: &str,
    fields: Fields,
    validate: impl Fn(&T) -> Result<(), ConfigError>,
) -> Result<T, ApiError> {
    let value = fields.into_value();
    if let Value::Object(map) = &value {
        for (name, field) in map {
            let alone = Value::Object([(name.clone(), field.clone())].into_iter().collect());
            if let Err(e) = serde_json::from_value::<T>(alone) {
                return Err(ApiError::field(format!("{prefix}{name}"), e.to_string()));
            }
        }
    }
    let config = serde_json::from_value::<T>(value)
        .map_err(|e| ApiError::field(prefix.trim_end_matches('.'), e.to_string()))?;
    validate(&config)
        .map_err(|e| ApiError::field(format!("{prefix}{}", e.field()), e.to_string()))?;
    Ok(config)
}

async fn promote(_: Authorized, target: Target) -> Result<Response, ApiError> {
    target.changed(target.deployment.rollout.promote().map(Some))
}

async fn pause(_: Authorized, target: Target) -> Result<Response, ApiError> {
    target.changed(target.deployment.rollout.pause().map(|()| None))
}

async fn resume(_: Authorized, target: Target) -> Result<Response, ApiError> {
    target.changed(target.deployment.rollout.resume().map(|()| None))
}

async fn rollback(
    _: Authorized,
    target: Target,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let version = match body {
        Some(mut fields) => {
            let version = fields.string("version")?;
            fields.finish("", &["version"])?;
            version
        }
        None => None,
    };
    let rollout = &target.deployment.rollout;
    let result = match version {
        Some(version) => {
            if !rollout.versions().iter().any(|v| v.name == version) {
                return Err(ApiError::field(
                    "version",
                    format!("no version named `{version}` is registered"),
                ));
            }
            rollout.rollback_to(&version)
        }
        None => rollout.abort(),
    };
    target.changed(result.map(Some))
}
