//! Prometheus metrics with fixed names (engineering.md §3, docs/specs/stage.md). No personal data in
//! labels: only stages, channels, destinations (domains), origins and reasons.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
    pub destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub stage: String,
    pub origin: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabels {
    pub destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub channel: String,
    pub destination: String,
    pub status: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub received: Counter,
    pub decided: Family<ReasonLabels, Counter>,
    pub rejected: Family<ReasonLabels, Counter>,
    pub discarded: Counter,
    pub queued: Family<ChannelLabels, Counter>,
    pub transitions: Family<StatusLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub stage_duration: Family<StageLabels, Histogram>,
    pub outbox_pending: Family<DestinationLabels, Gauge>,
    pub outbox_in_flight: Family<DestinationLabels, Gauge>,
    pub outbox_oldest_pending_age: Family<DestinationLabels, Gauge<f64, AtomicU64>>,
    pub notification_timeouts: Counter,
    pub pruned_payloads: Counter,
    pub operator_holds: Family<DestinationLabels, Counter>,
    pub inbox_messages: Family<OutcomeLabels, Counter>,
    pub operator_breaker_trips: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("passerelle");
        let received = Counter::default();
        registry.register(
            "received_documents",
            "Documents received in accepted or refused submissions",
            received.clone(),
        );
        let decided = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "decisions",
            "Policy evaluations by outcome (allowed, partially_allowed, denied)",
            decided.clone(),
        );
        let rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rejected_documents",
            "Submissions refused, by reason",
            rejected.clone(),
        );
        let discarded = Counter::default();
        registry.register(
            "discarded_documents",
            "Documents dropped without a caller-visible refusal (must stay 0)",
            discarded.clone(),
        );
        let queued = Family::<ChannelLabels, Counter>::default();
        registry.register("queued_deliveries", "Deliveries queued", queued.clone());
        let transitions = Family::<StatusLabels, Counter>::default();
        registry.register(
            "delivery_transitions",
            "Delivery state changes (sent, delivered, read, stored, failed, expired...)",
            transitions.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "errors",
            "Errors by stage, origin and reason",
            errors.clone(),
        );
        let stage_duration = Family::<StageLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "stage_duration_seconds",
            "Time spent per stage (receiving, validating, policy, rendering, queuing, sending, notifying)",
            stage_duration.clone(),
        );
        let outbox_pending = Family::<DestinationLabels, Gauge>::default();
        registry.register(
            "outbox_pending",
            "Queued deliveries per destination",
            outbox_pending.clone(),
        );
        let outbox_in_flight = Family::<DestinationLabels, Gauge>::default();
        registry.register(
            "outbox_in_flight",
            "Deliveries held by a worker per destination",
            outbox_in_flight.clone(),
        );
        let outbox_oldest_pending_age =
            Family::<DestinationLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest queued delivery per destination",
            outbox_oldest_pending_age.clone(),
        );
        let notification_timeouts = Counter::default();
        registry.register(
            "notification_timeouts",
            "Deliveries expired for want of a DSN",
            notification_timeouts.clone(),
        );
        let pruned_payloads = Counter::default();
        registry.register(
            "pruned_payloads",
            "Payload blobs removed by the retention job",
            pruned_payloads.clone(),
        );
        let operator_holds = Family::<DestinationLabels, Counter>::default();
        registry.register(
            "operator_holds",
            "Destinations paused automatically after an operator configuration fault (SMTP 530/535, refused certificate): resume them once fixed",
            operator_holds.clone(),
        );
        let inbox_messages = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "inbox_messages",
            "Messages taken out of polled MSSanté mailboxes: processed, or quarantined (malformed, hostile or over the size limit)",
            inbox_messages.clone(),
        );
        let operator_breaker_trips = Counter::default();
        registry.register(
            "operator_breaker_trips",
            "Times the MSSanté operator's circuit breaker opened (SMTP 421 or 4.7.x): nothing is sent to it for mssante.breaker_secs",
            operator_breaker_trips.clone(),
        );
        Self {
            registry,
            received,
            decided,
            rejected,
            discarded,
            queued,
            transitions,
            errors,
            stage_duration,
            outbox_pending,
            outbox_in_flight,
            outbox_oldest_pending_age,
            notification_timeouts,
            pruned_payloads,
            operator_holds,
            inbox_messages,
            operator_breaker_trips,
        }
    }

    pub fn observe_stage(&self, stage: &str, seconds: f64) {
        self.stage_duration
            .get_or_create(&StageLabels {
                stage: stage.to_string(),
            })
            .observe(seconds);
    }

    pub fn error(&self, stage: &str, origin: &str, reason: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                stage: stage.into(),
                origin: origin.into(),
                reason: reason.into(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
