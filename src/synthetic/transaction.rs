use crate::compare::{Comparison, DiffKind, Difference};
use crate::exchange::Exchange;
use crate::health::Health;
use crate::policy::ConfigError;
use crate::record::{RecordedBody, RecordedRequest};
use crate::shadow::call;
use crate::synthetic::SyntheticProfile;
use crate::BoxError;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use tokio::task::JoinHandle;
use tower_service::Service;

/// A scripted check of a critical path: a request and what its answer
/// must be. Serde, so checks can live in a config file.
///
/// ```
/// use std::time::Duration;
/// use tower_shadow::synthetic::Transaction;
///
/// let checkout = Transaction::get("checkout page", "/checkout")
///     .expect_status(200)
///     .expect_body("Pay now")
///     .within(Duration::from_millis(300));
/// assert!(checkout.validate().is_ok());
///
/// let loaded: Transaction = serde_json::from_str(
///     r#"{"name": "health", "request": {"method": "GET", "uri": "/healthz", "headers": [], "body": {"text": ""}}}"#,
/// )?;
/// assert_eq!(loaded.expect_status, 200);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Transaction {
    /// The check's name; its pairs go to the health under the endpoint
    /// `transaction <name>`.
    pub name: String,
    /// The request.
    pub request: RecordedRequest,
    /// The status the answer must have, `100..=999`; default 200.
    #[serde(default = "ok")]
    pub expect_status: u16,
    /// Text the answer's body must contain, if any.
    #[serde(default)]
    pub expect_body: Option<String>,
    /// The answer must arrive within this many milliseconds, if set (above 0).
    #[serde(default)]
    pub within_ms: Option<f64>,
}

fn ok() -> u16 {
    200
}

impl Transaction {
    /// A `GET uri` check expecting a 200.
    pub fn get(name: impl Into<String>, uri: impl Into<String>) -> Self {
        Self::new(
            name,
            RecordedRequest {
                method: "GET".into(),
                uri: uri.into(),
                headers: Vec::new(),
                body: RecordedBody::Text(String::new()),
            },
        )
    }

    /// A check sending `request`, expecting a 200.
    pub fn new(name: impl Into<String>, request: RecordedRequest) -> Self {
        Self {
            name: name.into(),
            request,
            expect_status: ok(),
            expect_body: None,
            within_ms: None,
        }
    }

    /// The status the answer must have.
    pub fn expect_status(mut self, status: u16) -> Self {
        self.expect_status = status;
        self
    }

    /// Text the answer's body must contain.
    pub fn expect_body(mut self, text: impl Into<String>) -> Self {
        self.expect_body = Some(text.into());
        self
    }

    /// The answer must arrive within `limit`.
    pub fn within(mut self, limit: Duration) -> Self {
        self.within_ms = Some(limit.as_secs_f64() * 1e3);
        self
    }

    /// Checks the expectations, naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if StatusCode::from_u16(self.expect_status).is_err() {
            return Err(ConfigError::invalid(
                "transaction",
                format_args!("{}.expect_status", self.name),
                format_args!("must be in 100..=999, not {}", self.expect_status),
            ));
        }
        if let Some(ms) = self.within_ms {
            crate::config::in_range(
                "transaction",
                &format!("{}.within_ms", self.name),
                ms,
                1e-3,
                3.6e6,
            )?;
        }
        Ok(())
    }

    fn endpoint(&self) -> String {
        format!("transaction {}", self.name)
    }

    /// Judges one answer: the differences from what was expected.
    fn judge(&self, answer: &Exchange) -> Vec<Difference> {
        let mut failures = Vec::new();
        if let Some(error) = &answer.error {
            failures.push(Difference::new(
                "error",
                DiffKind::Error,
                None::<&str>,
                Some(&error.message),
            ));
        }
        let status = answer.status.map(|s| s.as_u16());
        if status != Some(self.expect_status) {
            failures.push(Difference::new(
                "status",
                DiffKind::Status,
                Some(self.expect_status),
                status,
            ));
        }
        if let Some(text) = &self.expect_body {
            let found = String::from_utf8_lossy(&answer.body).contains(text.as_str());
            if !found {
                failures.push(Difference::new(
                    "body",
                    DiffKind::Body,
                    Some(format!("contains {text:?}")),
                    Some("missing"),
                ));
            }
        }
        if let Some(ms) = self.within_ms {
            let took = answer.latency.as_secs_f64() * 1e3;
            if took > ms {
                failures.push(Difference::new(
                    "latency",
                    DiffKind::Value,
                    Some(format!("≤ {ms} ms")),
                    Some(format!("{took:.1} ms")),
                ));
            }
        }
        failures
    }
}

