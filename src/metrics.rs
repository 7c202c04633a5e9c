//! Prometheus metrics of the whole process, rendered as text by `GET /metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
/// The event-kind label, fixed strings only: counted on every append, it allocates nothing.
type KindLabel = [(&'static str, &'static str); 1];

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect()
}

/// Every metric switchboard exports.
pub struct Metrics {
    registry: Registry,
    /// Events appended to the log, by kind.
    pub events_in: Family<KindLabel, Counter>,
    /// Events delivered to an output, by output (`grpc`, `socketio`) and kind.
    pub events_out: Family<Labels, Counter>,
    /// Events a slow subscriber lost, by output.
    pub events_dropped: Family<Labels, Counter>,
    /// Open connections, by transport (`socketio`, `grpc_stream`).
    pub connections: Family<Labels, Gauge>,
    /// Live subscribers of the log.
    pub subscribers: Gauge,
    /// How far behind the log head a subscriber was when it received an event, in events.
    pub subscriber_lag: Histogram,
    /// The sequence number of the newest event.
    pub log_head: Gauge<u64, AtomicU64>,
    /// Events held in the replay window.
    pub log_window: Gauge,
    /// Requests refused for their credentials, by surface (`grpc`, `http`, `socketio`) and reason.
    pub auth_refusals: Family<Labels, Counter>,
    /// Bad client input (unknown Socket.IO event, malformed payload), by surface and reason.
    pub bad_input: Family<Labels, Counter>,
    /// Closed client connections, by transport and reason.
    pub disconnects: Family<Labels, Counter>,
    /// Socket.IO clients that came back with a private session id, by outcome
    /// (`recovered`, or why not).
    pub socketio_recoveries: Family<Labels, Counter>,
    /// Whether this node holds the ingest lease (1) or stands by (0).
    pub cluster_leader: Gauge,
    /// Ingest terms this node began: its first, and each failover to it.
    pub ingest_terms: Counter,
    /// Terms that began on a journal without this log's epoch (Redis lost
    /// its data), which this node wrote again from its own ledger.
    pub journal_rewrites: Counter,
    /// Times this node's ledger made other events than a journal entry held.
    pub journal_astray: Counter,
    /// Times this node's ledger was reloaded from the journal's checkpoint after going astray.
    pub ledger_reloads: Counter,
    /// How old the newest event this node read back from the journal was
    /// when it read it, in seconds: the lag of its tail.
    pub journal_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Messages received from a phone-system source, by source.
    pub source_messages: Family<Labels, Counter>,
    /// Source frames skipped (oversized, malformed), by source and reason.
    pub source_skipped: Family<Labels, Counter>,
    /// Time from a source event's arrival to its publication in the log, in seconds.
    pub ingest_seconds: Histogram,
    ingest_total_ns: AtomicU64,
    ingest_count: AtomicU64,
}

