//! The journaled side of the event log (see [`super::journal`]): a log
//! restored from Redis, the writer that numbers appends a step ahead and
//! hands them to the journal, the read-back that brings every node's window
//! up to date, and the appends a standby forwards to the writer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::journal::{self, Entry, EntryId, Operation};
use super::{EventLog, KindCounters, LogSettings, State};
use crate::ledger::{Emitted, Ledger};
use crate::metrics::Metrics;
use crate::proto::v1::{self as pb, ResyncReason, event::Payload};
use crate::time::{Instant, to_timestamp};

/// The writer's side of a journaled log: its ledger, ahead of the window by
/// the entries not yet read back, and where its entries go.
pub(super) struct Writer {
    pub(super) ledger: Ledger,
    last_sequence: u64,
    last_entry: EntryId,
    entries: mpsc::UnboundedSender<Entry>,
}

impl EventLog {
    /// A log kept in a journal: its window and ledger as `stored` holds
    /// them (see [`journal::Stored`]); `ledger` when it holds none. Appends
    /// wait for [`EventLog::start_writing`]; entries read from the journal
    /// reach the window through [`EventLog::ingest`].
    pub fn journaled(
        stored: journal::Stored,
        fresh_epoch: &str,
        ledger: Ledger,
        settings: LogSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut log = EventLog::new(ledger, settings, metrics);
        log.journaled = true;
        let restores_ledger = journal::restorable(&stored);
        *log.epoch.get_mut() = stored.epoch;
        let mut state = std::mem::replace(
            log.state.get_mut(),
            State {
                ledger: Ledger::new(""),
                window: VecDeque::new(),
                last_sequence: 0,
                events_in: KindCounters::default(),
            },
        );
        let mut read_through = EntryId::default();
        let checkpoint_id = match (stored.checkpoint, restores_ledger) {
            (Some(checkpoint), true) => {
                state.ledger = checkpoint.ledger;
                read_through = checkpoint.id;
                Some(checkpoint.id)
            }
            _ => None,
        };
        for entry in stored.entries {
            if restores_ledger && checkpoint_id.is_none_or(|id| entry.id > id) {
                replay(&mut state.ledger, &entry.operation);
            }
            read_through = read_through.max(entry.id);
            for event in entry.events {
                state.last_sequence = event.sequence;
                state.window.push_back(event);
            }
        }
        if !restores_ledger {
            // Its events cannot be followed on from: clients resuming get a
            // Resync of the new epoch, numbers go on rising.
            tracing::warn!(
                "the journal holds no checkpoint its entries go on from: a new epoch starts, with an empty ledger the PBX rebuilds"
            );
            state.window.clear();
            *log.epoch.get_mut() = fresh_epoch.to_owned();
        }
        log.trim_window_locked(&mut state, chrono::Utc::now());
        log.head.store(state.last_sequence, Ordering::Release);
        *log.state.get_mut() = state;
        *log.read_through.get_mut() = read_through;
        log.restored_ledger = restores_ledger;
        log
    }

    /// Whether a journaled log's ledger was restored from the journal (its
    /// checkpoint and the entries after it); when it was not, the history
    /// cannot be followed on from and the caller starts a new epoch.
    pub fn restored_ledger(&self) -> bool {
        self.restored_ledger
    }

    /// Whether the journal answered the last read (always, without one):
    /// while it does not, nothing new reaches this node's clients.
    pub fn journal_reachable(&self) -> bool {
        self.journal_reachable.load(Ordering::Relaxed)
    }

    /// Notes whether the journal answered.
    pub fn set_journal_reachable(&self, reachable: bool) {
        let was = self.journal_reachable.swap(reachable, Ordering::Relaxed);
        if was != reachable {
            if reachable {
                tracing::info!("the log's journal answers again");
            } else {
                tracing::warn!(
                    "the log's journal does not answer: nothing new reaches this node's clients until it does"
                );
            }
        }
    }

    /// Whether appends go through a journal.
    pub fn is_journaled(&self) -> bool {
        self.journaled
    }