/// The settings of [`Transactions`], and their serde form. Every field may
/// be left out.
///
/// ```
/// use tower_shadow::health::Health;
/// use tower_shadow::synthetic::TransactionsConfig;
///
/// let config: TransactionsConfig = serde_json::from_str(r#"{
///     "interval_secs": 30,
///     "transactions": [{"name": "home", "within_ms": 200,
///         "request": {"method": "GET", "uri": "/", "headers": [], "body": {"text": ""}}}]
/// }"#)?;
/// let checks = config.build(Health::new()).unwrap();
/// # let _ = checks;
///
/// let bad: TransactionsConfig = serde_json::from_str(r#"{"interval_secs": 0}"#)?;
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "invalid transactions config: interval_secs: must be in 0.001..=86400, not 0"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TransactionsConfig {
    /// Seconds between runs, `0.001..=86400`; default 60.
    pub interval_secs: f64,
    /// Milliseconds before an answer is given up, `1..=3600000`; default 10 000.
    pub timeout_ms: f64,
    /// The checks, each valid.
    pub transactions: Vec<Transaction>,
}

impl Default for TransactionsConfig {
    fn default() -> Self {
        Self {
            interval_secs: 60.0,
            timeout_ms: 10_000.0,
            transactions: Vec::new(),
        }
    }
}

impl TransactionsConfig {
    /// Checks every field and every transaction, naming the first problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |field: &str, value, lo, hi| {
            crate::config::in_range("transactions", field, value, lo, hi)
        };
        range("interval_secs", self.interval_secs, 0.001, 86400.0)?;
        range("timeout_ms", self.timeout_ms, 1.0, 3_600_000.0)?;
        self.transactions.iter().try_for_each(Transaction::validate)
    }

    /// Checks the settings and builds the checks, recorded into `health`.
    pub fn build(self, health: Health) -> Result<Transactions, ConfigError> {
        self.validate()?;
        Ok(Transactions {
            transactions: self.transactions,
            health,
            interval: Duration::from_secs_f64(self.interval_secs),
            timeout: Duration::from_secs_f64(self.timeout_ms / 1e3),
        })
    }
}

/// The outcome of one transaction run.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TransactionOutcome {
    /// The transaction's name.
    pub name: String,
    /// The candidate's answer.
    pub answer: Exchange,
    /// What differed from the expectations (empty: passed).
    pub failures: Vec<Difference>,
}

impl TransactionOutcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Synthetic transactions: scripted checks run against the candidate, once
/// or on an interval, each counted in its [`Health`] as a pair whose
/// baseline is the expectation (so a failed check is a difference, and a
/// failed answer a candidate error; latency is judged only by `within`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{routing::get, Router};
/// use tower_shadow::health::Health;
/// use tower_shadow::synthetic::{Transaction, Transactions};
///
/// let candidate = Router::new().route("/cart", get(|| async { "empty cart" }));
/// let health = Health::new();
/// let checks = Transactions::new(health.clone())
///     .transaction(Transaction::get("cart", "/cart").expect_body("empty"))
///     .transaction(Transaction::get("orders", "/orders"));
/// let outcomes = checks.run_once(candidate.clone()).await;
/// assert!(outcomes[0].passed());
/// assert!(!outcomes[1].passed()); // 404
/// let snapshot = health.snapshot();
/// assert_eq!(snapshot.endpoints["transaction orders"].different, 1);
///
/// // Every minute, until the handle is dropped:
/// let handle = checks.spawn(candidate);
/// # drop(handle);
/// # }
/// ```
#[derive(Clone)]
pub struct Transactions {
    transactions: Vec<Transaction>,
    health: Health,
    interval: Duration,
    timeout: Duration,
}

impl fmt::Debug for Transactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transactions")
            .field("transactions", &self.transactions)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The most body bytes of an answer a transaction looks at.
const BODY_LIMIT: usize = 1 << 20;

impl Transactions {
    /// No transactions yet, recorded into `health`, every 60 s, each
    /// answer given up after 10 s.
    pub fn new(health: Health) -> Self {
        TransactionsConfig::default()
            .build(health)
            .expect("the defaults are in range")
    }

    /// Adds a check. An invalid one (see [`Transaction::validate`]) fails
    /// every run, naming its problem.
    pub fn transaction(mut self, transaction: Transaction) -> Self {
        self.transactions.push(transaction);
        self
    }

