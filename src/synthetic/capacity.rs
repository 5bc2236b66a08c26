use super::generator::{Generator, RunReport, Target};
use crate::policy::ConfigError;
use serde::{Deserialize, Serialize};

/// The stress steps of a capacity measurement and the thresholds that end
/// it, and its serde form. Every field may be left out.
///
/// ```
/// use tower_shadow::synthetic::CapacityConfig;
///
/// let config: CapacityConfig = serde_json::from_str(r#"{"multipliers": [1, 2, 4], "max_p99_ms": 250}"#)?;
/// assert!(config.validate().is_ok());
/// let bad: CapacityConfig = serde_json::from_str(r#"{"multipliers": [2, 1]}"#)?;
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "invalid capacity config: multipliers: must rise, and be in 0.001..=1000 (1 after 2)"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CapacityConfig {
    /// The stress multipliers tried in turn, rising, each in
    /// `0.001..=1000`, 1 to 64 of them; default 1, 2, 4, 8, 16.
    pub multipliers: Vec<f64>,
    /// The candidate's p99 latency, in milliseconds, above which a step
    /// crosses the threshold; above 0, default 500.
    pub max_p99_ms: f64,
    /// The candidate's error rate above which a step crosses the
    /// threshold, in `0..=1`; default 0.01.
    pub max_error_rate: f64,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        Self {
            multipliers: vec![1.0, 2.0, 4.0, 8.0, 16.0],
            max_p99_ms: 500.0,
            max_error_rate: 0.01,
        }
    }
}

impl CapacityConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = self.multipliers.len();
        if !(1..=64).contains(&n) {
            return Err(ConfigError::invalid(
                "capacity",
                "multipliers",
                format_args!("must hold 1 to 64 values, not {n}"),
            ));
        }
        let mut previous = 0.0;
        for &m in &self.multipliers {
            if !(0.001..=1000.0).contains(&m) || m <= previous {
                return Err(ConfigError::invalid(
                    "capacity",
                    "multipliers",
                    format_args!("must rise, and be in 0.001..=1000 ({m} after {previous})"),
                ));
            }
            previous = m;
        }
        crate::config::in_range("capacity", "max_p99_ms", self.max_p99_ms, 1e-3, 3.6e6)?;
        crate::config::in_range("capacity", "max_error_rate", self.max_error_rate, 0.0, 1.0)
    }
}

/// One stress step of a capacity measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StressStep {
    /// The stress multiplier.
    pub stress: f64,
    /// What the step did.
    pub report: RunReport,
    /// Which threshold the step crossed, if any.
    pub crossed: Option<String>,
}

/// The capacity hint: the request rate at which the candidate's latency
/// or errors cross their thresholds, from stress runs at rising
/// multipliers of the baseline rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CapacityHint {
    /// The achieved rate (requests per second) of the first step that
    /// crossed a threshold; `None` when none did (capacity is above the
    /// highest step).
    pub crossed_at: Option<f64>,
    /// The achieved rate of the last step under every threshold; `None`
    /// when the first step already crossed one. Scale out before traffic
    /// reaches it.
    pub sustained: Option<f64>,
    /// Why the first crossing step crossed.
    pub reason: Option<String>,
    /// Every step run, in order; the measurement stops at the first crossing.
    pub steps: Vec<StressStep>,
}

impl Generator {
    /// Measures the capacity of `service`: runs the generator (without
    /// comparing, as [`drive`](Generator::drive)) at each stress multiplier
    /// of `config` in turn, each for the generator's duration or request
    /// count, and stops at the first step whose candidate p99 latency or
    /// error rate crosses its threshold.
    ///
    /// Invalid settings give a hint with no steps and the error as reason.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tower_shadow::synthetic::{CapacityConfig, Generator, SyntheticProfile};
    ///
    /// let profile: SyntheticProfile = serde_json::from_str(r#"{"name": "GET /", "share": 1, "route": "GET /",
    ///     "template": {"method": "GET", "uri": "/", "headers": [], "body": {"text": ""}}}"#).unwrap();
    /// // A service that handles 4 requests at a time, 10 ms each: 400 per second at most.
    /// let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    /// let service = tower::service_fn(move |_req: http::Request<_>| {
    ///     let slots = slots.clone();
    ///     async move {
    ///         let _slot = slots.acquire().await.unwrap();
    ///         tokio::time::sleep(Duration::from_millis(10)).await;
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    ///     }
    /// });
    /// let generator = Generator::builder(vec![profile])
    ///     .rate(100.0)
    ///     .duration(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let mut config = CapacityConfig::default();
    /// config.max_p99_ms = 50.0;
    /// let hint = generator.capacity(service, &config).await;
    /// assert_eq!(hint.sustained.map(f64::round), Some(400.0)); // × 4 still fine
    /// assert!(hint.crossed_at.unwrap() < 800.0); // × 8 saturates
    /// assert!(hint.reason.unwrap().starts_with("p99"));
    /// # }
    /// ```
    pub async fn capacity<C: Target>(&self, service: C, config: &CapacityConfig) -> CapacityHint {
        let mut hint = CapacityHint {
            crossed_at: None,
            sustained: None,
            reason: None,
            steps: Vec::new(),
        };
        if let Err(error) = config.validate() {
            hint.reason = Some(error.to_string());
            return hint;
        }
        for &stress in &config.multipliers {
            let report = self.load(None::<C>, service.clone(), stress).await;
            let p99 = report.candidate_latency.p99_ms;
            let errors = report.error_rate();
            let crossed = if errors > config.max_error_rate {
                Some(format!(
                    "error rate {errors:.4} > {} at {:.1} requests/s",
                    config.max_error_rate, report.rate
                ))
            } else if p99 > config.max_p99_ms {
                Some(format!(
                    "p99 {p99:.1} ms > {} ms at {:.1} requests/s",
                    config.max_p99_ms, report.rate
                ))
            } else {
                None
            };
            let rate = report.rate;
            hint.steps.push(StressStep {
                stress,
                report,
                crossed: crossed.clone(),
            });
            match crossed {
                Some(reason) => {
                    hint.crossed_at = Some(rate);
                    hint.reason = Some(reason);
                    break;
                }
                None => hint.sustained = Some(rate),
            }
        }
        hint
    }
}