impl Metrics {
    /// A fresh set of metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let events_in = Family::<KindLabel, Counter>::default();
        let events_out = Family::<Labels, Counter>::default();
        let events_dropped = Family::<Labels, Counter>::default();
        let connections = Family::<Labels, Gauge>::default();
        let subscribers = Gauge::default();
        let subscriber_lag = Histogram::new([0.0, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0]);
        let log_head = Gauge::<u64, AtomicU64>::default();
        let log_window = Gauge::default();
        let auth_refusals = Family::<Labels, Counter>::default();
        let bad_input = Family::<Labels, Counter>::default();
        let disconnects = Family::<Labels, Counter>::default();
        registry.register("events_in", "Events appended to the log", events_in.clone());
        registry.register(
            "events_out",
            "Events delivered to an output",
            events_out.clone(),
        );
        registry.register(
            "events_dropped",
            "Events a slow subscriber lost",
            events_dropped.clone(),
        );
        registry.register(
            "connections",
            "Open client connections",
            connections.clone(),
        );
        registry.register(
            "subscribers",
            "Live subscribers of the log",
            subscribers.clone(),
        );
        registry.register(
            "subscriber_lag_events",
            "Events between the log head and the event being delivered",
            subscriber_lag.clone(),
        );
        registry.register(
            "log_head_sequence",
            "Sequence number of the newest event",
            log_head.clone(),
        );
        registry.register(
            "log_window_events",
            "Events held in the replay window",
            log_window.clone(),
        );
        registry.register(
            "auth_refusals",
            "Requests refused for their credentials",
            auth_refusals.clone(),
        );
        registry.register(
            "bad_input",
            "Malformed or unknown client input",
            bad_input.clone(),
        );
        registry.register(
            "disconnects",
            "Closed client connections",
            disconnects.clone(),
        );
        let socketio_recoveries = Family::<Labels, Counter>::default();
        registry.register(
            "socketio_recoveries",
            "Socket.IO clients that came back to recover their connection state, by outcome",
            socketio_recoveries.clone(),
        );
        let cluster_leader = Gauge::default();
        let ingest_terms = Counter::default();
        let journal_rewrites = Counter::default();
        let journal_astray = Counter::default();
        let ledger_reloads = Counter::default();
        let journal_lag_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "cluster_leader",
            "Whether this node holds the ingest lease",
            cluster_leader.clone(),
        );
        registry.register(
            "ingest_terms",
            "Ingest terms this node began (its first, and each failover to it)",
            ingest_terms.clone(),
        );
        registry.register(
            "journal_rewrites",
            "Ingest terms that found the journal's epoch gone (Redis lost its data) and wrote it again",
            journal_rewrites.clone(),
        );
        registry.register(
            "journal_astray",
            "Journal entries whose events this node's ledger did not make again",
            journal_astray.clone(),
        );
        registry.register(
            "ledger_reloads",
            "Reloads of this node's ledger from the journal's checkpoint after it went astray",
            ledger_reloads.clone(),
        );
        registry.register(
            "journal_lag_seconds",
            "How old the newest event read back from the journal was when read",
            journal_lag_seconds.clone(),
        );
        let source_messages = Family::<Labels, Counter>::default();
        let source_skipped = Family::<Labels, Counter>::default();
        let ingest_seconds = Histogram::new([
            0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1,
        ]);
        registry.register(
            "source_messages",
            "Messages received from a phone-system source",
            source_messages.clone(),
        );
        registry.register(
            "source_skipped_frames",
            "Source frames skipped as oversized or malformed",
            source_skipped.clone(),
        );
        registry.register(
            "ingest_seconds",
            "Time from a source event's arrival to its publication",
            ingest_seconds.clone(),
        );
        Metrics {
            cluster_leader,
            ingest_terms,
            journal_rewrites,
            journal_astray,
            ledger_reloads,
            journal_lag_seconds,
            socketio_recoveries,
            source_messages,
            source_skipped,
            ingest_seconds,
            ingest_total_ns: AtomicU64::new(0),
            ingest_count: AtomicU64::new(0),
            registry,
            events_in,
            events_out,
            events_dropped,
            connections,
            subscribers,
            subscriber_lag,
            log_head,
            log_window,
            auth_refusals,
            bad_input,
            disconnects,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        text
    }

    /// Counts one refused credential.
    pub fn refuse(&self, surface: &'static str, reason: &str) {
        self.auth_refusals
            .get_or_create(&labels(&[("surface", surface), ("reason", reason)]))
            .inc();
    }

    /// Counts one piece of bad client input.
    pub fn bad_input(&self, surface: &'static str, reason: &str) {
        self.bad_input
            .get_or_create(&labels(&[("surface", surface), ("reason", reason)]))
            .inc();
    }

    /// Whether this node holds the ingest lease now.
    pub fn cluster_role(&self, leader: bool) {
        self.cluster_leader.set(i64::from(leader));
    }

    /// Counts one ingest term begun.
    pub fn failover(&self) {
        self.ingest_terms.inc();
    }

    /// Counts one journal written again by a term's leader.
    pub fn journal_rewrite(&self) {
        self.journal_rewrites.inc();
    }

    /// Counts one Socket.IO client that came back with a private session id.
    pub fn recovery(&self, outcome: &str) {
        self.socketio_recoveries
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
    }

    /// Counts one closed connection of `transport`.
    pub fn disconnected(&self, transport: &'static str, reason: &str) {
        self.disconnects
            .get_or_create(&labels(&[("transport", transport), ("reason", reason)]))
            .inc();
    }

    /// Counts one event delivered to `output`.
    pub fn delivered(&self, output: &'static str, kind: &str) {
        self.events_out
            .get_or_create(&labels(&[("output", output), ("kind", kind)]))
            .inc();
    }

    /// Counts `count` events dropped for a slow subscriber of `output`.
    pub fn dropped(&self, output: &'static str, count: u64) {
        self.events_dropped
            .get_or_create(&vec![("output", output.to_owned())])
            .inc_by(count);
    }

    /// Records a batch of `count` source events that took `took` from
    /// arrival to publication (each of them is counted as taking that long).
    pub fn ingested(&self, source: &'static str, count: u64, took: std::time::Duration) {
        use std::sync::atomic::Ordering;
        self.source_messages
            .get_or_create(&vec![("source", source.to_owned())])
            .inc_by(count);
        for _ in 0..count {
            self.ingest_seconds.observe(took.as_secs_f64());
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.ingest_total_ns
            .fetch_add(nanos.saturating_mul(count), Ordering::Relaxed);
        self.ingest_count.fetch_add(count, Ordering::Relaxed);
    }

    /// The mean ingest time since start, in milliseconds (0 before the first
    /// event), and the number of events it is the mean of.
    pub fn average_ingest_ms(&self) -> (f64, u64) {
        use std::sync::atomic::Ordering;
        let count = self.ingest_count.load(Ordering::Relaxed);
        let total_ns = self.ingest_total_ns.load(Ordering::Relaxed);
        let mean = if count == 0 {
            0.0
        } else {
            total_ns as f64 / count as f64 / 1_000_000.0
        };
        (mean, count)
    }

    /// Counts a skipped source frame.
    pub fn source_skipped(&self, source: &'static str, reason: &str) {
        self.source_skipped
            .get_or_create(&labels(&[("source", source), ("reason", reason)]))
            .inc();
    }

    /// The gauge of open connections of `transport`.
    pub fn connections(&self, transport: &'static str) -> Gauge {
        self.connections
            .get_or_create(&vec![("transport", transport.to_owned())])
            .clone()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