    /// Makes this node the log's writer: from now on appends are numbered
    /// after the last entry read back, on a copy of the window's ledger, and
    /// go to `entries` for the journal.
    pub fn start_writing(&self, entries: mpsc::UnboundedSender<Entry>) {
        let state = self.state.lock();
        *self.writer.lock() = Some(Writer {
            ledger: state.ledger.clone(),
            last_sequence: state.last_sequence,
            last_entry: *self.read_through.lock(),
            entries,
        });
    }

    /// Sends the appends asked of this node while it does not write to
    /// `forward` (for the node that does), instead of dropping them.
    pub fn forward_to(&self, forward: mpsc::UnboundedSender<journal::Forwarded>) {
        *self.forward.lock() = Some(forward);
    }

    /// Applies an append another node forwarded (this node writes).
    pub fn apply_forwarded(&self, append: journal::Forwarded) {
        use prost::Message;
        match append {
            journal::Forwarded::Change(Operation::Apply { input, at }) => {
                self.apply(*input, at);
            }
            journal::Forwarded::Change(Operation::ApplyAll { inputs, at }) => {
                self.apply_all(inputs, at);
            }
            journal::Forwarded::Change(other) => {
                tracing::warn!(?other, "a forwarded change only the writer makes; dropped");
            }
            journal::Forwarded::Publish { event, at } => match pb::Event::decode(&event[..]) {
                Ok(pb::Event {
                    payload: Some(payload),
                    tenant,
                    ..
                }) => {
                    self.publish(payload, tenant, at);
                }
                Ok(_) => tracing::warn!("a forwarded event without a payload; dropped"),
                Err(error) => tracing::warn!(%error, "a forwarded event does not decode; dropped"),
            },
        }
    }

    /// Stops this node writing (it lost the lease): appends are refused
    /// until it writes again.
    pub fn stop_writing(&self) {
        *self.writer.lock() = None;
    }

    /// Whether this node writes the journal (always, without one).
    pub fn writes(&self) -> bool {
        !self.journaled || self.writer.lock().is_some()
    }