    /// How often [`spawn`](Self::spawn) runs the checks (at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// When an answer is given up and counted as a timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs every check once against `candidate`, in order, and records
    /// each in the health.
    pub async fn run_once<C, CB>(&self, candidate: C) -> Vec<TransactionOutcome>
    where
        C: Service<Request<Full<Bytes>>, Response = Response<CB>> + Clone,
        C::Error: Into<BoxError>,
        CB: Body<Data = Bytes>,
        CB::Error: Into<BoxError>,
    {
        let mut outcomes = Vec::with_capacity(self.transactions.len());
        for transaction in &self.transactions {
            let (answer, failures) = match transaction.validate() {
                Err(error) => {
                    let invalid =
                        Difference::new("config", DiffKind::Error, None::<&str>, Some(error));
                    (Exchange::default(), vec![invalid])
                }
                Ok(()) => {
                    let request = SyntheticProfile::request_of(&transaction.request);
                    let answer = call(candidate.clone(), request, BODY_LIMIT, self.timeout).await;
                    let failures = transaction.judge(&answer);
                    (answer, failures)
                }
            };
            let expected =
                StatusCode::from_u16(transaction.expect_status).unwrap_or(StatusCode::OK);
            let baseline = Exchange::new(expected, Default::default(), Bytes::new())
                .with_latency(answer.latency);
            let comparison = if failures.is_empty() {
                Comparison::equivalent()
            } else {
                Comparison::different(0.0, failures.clone())
            };
            self.health
                .record_pair(&transaction.endpoint(), &baseline, &answer, &comparison);
            outcomes.push(TransactionOutcome {
                name: transaction.name.clone(),
                answer,
                failures,
            });
        }
        outcomes
    }

    /// Runs the checks every interval (the first run at once) on a task
    /// that stops when the handle is dropped or
    /// [`stop`](TransactionsHandle::stop)ped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use axum::{routing::get, Router};
    /// use tower_shadow::health::Health;
    /// use tower_shadow::synthetic::{Transaction, Transactions};
    ///
    /// let health = Health::new();
    /// let handle = Transactions::new(health.clone())
    ///     .interval(Duration::from_secs(5))
    ///     .timeout(Duration::from_secs(1))
    ///     .transaction(Transaction::get("home", "/").within(Duration::from_millis(200)))
    ///     .spawn(Router::new().route("/", get(|| async { "home" })));
    /// tokio::time::sleep(Duration::from_secs(12)).await; // runs at 0, 5 and 10 s
    /// handle.stop();
    /// assert_eq!(health.snapshot().endpoints["transaction home"].pairs, 3);
    /// # }
    /// ```
    pub fn spawn<C, CB>(&self, candidate: C) -> TransactionsHandle
    where
        C: Service<Request<Full<Bytes>>, Response = Response<CB>> + Clone + Send + Sync + 'static,
        C::Future: Send,
        C::Error: Into<BoxError>,
        CB: Body<Data = Bytes> + Send + 'static,
        CB::Error: Into<BoxError>,
    {
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(this.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                this.run_once(candidate.clone()).await;
            }
        });
        TransactionsHandle { task }
    }
}

/// The task of [`Transactions::spawn`]; dropping it stops the checks.
#[derive(Debug)]
pub struct TransactionsHandle {
    task: JoinHandle<()>,
}

impl TransactionsHandle {
    /// Stops the checks.
    pub fn stop(self) {}
}

impl Drop for TransactionsHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ErrorKind, ExchangeError};

    #[test]
    fn every_broken_expectation_is_a_difference() {
        let check = Transaction::get("t", "/")
            .expect_body("hello")
            .within(Duration::from_millis(100));
        let good = Exchange::new(StatusCode::OK, Default::default(), "hello world")
            .with_latency(Duration::from_millis(20));
        assert!(check.judge(&good).is_empty());
        let slow_wrong = Exchange::new(StatusCode::BAD_GATEWAY, Default::default(), "oops")
            .with_latency(Duration::from_millis(150));
        let paths: Vec<_> = check
            .judge(&slow_wrong)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(paths, ["status", "body", "latency"]);
        let failed = Exchange::failed(ExchangeError::new(ErrorKind::Timeout, "10s"));
        assert_eq!(check.judge(&failed)[0].path, "error");
        assert!(Transaction::get("t", "/")
            .expect_status(7)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("t.expect_status: must be in 100..=999, not 7"));
    }
}
