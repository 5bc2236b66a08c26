use super::Event;
use std::fmt;
use std::sync::Arc;

/// Receives the rollout's alerts: a candidate degraded, rolled back, a
/// rollback whose validation failed, a promotion.
///
/// Implemented for closures `Fn(&Event)`; the default, [`TracingAlerts`],
/// logs through `tracing`.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tower_shadow::rollout::{AlertSink, Event};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = {
///     let seen = seen.clone();
///     move |event: &Event| seen.lock().unwrap().push(event.message.clone())
/// };
/// # fn takes(_: impl AlertSink) {}
/// takes(sink);
/// ```
pub trait AlertSink: Send + Sync + 'static {
    /// Handles one alert. Must not block: it runs inside the rollout's tick.
    fn alert(&self, event: &Event);
}

impl<F> AlertSink for F
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    fn alert(&self, event: &Event) {
        self(event)
    }
}

impl AlertSink for Arc<dyn AlertSink> {
    fn alert(&self, event: &Event) {
        (**self).alert(event)
    }
}

/// Logs alerts as `tracing` warnings. The default [`AlertSink`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingAlerts;

impl AlertSink for TracingAlerts {
    fn alert(&self, event: &Event) {
        tracing::warn!(
            stage = %event.to,
            weight = event.weight_after,
            evidence = %event.evidence,
            "{}",
            event.message
        );
    }
}

pub(crate) struct Sinks(pub(crate) Vec<Box<dyn AlertSink>>);

impl fmt::Debug for Sinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} alert sink(s)", self.0.len())
    }
}