    /// Waits until the window holds event `sequence` (at most `within`).
    pub async fn wait_for_head(&self, sequence: u64, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.head() < sequence && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The last entry read back from the journal.
    pub fn read_through(&self) -> EntryId {
        *self.read_through.lock()
    }

    /// Reads one journal entry back: replays its operation on the window's
    /// ledger and appends its events to the window, the live feed and the
    /// durable subscribers. Entries already read are skipped. Returns false,
    /// and logs an error, when the ledger made a different number of events
    /// than the entry holds: this node's ledger went astray (its clients
    /// still get the entry's events), and the read-back reloads it
    /// ([`EventLog::reload_ledger`]).
    pub fn ingest(&self, entry: Entry) -> bool {
        let mut state = self.state.lock();
        let mut read_through = self.read_through.lock();
        if entry.id <= *read_through {
            return true;
        }
        *read_through = entry.id;
        drop(read_through);
        let made = replay(&mut state.ledger, &entry.operation);
        let agrees = made.is_none_or(|made| made == entry.events.len());
        if !agrees {
            tracing::error!(entry = %entry.id, made = ?made, held = entry.events.len(), "the ledger made other events than the journal holds");
        }
        let now = entry
            .events
            .last()
            .and_then(|e| e.time.as_ref())
            .and_then(crate::time::from_timestamp);
        self.push_locked(&mut state, entry.events, now);
        agrees
    }

    /// Journaled, on a node that does not write: hands the append made by
    /// `append` to the node that does; false when this node writes (or has
    /// nowhere to forward to).
    pub(super) fn forwards(&self, append: impl FnOnce() -> journal::Forwarded) -> bool {
        if self.writer.lock().is_some() {
            return false;
        }
        let forward = self.forward.lock();
        let Some(forward) = forward.as_ref() else {
            return false;
        };
        if forward.send(append()).is_err() {
            tracing::warn!("the forwarder of appends stopped; an append is lost");
        }
        true
    }

    /// An event as it would be, numbered 0 (not appended).
    pub(super) fn unnumbered(&self, emitted: Emitted, now: Instant) -> pb::Event {
        pb::Event {
            sequence: 0,
            epoch: self.epoch(),
            time: Some(to_timestamp(now)),
            tenant: emitted.tenant,
            payload: Some(emitted.payload),
        }
    }

    /// Journaled: applies `change` to the writer's ledger, numbers its
    /// events (a rebuild's end with its `Resync`) and hands the entry to the
    /// journal. On a node that does not write, nothing happens (the caller's
    /// inputs are lost: only the lease holder ingests).
    pub(super) fn write(
        &self,
        operation: Operation,
        now: Instant,
        change: impl FnOnce(&mut Ledger) -> Vec<Emitted>,
    ) -> Vec<Arc<pb::Event>> {
        let mut writer = self.writer.lock();
        let Some(writer) = writer.as_mut() else {
            tracing::warn!("an append on a node that does not write the log; dropped");
            return Vec::new();
        };
        let mut emitted = change(&mut writer.ledger);
        if let Operation::Rebuild { .. } = operation {
            emitted.push(Emitted {
                payload: Payload::Resync(pb::Resync {
                    reason: ResyncReason::SourceRebuilt as i32,
                    requested_after: 0,
                    oldest_available: 0,
                    snapshot: Some(writer.ledger.snapshot(now)),
                }),
                tenant: String::new(),
            });
        }
        let epoch = self.epoch();
        let time = to_timestamp(now);
        let events: Vec<Arc<pb::Event>> = emitted
            .into_iter()
            .map(|Emitted { payload, tenant }| {
                writer.last_sequence += 1;
                Arc::new(pb::Event {
                    sequence: writer.last_sequence,
                    epoch: epoch.clone(),
                    time: Some(time),
                    tenant,
                    payload: Some(payload),
                })
            })
            .collect();
        writer.last_entry = writer.last_entry.next(writer.last_sequence);
        let entry = Entry {
            id: writer.last_entry,
            operation,
            events: events.clone(),
        };
        if writer.entries.send(entry).is_err() {
            tracing::warn!("the journal's writer stopped; an append is lost");
        }
        events
    }

    /// Puts this node's ledger back on the journal's track after it went
    /// astray: the checkpoint of `stored`, and its entries after the
    /// checkpoint up to the last one this node read, replayed. The window and
    /// the numbering stay. False, and nothing changes, when `stored` cannot
    /// do it: no checkpoint, one past what this node has read (it may be
    /// tried again once this node has read further), or a gap in the entries.
    pub fn reload_ledger(&self, stored: journal::Stored) -> bool {
        let Some(checkpoint) = stored.checkpoint else {
            return false;
        };
        let mut state = self.state.lock();
        let read_through = *self.read_through.lock();
        if checkpoint.id > read_through {
            return false;
        }
        let mut ledger = checkpoint.ledger;
        let mut at = checkpoint.id;
        for entry in stored
            .entries
            .iter()
            .filter(|entry| entry.id > checkpoint.id && entry.id <= read_through)
        {
            if !journal::follows(at, entry) {
                return false;
            }
            replay(&mut ledger, &entry.operation);
            at = entry.id;
        }
        if at != read_through {
            return false;
        }
        state.ledger = ledger;
        true
    }

    /// The window's ledger, with the last journal entry folded into it.
    pub fn checkpoint(&self) -> journal::Checkpoint {
        let state = self.state.lock();
        journal::Checkpoint {
            id: *self.read_through.lock(),
            ledger: state.ledger.clone(),
        }
    }
}

/// Replays `operation` on `ledger`; the number of events it made, when the
/// operation makes them from the ledger (`None`: a publish, whose events
/// are the entry's own).
fn replay(ledger: &mut Ledger, operation: &Operation) -> Option<usize> {
    let made = match operation {
        Operation::Apply { input, at } => ledger.apply((**input).clone(), *at).len(),
        Operation::ApplyAll { inputs, at } => ledger.apply_all(inputs.clone(), *at).len(),
        Operation::FlushLists { at } if ledger.lists_held() => ledger.flush_lists(*at, false).len(),
        Operation::FlushLists { .. } => 0,
        Operation::Publish => return None,
        Operation::Rebuild { inputs, at } => {
            let mut made = ledger.apply_all(inputs.clone(), *at).len();
            made += ledger.flush_lists(*at, true).len();
            made + 1
        }
    };
    Some(made)
}
