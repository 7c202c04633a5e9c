//! `system_stats`: figures measured from the ledger and the process (uptime,
//! resident memory, open connections), published on an interval. Nothing invented:
//! a figure with nothing to measure yet is null.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio_util::sync::CancellationToken;

use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::presence::TenantPresence;
use crate::proto::v1::{self as pb, event::Payload};
use crate::time::{Instant, to_timestamp};

/// Reads process figures; one per server.
pub struct StatsSampler {
    system: Mutex<System>,
    pid: Option<Pid>,
    started: std::time::Instant,
}

impl StatsSampler {
    /// A sampler for this process, counting uptime from now.
    pub fn new() -> Self {
        StatsSampler {
            system: Mutex::new(System::new()),
            pid: sysinfo::get_current_pid().ok(),
            started: std::time::Instant::now(),
        }
    }

    /// Resident memory of this process and total memory of the host, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let mut system = self.system.lock();
        system.refresh_memory();
        let used = self.pid.map_or(0, |pid| {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory(),
            );
            system.process(pid).map_or(0, sysinfo::Process::memory)
        });
        (used, system.total_memory())
    }

    /// Seconds since the sampler was made.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The figures now, over every tenant, or over one tenant's calls and agents
    /// (whose connection count is then that tenant's own).
    pub fn sample(
        &self,
        log: &EventLog,
        metrics: &Metrics,
        presence: &TenantPresence,
        now: Instant,
        tenant: Option<&str>,
    ) -> pb::SystemStats {
        let figures = log.read(|ledger, _| ledger.figures(now, tenant));
        let (used, total) = self.memory();
        let connections = match tenant {
            None => {
                metrics.connections("socketio").get()
                    + metrics.connections("grpc_stream").get()
                    + presence.connections_elsewhere()
            }
            Some(tenant) => presence
                .tenants()
                .into_iter()
                .find(|(t, _)| t == tenant)
                .map_or(0, |(_, count)| i64::try_from(count).unwrap_or(i64::MAX)),
        };
        pb::SystemStats {
            total_sessions: figures.total_sessions,
            active_agents: figures.active_agents,
            available_agents: figures.available_agents,
            avg_calls_per_agent: figures.avg_calls_per_agent,
            system_health: Some(pb::SystemHealth {
                status: if figures.sources_healthy {
                    pb::HealthStatus::Operational
                } else {
                    pb::HealthStatus::Degraded
                } as i32,
                uptime: self.uptime_seconds(),
                memory_usage: Some(pb::MemoryUsage {
                    used,
                    total,
                    percentage: if total == 0 {
                        0.0
                    } else {
                        (used as f64 / total as f64 * 1000.0).round() / 10.0
                    },
                }),
                active_connections: u32::try_from(connections.max(0)).unwrap_or(u32::MAX),
            }),
            performance: Some({
                let (avg_response_time, responses_measured) = metrics.average_ingest_ms();
                pb::Performance {
                    avg_response_time,
                    responses_measured,
                    calls_per_minute: figures.calls_per_minute,
                    peak_concurrent_calls: figures.peak_concurrent_calls,
                    success_rate: figures.success_rate,
                    calls_ended_today: figures.calls_ended_today,
                }
            }),
            timestamp: Some(to_timestamp(now)),
        }
    }
}

impl Default for StatsSampler {
    fn default() -> Self {
        Self::new()
    }
}

/// Publishes `system_stats` every `interval` until `shutdown`: the house-wide
/// figures, then each connected tenant's own.
pub async fn publish_every(
    interval: Duration,
    sampler: Arc<StatsSampler>,
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    presence: Arc<TenantPresence>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if !log.writes() {
            // A standby node: the node that ingests publishes the figures.
            continue;
        }
        let now = chrono::Utc::now();
        let stats = sampler.sample(&log, &metrics, &presence, now, None);
        log.publish(Payload::SystemStats(stats), String::new(), now);
        for (tenant, _) in presence.tenants() {
            let stats = sampler.sample(&log, &metrics, &presence, now, Some(&tenant));
            log.publish(Payload::SystemStats(stats), tenant, now);
        }
    }
}
