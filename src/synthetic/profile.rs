use super::shape::RequestShape;
use crate::health::HealthSnapshot;
use crate::policy::{Decision, RollbackPolicy};
use crate::record::{pairs_to_headers, RecordedRequest};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One behavioural group of live traffic: its share of the requests and a
/// representative request to replay.
///
/// Made by [`cluster`](super::cluster), or by hand (it is serde, so
/// profiles may be kept in a file and loaded for a rehearsal):
///
/// ```
/// use tower_shadow::synthetic::SyntheticProfile;
///
/// let profile: SyntheticProfile = serde_json::from_str(r#"{
///     "name": "GET /items/{id}", "share": 0.7, "route": "GET /items/{id}",
///     "template": {"method": "GET", "uri": "/items/11", "headers": [], "body": {"text": ""}}
/// }"#)?;
/// assert_eq!(profile.to_request().uri(), "/items/11");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyntheticProfile {
    /// The profile's name: its representative's route, numbered when
    /// several profiles share a route. Pairs of this profile are recorded
    /// in [`Health`](crate::health::Health) under this endpoint name.
    pub name: String,
    /// Its share of the captured traffic, in `0..=1`.
    pub share: f64,
    /// The representative's route.
    pub route: String,
    /// The representative request, masked (see [`RequestShape`]).
    pub template: RecordedRequest,
}

impl SyntheticProfile {
    /// A profile named `name` with share `share`, represented by `shape`.
    pub fn new(name: impl Into<String>, share: f64, shape: &RequestShape) -> Self {
        Self {
            name: name.into(),
            share,
            route: shape.route.clone(),
            template: shape.request.clone(),
        }
    }

    /// A new request from the template (an unparseable method is `GET`,
    /// an unparseable URI `/`, invalid headers are left out).
    pub fn to_request(&self) -> Request<Full<Bytes>> {
        Self::request_of(&self.template)
    }

    pub(crate) fn request_of(template: &RecordedRequest) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(template.body.to_bytes()));
        *request.method_mut() = Method::from_bytes(template.method.as_bytes()).unwrap_or_default();
        *request.uri_mut() = template.uri.parse().unwrap_or_default();
        *request.headers_mut() = pairs_to_headers(&template.headers);
        request
    }
}

/// Judges each endpoint of `snapshot` on its own — in a rehearsal, each
/// profile (and each synthetic transaction) — with a fresh clone of
/// `policy` at `canary_weight`, so a regression confined to one profile is
/// reported as that profile's.
///
/// Each endpoint's figures (pairs, equivalence, errors, latency, score)
/// are judged as a whole snapshot would be.
///
/// ```
/// use tower_shadow::compare::{Comparator, Exact};
/// use tower_shadow::exchange::Exchange;
/// use tower_shadow::health::Health;
/// use tower_shadow::policy::{Decision, ThresholdPolicy};
/// use tower_shadow::synthetic::judge_profiles;
///
/// let health = Health::new();
/// let ok = Exchange::new(http::StatusCode::OK, Default::default(), "x");
/// let failed = Exchange::new(http::StatusCode::INTERNAL_SERVER_ERROR, Default::default(), "x");
/// for i in 0..200 {
///     health.record_pair("GET /a", &ok, &ok, &Exact.compare(&ok, &ok));
///     let b = if i % 4 == 0 { &failed } else { &ok };
///     health.record_pair("GET /b", &ok, b, &Exact.compare(&ok, b));
/// }
/// let verdicts = judge_profiles(&health.snapshot(), &ThresholdPolicy::new(), 0.1);
/// assert_eq!(verdicts["GET /a"], Decision::Hold);
/// assert!(matches!(verdicts["GET /b"], Decision::Rollback { .. }));
/// ```
pub fn judge_profiles<P: RollbackPolicy + Clone>(
    snapshot: &HealthSnapshot,
    policy: &P,
    canary_weight: f64,
) -> BTreeMap<String, Decision> {
    snapshot
        .endpoints
        .iter()
        .map(|(name, e)| {
            let one = HealthSnapshot {
                window_secs: snapshot.window_secs,
                pairs: e.pairs,
                equivalent: e.equivalent,
                different: e.different,
                baseline_errors: e.baseline_errors,
                candidate_errors: e.candidate_errors,
                noise_pairs: e.noise_pairs,
                baseline_latency: e.baseline_latency,
                candidate_latency: e.candidate_latency,
                top_differences: e.top_differences.clone(),
                noise: e.noise.clone(),
                score: e.score,
                score_parts: e.score_parts,
                ..HealthSnapshot::default()
            };
            (name.clone(), policy.clone().decide(&one, canary_weight))
        })
        .collect()
}
