//! What a load run measured, per kind of subscriber and per node, and how
//! the command prints it.

/// What a run measured for one kind of subscriber.
#[derive(Debug, Clone, Default)]
pub struct TransportReport {
    /// Subscribers.
    pub subscribers: usize,
    /// `call:new` + `call:ended` events the window offered, times subscribers, per second.
    pub offered_per_second: f64,
    /// Of those, delivered per second.
    pub delivered_per_second: f64,
    /// Offered but never read: dropped by the server (see
    /// `reported_dropped`), or still not read when nothing more came for
    /// 3 s after the window (30 s at most).
    pub lost: u64,
    /// Events the server told the subscribers it dropped (`events-dropped`).
    pub reported_dropped: u64,
    /// Latency from the simulator's write to the subscriber's read.
    pub latency: Latency,
    /// Every message the subscribers read during the run (lists and statistics too), per second.
    pub all_messages_per_second: f64,
    /// Bytes of those messages, per second.
    pub all_bytes_per_second: f64,
    /// What one subscriber read during the measuring window, per event
    /// name: messages and bytes per second.
    pub one_subscriber: Vec<(String, f64, f64)>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

impl Latency {
    /// The percentiles of `micros`, which it sorts.
    pub(super) fn of(micros: &mut [u32]) -> Latency {
        micros.sort_unstable();
        let quantile = |q: f64| {
            micros
                .get(((micros.len() as f64 * q) as usize).min(micros.len().saturating_sub(1)))
                .map_or(0.0, |m| f64::from(*m) / 1000.0)
        };
        Latency {
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            max_ms: micros.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Calls the simulator started inside the window, per second.
    pub calls_per_second: f64,
    /// Calls the simulator ended inside the window, per second: about
    /// `calls_per_second` once the warm-up has run the load to a steady
    /// state, less while calls are still piling up.
    pub calls_ended_per_second: f64,
    /// AMI events the simulator wrote inside the window, per second.
    pub ami_events_per_second: f64,
    /// From the simulator's write to the server's log (read by an
    /// in-process tap of the log's live feed): the AMI link, decoding and
    /// the ledger, before any fan-out.
    pub ingest: Latency,
    /// Log events the ingest tap did not see because it fell behind the
    /// log's live feed (its figures then leave those out).
    pub ingest_unseen: u64,
    /// Socket.IO subscribers' figures.
    pub socketio: TransportReport,
    /// gRPC subscribers' figures.
    pub grpc: TransportReport,
    /// With several nodes, the Socket.IO subscribers' figures on each node
    /// (`socketio` is all of them); empty with one.
    pub socketio_by_node: Vec<TransportReport>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "offered: {:.0} calls/s (ended {:.0}/s), {:.0} AMI events/s",
            self.calls_per_second, self.calls_ended_per_second, self.ami_events_per_second
        )?;
        write!(
            f,
            "ingest (PBX write → server log): p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
            self.ingest.p50_ms, self.ingest.p99_ms, self.ingest.max_ms
        )?;
        if self.ingest_unseen > 0 {
            write!(
                f,
                " ({} log events not seen: the tap fell behind)",
                self.ingest_unseen
            )?;
        }
        writeln!(f)?;
        for (name, t) in [("socket.io", &self.socketio), ("grpc", &self.grpc)] {
            if t.subscribers == 0 {
                continue;
            }
            writeln!(
                f,
                "{name}: {} subscribers, call events offered {:.0}/s delivered {:.0}/s, lost {} \
                 (the server reported {} events of any kind dropped), \
                 latency p50 {:.1} ms p99 {:.1} ms max {:.1} ms; all messages read {:.0}/s \
                 ({:.1} MB/s)",
                t.subscribers,
                t.offered_per_second,
                t.delivered_per_second,
                t.lost,
                t.reported_dropped,
                t.latency.p50_ms,
                t.latency.p99_ms,
                t.latency.max_ms,
                t.all_messages_per_second,
                t.all_bytes_per_second / 1e6
            )?;
            if name == "socket.io" {
                for (node, t) in self.socketio_by_node.iter().enumerate() {
                    writeln!(
                        f,
                        "  node {}: {} subscribers, delivered {:.0}/s, lost {}, latency p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
                        node + 1,
                        t.subscribers,
                        t.delivered_per_second,
                        t.lost,
                        t.latency.p50_ms,
                        t.latency.p99_ms,
                        t.latency.max_ms
                    )?;
                }
            }
            if !t.one_subscriber.is_empty() {
                write!(
                    f,
                    "  one {name} subscriber read in the window (messages/s, kB/s):"
                )?;
                for (event, messages, bytes) in &t.one_subscriber {
                    write!(f, " {event} {messages:.1} {:.1};", bytes / 1e3)?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
