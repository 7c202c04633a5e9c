//! Several nodes on one Redis (`switchboard serve --cluster`): one node at
//! a time ingests (holds the PBX connections and writes the log's journal)
//! under a lease in Redis; the others stand by, serving their clients from
//! the journal they read back like the leader does (see
//! [`crate::log::journal`]).
//!
//! - [`lease`]: the lease itself: taken with a fencing token, renewed,
//!   given up.
//! - [`tenants`]: which tenants watch on each node, for their figures.
//! - [`run_ingest_role`]: a node's ingest terms: standing by until it
//!   takes the lease; then reading the journal to its end, writing it
//!   fenced by its token, applying what the other nodes forward, and
//!   running the sources; stepping down when a renewal fails, on its own
//!   clock, before the lease can expire in Redis.
//!
//! A standby's own appends (a chat message, an admin's change, a
//! transfer's progress) are forwarded to the leader through Redis
//! ([`crate::log::journal::Forwarded`]), so they are numbered once, in the
//! one log, whichever node took them.

pub mod commands;
pub mod lease;
pub mod news;
pub mod tenants;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::log::EventLog;
use crate::log::journal::{self, Journal};
use crate::metrics::Metrics;
use lease::Lease;

/// This node's name and what it does now, for `/healthz` and `/metrics`.
pub struct NodeRole {
    /// The node's name (`NODE_NAME`).
    pub node: String,
    leader: AtomicBool,
}

impl NodeRole {
    /// A node named `node`, standing by.
    pub fn new(node: impl Into<String>) -> Self {
        NodeRole {
            node: node.into(),
            leader: AtomicBool::new(false),
        }
    }

    /// A node that always ingests (one node, no cluster).
    pub fn single(node: impl Into<String>) -> Self {
        let role = NodeRole::new(node);
        role.leader.store(true, Ordering::Relaxed);
        role
    }

    /// Whether this node ingests now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// `leader` or `standby`.
    pub fn ingest(&self) -> &'static str {
        if self.is_leader() {
            "leader"
        } else {
            "standby"
        }
    }
}

/// Starts this node's sources for one ingest term, until `term` ends.
pub type StartSources = Box<dyn Fn(CancellationToken) -> Vec<JoinHandle<()>> + Send + Sync>;

/// Runs this node's ingest terms until `shutdown`: see the module's
/// documentation. The lease lasts `lease_time`.
pub async fn run_ingest_role(
    journal: Journal,
    log: Arc<EventLog>,
    role: Arc<NodeRole>,
    metrics: Arc<Metrics>,
    lease_time: Duration,
    start_sources: StartSources,
    shutdown: CancellationToken,
) {
    let lease = Lease::new(journal.redis(), journal.lease_key(), &role.node, lease_time);
    let renew_every = lease_time / 3;
    loop {
        // Standing by.
        let token = loop {
            match lease.acquire().await {
                Ok(Some(token)) => break token,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "the ingest lease cannot be read"),
            }
            tokio::select! {
                () = tokio::time::sleep(renew_every) => {}
                () = shutdown.cancelled() => return,
            }
        };
        let taken_at = std::time::Instant::now();
        tracing::info!(node = %role.node, token = %token.value, "this node takes the ingest lease");
        // What the last leader wrote comes first.
        if let Err(error) = catch_up(&journal, &log, &shutdown).await {
            tracing::warn!(%error, "the journal could not be read to its end; giving the lease up");
            let _ = lease.release(&token).await;
            continue;
        }
        if let Err(error) = write_again_if_lost(&journal, &log, &metrics).await {
            tracing::warn!(%error, "the journal's epoch could not be checked; giving the lease up");
            let _ = lease.release(&token).await;
            continue;
        }
        let (entries_tx, entries) = tokio::sync::mpsc::unbounded_channel();
        log.start_writing(entries_tx);
        role.leader.store(true, Ordering::Relaxed);
        metrics.cluster_role(true);
        metrics.failover();
        let term = shutdown.child_token();
        let writer = tokio::spawn(journal::write_entries(
            journal.clone(),
            Arc::clone(&log),
            entries,
            token.value.clone(),
            term.clone(),
        ));
        let forwarded = tokio::spawn(journal::take_forwarded(
            journal.clone(),
            Arc::clone(&log),
            term.clone(),
        ));
        let sources = start_sources(term.clone());
        tracing::info!(node = %role.node, after_ms = taken_at.elapsed().as_millis() as u64, "this node ingests");

        // Leading, renewing the lease; stepping down on this node's own
        // clock before the lease can expire.
        let mut renewed_at = taken_at;
        let step_down_after = lease_time.saturating_sub(lease_time / 5);
        let mut ticker = tokio::time::interval(renew_every);
        let ends_by_shutdown = loop {
            let deadline = tokio::time::Instant::from_std(renewed_at + step_down_after);
            tokio::select! {
                _ = ticker.tick() => {}
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        "the ingest lease was not renewed for {} ms: stepping down before it can expire",
                        renewed_at.elapsed().as_millis()
                    );
                    break false;
                }
                () = shutdown.cancelled() => break true,
            }
            if !log.writes() {
                tracing::warn!("this node's appends were fenced: stepping down");
                break false;
            }
            let attempt = std::time::Instant::now();
            let renewal = tokio::select! {
                renewal = lease.renew(&token) => Some(renewal),
                () = tokio::time::sleep_until(deadline) => None,
            };
            match renewal {
                Some(Ok(true)) => renewed_at = attempt,
                Some(Ok(false)) => {
                    tracing::warn!("the ingest lease went to another node: stepping down");
                    break false;
                }
                Some(Err(error)) => tracing::warn!(%error, "the ingest lease could not be renewed"),
                None => {
                    tracing::warn!(
                        "the ingest lease was not renewed for {} ms: stepping down before it can expire",
                        renewed_at.elapsed().as_millis()
                    );
                    break false;
                }
            }
        };
        term.cancel();
        log.stop_writing();
        role.leader.store(false, Ordering::Relaxed);
        metrics.cluster_role(false);
        for source in sources {
            let _ = source.await;
        }
        let _ = forwarded.await;
        let _ = writer.await;
        if ends_by_shutdown {
            let _ = lease.release(&token).await;
            return;
        }
    }
}

/// Reads the journal into `log` up to its last entry now.
async fn catch_up(
    journal: &Journal,
    log: &EventLog,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let last = journal.last_id().await?;
    while last.is_some_and(|last| log.read_through() < last) {
        if shutdown.is_cancelled() {
            anyhow::bail!("shutting down");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Writes the log's epoch and a checkpoint of this node's ledger to the
/// journal when Redis does not hold them, before this term writes: a Redis
/// that restarted without its data lost them, and a node started later
/// would otherwise begin a new epoch with an empty ledger. The numbering
/// goes on from this node's. (A new deployment has no checkpoint until its
/// first is saved: one is saved now, quietly.)
async fn write_again_if_lost(
    journal: &Journal,
    log: &EventLog,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let epoch = log.epoch();
    let (holds_epoch, holds_checkpoint) = journal.holds(&epoch).await?;
    if holds_epoch && holds_checkpoint {
        return Ok(());
    }
    let checkpoint = log.checkpoint();
    if !holds_epoch {
        tracing::warn!(
            %epoch,
            through = %checkpoint.id,
            "the journal holds another epoch or none (Redis lost its data): writing it again from this node's ledger"
        );
        journal.restart_epoch(&epoch).await?;
        metrics.journal_rewrite();
    }
    journal.save(&checkpoint).await?;
    Ok(())
}
