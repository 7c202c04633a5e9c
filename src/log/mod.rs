//! The event log: the ledger plus an append-only, numbered log with a bounded
//! replay window. Every output subscribes here. Appends never wait for a
//! subscriber; a live subscriber that falls behind loses events and is told
//! so. A durable subscriber (the store) gets every event it wants through an
//! unbounded queue instead, so that no record is lost to a burst.
//!
//! With a journal (Redis, see [`journal`]), an append goes to the journal
//! first: the writer keeps the ledger a step ahead, numbers the events and
//! hands the entry to the journal; the window, the live feed and the
//! outputs get it when it is read back ([`EventLog::ingest`]), the same way
//! on every node. An event reaches no client before Redis holds it, so a
//! client resuming on another node or after a restart finds it there.

pub mod journal;
mod journaled;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::events::kind_of;
use crate::ledger::{Emitted, Input, Ledger};
use crate::metrics::Metrics;
use crate::proto::v1::{self as pb, ResyncReason, event::Payload};
use crate::time::{Instant, to_timestamp};
use journal::{EntryId, Operation};
use journaled::Writer;

/// Bounds of the replay window and of the live fan-out.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The most events the replay window holds.
    pub window_events: usize,
    /// The oldest an event in the replay window may be.
    pub window_age: Duration,
    /// Events a live subscriber may fall behind before it starts losing them.
    pub live_buffer: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            window_events: 10_000,
            window_age: Duration::from_secs(15 * 60),
            live_buffer: 8192,
        }
    }
}

/// Where a subscriber wants to start.
#[derive(Debug, Clone, Default)]
pub struct StartAt {
    /// Resume after this sequence number (0: start live).
    pub resume_after: u64,
    /// The epoch `resume_after` belongs to; `None` for the current one.
    pub epoch: Option<String>,
    /// Start with a snapshot even when not resuming.
    pub snapshot_first: bool,
    /// When not resuming, start with the whole replay window instead.
    pub replay_window: bool,
}

/// A new subscriber's starting point: what to send first, then the live feed.
pub struct Subscription {
    /// Events to send before the live ones: a `Resync`, or the replayed events, or nothing.
    pub backlog: Vec<Arc<pb::Event>>,
    /// The live feed; every event on it comes after the backlog, with no gap and no duplicate.
    pub live: broadcast::Receiver<Arc<pb::Event>>,
    /// The sequence number the live feed continues after (the log head at subscription).
    pub live_after: u64,
}

struct State {
    ledger: Ledger,
    window: VecDeque<Arc<pb::Event>>,
    last_sequence: u64,
    events_in: KindCounters,
}

/// The `events_in` counter of each kind, looked up once: counting an event
/// is then an index and an atomic add, not a hash and a lock per event.
#[derive(Default)]
struct KindCounters(Vec<Option<Counter>>);

impl KindCounters {
    fn count(&mut self, kind: pb::EventKind, metrics: &Metrics) {
        let index = usize::try_from(kind as i32).unwrap_or(0);
        if index >= self.0.len() {
            self.0.resize(index + 1, None);
        }
        self.0[index]
            .get_or_insert_with(|| {
                metrics
                    .events_in
                    .get_or_create(&[("kind", kind.as_str_name())])
                    .clone()
            })
            .inc();
    }
}

/// The ledger, the log and the live fan-out, behind one lock so that a
/// snapshot and the events after it always line up.
pub struct EventLog {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<pb::Event>>,
    /// The newest sequence number, readable without the lock (subscribers read it per event).
    head: AtomicU64,
    /// The current epoch; changes only in [`EventLog::rebuild`], under the state lock.
    epoch: RwLock<String>,
    settings: LogSettings,
    metrics: Arc<Metrics>,
    durable: Mutex<Vec<DurableSubscriber>>,
    /// With a journal: the writer's side (`None` on a node that only reads).
    writer: Mutex<Option<Writer>>,
    /// With a journal: the last entry read back into the window.
    read_through: Mutex<EntryId>,
    /// With a journal: where appends go while this node does not write
    /// (to the node that does; see [`journal::Forwarded`]).
    forward: Mutex<Option<mpsc::UnboundedSender<journal::Forwarded>>>,
    /// Whether appends go through a journal.
    journaled: bool,
    /// Whether a journaled log's ledger was restored from the journal.
    restored_ledger: bool,
    /// Whether the journal answered the last read (always, without one).
    journal_reachable: std::sync::atomic::AtomicBool,
}

/// A subscriber that must not lose the events it wants.
struct DurableSubscriber {
    wants: fn(&pb::Event) -> bool,
    queue: mpsc::UnboundedSender<Arc<pb::Event>>,
}

impl EventLog {
    /// A new, empty log with a fresh epoch.
    pub fn new(ledger: Ledger, settings: LogSettings, metrics: Arc<Metrics>) -> Self {
        let (live, _) = broadcast::channel(settings.live_buffer.max(1));
        EventLog {
            state: Mutex::new(State {
                ledger,
                window: VecDeque::new(),
                last_sequence: 0,
                events_in: KindCounters::default(),
            }),
            epoch: RwLock::new(new_epoch()),
            live,
            head: AtomicU64::new(0),
            settings,
            metrics,
            durable: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
            read_through: Mutex::new(EntryId::default()),
            forward: Mutex::new(None),
            journaled: false,
            restored_ledger: false,
            journal_reachable: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// This log's current epoch. Readable inside [`EventLog::read`]: the epoch
    /// has its own lock, always taken after the state's.
    pub fn epoch(&self) -> String {
        self.epoch.read().clone()
    }

    /// A source rebuilt its picture after a (re)connect: applies `inputs` (what
    /// it found different), then starts a new epoch whose first event is a
    /// `Resync` (reason `SOURCE_REBUILT`) carrying the rebuilt state. The
    /// replay window restarts with the rebuild: events of the old epoch cannot
    /// be resumed by clients, while the log's own outputs (gateway, store)
    /// that fall behind during the rebuild's burst catch up on its events.
    /// With a journal the epoch stays and so does the window: the `Resync`
    /// is one more event, which clients resuming across it read.
    pub fn rebuild(&self, inputs: Vec<Input>, now: Instant) -> Vec<Arc<pb::Event>> {
        if self.journaled {
            let operation = Operation::Rebuild {
                inputs: inputs.clone(),
                at: now,
            };
            return self.write(operation, now, |ledger| {
                let mut emitted = ledger.apply_all(inputs, now);
                emitted.extend(ledger.flush_lists(now, true));
                emitted
            });
        }
        let mut state = self.state.lock();
        state.window.clear();
        let mut emitted = state.ledger.apply_all(inputs, now);
        // The rebuilt lists go out with the rebuild, however recent the last ones.
        emitted.extend(state.ledger.flush_lists(now, true));
        let mut events = self.append_locked(&mut state, emitted, now);
        *self.epoch.write() = new_epoch();
        let resync = pb::Resync {
            reason: ResyncReason::SourceRebuilt as i32,
            requested_after: 0,
            oldest_available: state.last_sequence + 1,
            snapshot: Some(state.ledger.snapshot(now)),
        };
        events.extend(self.append_locked(
            &mut state,
            vec![Emitted {
                payload: Payload::Resync(resync),
                tenant: String::new(),
            }],
            now,
        ));
        events
    }

    /// Applies an input to the ledger at `now` and appends the events it causes.
    pub fn apply(&self, input: Input, now: Instant) -> Vec<Arc<pb::Event>> {
        if self.journaled {
            if self.forwards(|| {
                journal::Forwarded::Change(Operation::Apply {
                    input: Box::new(input.clone()),
                    at: now,
                })
            }) {
                return Vec::new();
            }
            let operation = Operation::Apply {
                input: Box::new(input.clone()),
                at: now,
            };
            return self.write(operation, now, |ledger| ledger.apply(input, now));
        }
        let mut state = self.state.lock();
        let emitted = state.ledger.apply(input, now);
        self.append_locked(&mut state, emitted, now)
    }

    /// Applies a batch of inputs at `now` (see [`Ledger::apply_all`]: whole
    /// lists are emitted once, after the batch) and appends the events.
    pub fn apply_all(
        &self,
        inputs: impl IntoIterator<Item = Input>,
        now: Instant,
    ) -> Vec<Arc<pb::Event>> {
        if self.journaled {
            let inputs: Vec<Input> = inputs.into_iter().collect();
            if self.forwards(|| {
                journal::Forwarded::Change(Operation::ApplyAll {
                    inputs: inputs.clone(),
                    at: now,
                })
            }) {
                return Vec::new();
            }
            let operation = Operation::ApplyAll {
                inputs: inputs.clone(),
                at: now,
            };
            return self.write(operation, now, |ledger| ledger.apply_all(inputs, now));
        }
        let mut state = self.state.lock();
        let emitted = state.ledger.apply_all(inputs, now);
        self.append_locked(&mut state, emitted, now)
    }

    /// Appends the whole lists the ledger held back (see
    /// [`crate::ledger::LIST_EVERY`]) whose time is up at `now`.
    pub fn flush_lists(&self, now: Instant) -> Vec<Arc<pb::Event>> {
        if self.journaled {
            let held = self
                .writer
                .lock()
                .as_ref()
                .is_some_and(|writer| writer.ledger.lists_held());
            if !held {
                return Vec::new();
            }
            return self.write(Operation::FlushLists { at: now }, now, |ledger| {
                ledger.flush_lists(now, false)
            });
        }
        let mut state = self.state.lock();
        if !state.ledger.lists_held() {
            return Vec::new();
        }
        let emitted = state.ledger.flush_lists(now, false);
        self.append_locked(&mut state, emitted, now)
    }

    /// Appends an event that does not come from the ledger (statistics, chat, command results).
    pub fn publish(&self, payload: Payload, tenant: String, now: Instant) -> Arc<pb::Event> {
        if self.journaled {
            let emitted = Emitted { payload, tenant };
            if self.forwards(|| {
                use prost::Message;
                journal::Forwarded::Publish {
                    event: self.unnumbered(emitted.clone(), now).encode_to_vec(),
                    at: now,
                }
            }) {
                return Arc::new(self.unnumbered(emitted, now));
            }
            let mut events = self.write(Operation::Publish, now, |_| vec![emitted.clone()]);
            return events.pop().unwrap_or_else(|| {
                // Not the writer: the event is numbered nowhere.
                Arc::new(self.unnumbered(emitted, now))
            });
        }
        let mut state = self.state.lock();
        let mut events = self.append_locked(&mut state, vec![Emitted { payload, tenant }], now);
        events.pop().expect("one event appended")
    }

    /// Reads the ledger together with the sequence number of the last event folded into it.
    pub fn read<R>(&self, read: impl FnOnce(&Ledger, u64) -> R) -> R {
        let state = self.state.lock();
        read(&state.ledger, state.last_sequence)
    }

    /// Subscribes from `start`: replays what was missed when the window still holds it,
    /// else starts with a `Resync` snapshot saying why.
    pub fn subscribe(&self, start: &StartAt, now: Instant) -> Subscription {
        let state = self.state.lock();
        let live = self.live.subscribe();
        let oldest = state.window.front().map_or(0, |e| e.sequence);
        let resync_reason = if start
            .epoch
            .as_deref()
            .is_some_and(|e| *e != *self.epoch.read())
        {
            Some(ResyncReason::EpochChanged)
        } else if start.resume_after == 0 {
            start.snapshot_first.then_some(ResyncReason::Initial)
        } else if start.resume_after > state.last_sequence {
            Some(ResyncReason::ResumeAhead)
        } else if start.resume_after == state.last_sequence {
            None
        } else if oldest == 0 || start.resume_after + 1 < oldest {
            Some(ResyncReason::ResumeTooOld)
        } else {
            None
        };
        let backlog = match resync_reason {
            Some(reason) => vec![self.resync_event(&state, reason, start.resume_after, now)],
            None if start.resume_after == 0 && start.replay_window => Self::window_after(&state, 0),
            None if start.resume_after == 0 => Vec::new(),
            None => Self::window_after(&state, start.resume_after),
        };
        Subscription {
            backlog,
            live,
            live_after: state.last_sequence,
        }
    }

    /// For an output that fell behind after handling event `after` (0: none yet):
    /// every later event the window still holds, or a `Resync` when it holds too few.
    pub fn catch_up(&self, after: u64, now: Instant) -> Subscription {
        let state = self.state.lock();
        let live = self.live.subscribe();
        let oldest = state.window.front().map_or(0, |e| e.sequence);
        let backlog = if after >= state.last_sequence {
            Vec::new()
        } else if oldest == 0 || after + 1 < oldest {
            vec![self.resync_event(&state, ResyncReason::ResumeTooOld, after, now)]
        } else {
            Self::window_after(&state, after)
        };
        Subscription {
            backlog,
            live,
            live_after: state.last_sequence,
        }
    }

    /// Whether a reader that has every event through `after` can read on
    /// from the replay window: it holds every later event (or there is
    /// none), and `after` is not ahead of the log.
    pub fn holds_after(&self, after: u64) -> bool {
        let state = self.state.lock();
        Self::window_holds_after(&state, after)
    }

    fn window_holds_after(state: &State, after: u64) -> bool {
        let oldest = state.window.front().map_or(0, |e| e.sequence);
        after == state.last_sequence
            || (after < state.last_sequence && oldest != 0 && after + 1 >= oldest)
    }

    /// Every event after `after` through `through`, when the replay window
    /// still holds them all; `None` when it does not.
    pub fn replay(&self, after: u64, through: u64) -> Option<Vec<Arc<pb::Event>>> {
        let state = self.state.lock();
        Self::window_holds_after(&state, after).then(|| {
            state
                .window
                .iter()
                .skip_while(|e| e.sequence <= after)
                .take_while(|e| e.sequence <= through)
                .cloned()
                .collect()
        })
    }

    fn window_after(state: &State, after: u64) -> Vec<Arc<pb::Event>> {
        state
            .window
            .iter()
            .filter(|e| e.sequence > after)
            .cloned()
            .collect()
    }

    fn resync_event(
        &self,
        state: &State,
        reason: ResyncReason,
        requested_after: u64,
        now: Instant,
    ) -> Arc<pb::Event> {
        Arc::new(pb::Event {
            sequence: state.last_sequence,
            epoch: self.epoch(),
            time: Some(to_timestamp(now)),
            tenant: String::new(),
            payload: Some(Payload::Resync(pb::Resync {
                reason: reason as i32,
                requested_after,
                oldest_available: state.window.front().map_or(0, |e| e.sequence),
                snapshot: Some(state.ledger.snapshot(now)),
            })),
        })
    }

    /// Every later event that `wants` picks, in order, through a queue that
    /// never drops: for outputs that must not lose what they keep (the
    /// store's records), whose events are few next to the whole feed. The
    /// queue grows while the subscriber is slow.
    pub fn subscribe_durable(
        &self,
        wants: fn(&pb::Event) -> bool,
    ) -> mpsc::UnboundedReceiver<Arc<pb::Event>> {
        let (queue, receiver) = mpsc::unbounded_channel();
        self.durable.lock().push(DurableSubscriber { wants, queue });
        receiver
    }

    /// The live feed alone, for outputs that never resume (the Socket.IO gateway).
    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<pb::Event>> {
        self.live.subscribe()
    }

    /// The sequence number of the newest event (lock-free).
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Numbers `emitted` in order and appends each to the replay window, the
    /// live feed and the durable subscribers that want it. What is the same
    /// for the whole batch is done once: the epoch and the time, the window's
    /// age limit, the durable subscribers' lock, the gauges.
    fn append_locked(
        &self,
        state: &mut State,
        emitted: Vec<Emitted>,
        now: Instant,
    ) -> Vec<Arc<pb::Event>> {
        if emitted.is_empty() {
            return Vec::new();
        }
        let epoch = self.epoch();
        let time = to_timestamp(now);
        let mut events = Vec::with_capacity(emitted.len());
        for (sequence, Emitted { payload, tenant }) in (state.last_sequence + 1..).zip(emitted) {
            events.push(Arc::new(pb::Event {
                sequence,
                epoch: epoch.clone(),
                time: Some(time),
                tenant,
                payload: Some(payload),
            }));
        }
        self.push_locked(state, events.clone(), Some(now));
        events
    }

    /// Appends numbered `events` to the replay window, the live feed and the
    /// durable subscribers that want them, and trims the window as of `now`.
    fn push_locked(&self, state: &mut State, events: Vec<Arc<pb::Event>>, now: Option<Instant>) {
        if events.is_empty() {
            return;
        }
        for event in &events {
            state.last_sequence = event.sequence;
            if let Some(payload) = &event.payload {
                state.events_in.count(kind_of(payload), &self.metrics);
            }
            state.window.push_back(Arc::clone(event));
            self.head.store(state.last_sequence, Ordering::Release);
            // A send error only means nobody listens right now; the window keeps the event.
            let _ = self.live.send(Arc::clone(event));
        }
        if let Some(now) = now {
            self.trim_window_locked(state, now);
        }
        {
            let mut durable = self.durable.lock();
            if !durable.is_empty() {
                for event in &events {
                    durable.retain(|subscriber| {
                        !(subscriber.wants)(event)
                            || subscriber.queue.send(Arc::clone(event)).is_ok()
                    });
                }
            }
        }
        self.metrics.log_head.set(state.last_sequence);
        self.metrics.log_window.set(state.window.len() as i64);
    }

    /// Drops the window's events past its size or older than its age at `now`.
    fn trim_window_locked(&self, state: &mut State, now: Instant) {
        let max_age =
            chrono::Duration::from_std(self.settings.window_age).unwrap_or(chrono::Duration::MAX);
        let cutoff = now.checked_sub_signed(max_age);
        while state.window.len() > self.settings.window_events
            || state.window.front().is_some_and(|e| {
                cutoff.is_some_and(|cutoff| {
                    e.time
                        .as_ref()
                        .and_then(crate::time::from_timestamp)
                        .is_some_and(|t| t < cutoff)
                })
            })
        {
            state.window.pop_front();
        }
    }

    /// The oldest event the window holds (0: none).
    pub fn oldest(&self) -> u64 {
        self.state.lock().window.front().map_or(0, |e| e.sequence)
    }
}

/// Emits the whole lists the ledger held back (see [`crate::ledger::LIST_EVERY`])
/// as their time comes up, until `shutdown`: the last change of a busy spell
/// reaches clients within about a quarter of that time more.
pub async fn flush_lists_every(log: Arc<EventLog>, shutdown: CancellationToken) {
    let every = crate::ledger::LIST_EVERY
        .to_std()
        .unwrap_or(Duration::from_millis(100))
        / 4;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        log.flush_lists(chrono::Utc::now());
    }
}

/// A fresh epoch id.
pub fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Instant {
        Utc.timestamp_opt(1_705_312_200 + seconds, 0).unwrap()
    }

    fn log(window_events: usize) -> EventLog {
        EventLog::new(
            Ledger::new("auto"),
            LogSettings {
                window_events,
                window_age: Duration::from_secs(60),
                live_buffer: 4,
            },
            Arc::new(Metrics::new()),
        )
    }

    fn mode(log: &EventLog, n: u64, now: Instant) {
        log.apply(
            Input::SystemModeSet {
                mode: format!("m{n}"),
            },
            now,
        );
    }

    fn resync_reason(sub: &Subscription) -> Option<ResyncReason> {
        match sub.backlog.first()?.payload.as_ref()? {
            Payload::Resync(r) => Some(r.reason()),
            _ => None,
        }
    }

    #[test]
    fn a_rebuild_starts_a_new_epoch_readable_while_reading_the_ledger() {
        let log = log(10);
        mode(&log, 1, at(0));
        let before = log.read(|_, _| log.epoch());
        let events = log.rebuild(Vec::new(), at(1));
        let last = events.last().expect("the rebuild's resync");
        assert!(matches!(last.payload, Some(Payload::Resync(_))));
        assert_ne!(last.epoch, before);
        assert_eq!(log.read(|_, _| log.epoch()), last.epoch);
        let resumed = log.subscribe(
            &StartAt {
                resume_after: 1,
                epoch: Some(before),
                snapshot_first: false,
                replay_window: false,
            },
            at(2),
        );
        assert_eq!(resync_reason(&resumed), Some(ResyncReason::EpochChanged));
    }

    #[test]
    fn a_replay_window_start_sends_everything_the_window_holds_then_goes_live() {
        let log = log(3);
        for n in 1..=5 {
            mode(&log, n, at(0));
        }
        let mut sub = log.subscribe(
            &StartAt {
                replay_window: true,
                ..Default::default()
            },
            at(0),
        );
        let replayed: Vec<u64> = sub.backlog.iter().map(|e| e.sequence).collect();
        assert_eq!(replayed, [3, 4, 5], "the window's events, oldest first");
        mode(&log, 6, at(0));
        assert_eq!(sub.live.try_recv().unwrap().sequence, 6);
    }

    #[test]
    fn resume_replays_exactly_the_missed_events_then_goes_live() {
        let log = log(100);
        for n in 1..=5 {
            mode(&log, n, at(0));
        }
        let mut sub = log.subscribe(
            &StartAt {
                resume_after: 2,
                ..Default::default()
            },
            at(0),
        );
        let replayed: Vec<u64> = sub.backlog.iter().map(|e| e.sequence).collect();
        assert_eq!(replayed, [3, 4, 5]);
        assert_eq!(sub.live_after, 5);
        mode(&log, 6, at(0));
        assert_eq!(sub.live.try_recv().unwrap().sequence, 6);
        assert!(sub.live.try_recv().is_err());
    }

    #[test]
    fn too_old_epoch_changed_and_ahead_resume_start_with_a_snapshot() {
        let log = log(3);
        for n in 1..=6 {
            mode(&log, n, at(0));
        }
        let too_old = log.subscribe(
            &StartAt {
                resume_after: 2,
                ..Default::default()
            },
            at(0),
        );
        assert_eq!(resync_reason(&too_old), Some(ResyncReason::ResumeTooOld));
        let Some(Payload::Resync(resync)) = &too_old.backlog[0].payload else {
            unreachable!()
        };
        assert_eq!(resync.oldest_available, 4);
        assert_eq!(resync.snapshot.as_ref().unwrap().system_mode, "m6");
        assert_eq!(too_old.backlog[0].sequence, 6, "snapshot is as of the head");

        let edge = log.subscribe(
            &StartAt {
                resume_after: 3,
                ..Default::default()
            },
            at(0),
        );
        assert_eq!(edge.backlog.len(), 3, "4, 5, 6 are still in the window");

        let other_epoch = log.subscribe(
            &StartAt {
                resume_after: 5,
                epoch: Some("old".into()),
                snapshot_first: false,
                replay_window: false,
            },
            at(0),
        );
        assert_eq!(
            resync_reason(&other_epoch),
            Some(ResyncReason::EpochChanged)
        );
        let ahead = log.subscribe(
            &StartAt {
                resume_after: 99,
                ..Default::default()
            },
            at(0),
        );
        assert_eq!(resync_reason(&ahead), Some(ResyncReason::ResumeAhead));
        let current = log.subscribe(
            &StartAt {
                resume_after: 6,
                ..Default::default()
            },
            at(0),
        );
        assert!(current.backlog.is_empty());
    }

    #[test]
    fn catch_up_replays_from_any_point_including_the_very_start() {
        let log = log(3);
        for n in 1..=3 {
            mode(&log, n, at(0));
        }
        let from_start = log.catch_up(0, at(0));
        let sequences: Vec<u64> = from_start.backlog.iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, [1, 2, 3]);
        mode(&log, 4, at(0));
        assert_eq!(
            resync_reason(&log.catch_up(0, at(0))),
            Some(ResyncReason::ResumeTooOld)
        );
        assert!(log.catch_up(4, at(0)).backlog.is_empty());
    }

    #[test]
    fn the_window_forgets_by_age() {
        let log = log(100);
        mode(&log, 1, at(0));
        mode(&log, 2, at(10));
        mode(&log, 3, at(90));
        let sub = log.subscribe(
            &StartAt {
                resume_after: 1,
                ..Default::default()
            },
            at(90),
        );
        assert_eq!(resync_reason(&sub), Some(ResyncReason::ResumeTooOld));
        let sub = log.subscribe(
            &StartAt {
                resume_after: 2,
                ..Default::default()
            },
            at(90),
        );
        assert_eq!(
            sub.backlog.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [3]
        );
    }

    #[test]
    fn a_slow_subscriber_never_blocks_appends_and_learns_how_many_it_lost() {
        let log = log(100);
        let mut slow = log.subscribe_live();
        for n in 1..=10 {
            mode(&log, n, at(0));
        }
        match slow.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(lost)) => assert_eq!(lost, 6),
            other => panic!("expected a lag report, got {other:?}"),
        }
        assert_eq!(slow.try_recv().unwrap().sequence, 7);
    }

    mod journaled {
        use super::*;
        use crate::ledger::model::{CallIds, Direction};
        use crate::log::journal::Entry;

        fn started(call_id: &str) -> Input {
            Input::CallStarted {
                call_id: call_id.to_owned(),
                ids: CallIds {
                    ami_uniqueid: call_id.to_owned(),
                    ..CallIds::default()
                },
                direction: Direction::Inbound,
                customer_number: "254712345678".to_owned(),
                caller_name: "Customer".to_owned(),
                destination: "8000".to_owned(),
                context: "from-external".to_owned(),
                channel_state: "Ring".to_owned(),
                queue: None,
                tenant: "acme".to_owned(),
            }
        }

        fn stored(entries: Vec<Entry>, checkpoint: Option<journal::Checkpoint>) -> journal::Stored {
            journal::Stored {
                epoch: "kept".into(),
                checkpoint,
                entries,
            }
        }

        fn journaled(entries: Vec<Entry>, checkpoint: Option<journal::Checkpoint>) -> EventLog {
            EventLog::journaled(
                stored(entries, checkpoint),
                "fresh",
                Ledger::new("auto"),
                LogSettings::default(),
                Arc::new(Metrics::new()),
            )
        }

        /// A writer's appends, read back by itself and by another node.
        fn write_some(writer: &EventLog) -> Vec<Entry> {
            let (queue, mut written) = mpsc::unbounded_channel();
            writer.start_writing(queue);
            writer.apply(started("c1"), at(0));
            writer.apply_all(
                vec![
                    Input::AgentLoggedIn {
                        extension: "1001".into(),
                        agent_id: "a1".into(),
                        name: "Ann".into(),
                        max_calls: 1,
                        queues: vec![],
                    },
                    started("c2"),
                ],
                at(1),
            );
            writer.flush_lists(at(2));
            writer.publish(
                Payload::SystemModeUpdate(pb::SystemModeUpdate { mode: "x".into() }),
                String::new(),
                at(3),
            );
            writer.rebuild(vec![started("c3")], at(4));
            let mut entries = Vec::new();
            while let Ok(entry) = written.try_recv() {
                entries.push(entry);
            }
            entries
        }

        #[test]
        fn nodes_that_read_the_same_entries_hold_the_same_ledger_and_window() {
            let writer = journaled(Vec::new(), None);
            let entries = write_some(&writer);
            assert_eq!(
                writer.head(),
                0,
                "nothing reaches the window before it is read back"
            );
            let reader = journaled(Vec::new(), None);
            for entry in &entries {
                assert!(writer.ingest(entry.clone()));
                assert!(
                    reader.ingest(entry.clone()),
                    "the replay made the entry's events"
                );
            }
            let head = reader.head();
            reader.ingest(entries[0].clone());
            assert_eq!(reader.head(), head, "an entry read again is skipped");
            let snapshot = |log: &EventLog| log.read(|ledger, head| (ledger.snapshot(at(5)), head));
            assert_eq!(snapshot(&reader), snapshot(&writer));
            assert_eq!(reader.head(), entries.last().unwrap().id.sequence);
            let resumed = reader.subscribe(
                &StartAt {
                    resume_after: 1,
                    epoch: Some("kept".into()),
                    ..StartAt::default()
                },
                at(5),
            );
            assert_eq!(
                resumed.backlog.len() as u64,
                reader.head() - 1,
                "the rebuild kept the window"
            );
            assert!(matches!(
                resumed.backlog.last().unwrap().payload,
                Some(Payload::Resync(_))
            ));
        }

        #[test]
        fn a_starting_node_restores_from_the_checkpoint_and_the_entries_after_it() {
            let writer = journaled(Vec::new(), None);
            let entries = write_some(&writer);
            let (before, after) = entries.split_at(2);
            for entry in before {
                writer.ingest(entry.clone());
            }
            let bytes = rmp_serde::to_vec_named(&writer.checkpoint()).unwrap();
            let checkpoint: journal::Checkpoint = rmp_serde::from_slice(&bytes).unwrap();
            for entry in after {
                writer.ingest(entry.clone());
            }
            let restarted = journaled(entries.clone(), Some(checkpoint));
            assert!(restarted.restored_ledger());
            assert_eq!(restarted.epoch(), "kept");
            let snapshot = |log: &EventLog| log.read(|ledger, head| (ledger.snapshot(at(5)), head));
            assert_eq!(snapshot(&restarted), snapshot(&writer));
            assert_eq!(restarted.read_through(), entries.last().unwrap().id);

            // Without the start of its history it cannot go on: a new epoch.
            let lost = journaled(after.to_vec(), None);
            assert!(!lost.restored_ledger());
            assert_eq!(lost.epoch(), "fresh");
            assert_eq!(lost.head(), writer.head(), "numbers go on rising");
        }

        #[test]
        fn a_ledger_that_went_astray_is_reloaded_from_the_checkpoint_and_the_entries_after_it() {
            let writer = journaled(Vec::new(), None);
            let entries = write_some(&writer);
            for entry in &entries[..2] {
                writer.ingest(entry.clone());
            }
            let checkpoint = || -> journal::Checkpoint {
                let bytes = rmp_serde::to_vec_named(&writer.checkpoint()).unwrap();
                rmp_serde::from_slice(&bytes).unwrap()
            };
            let at_second = checkpoint();
            for entry in &entries[2..] {
                writer.ingest(entry.clone());
            }

            // A reader whose replay of the third entry made another call
            // than the writer's: its ledger went astray.
            let reader = journaled(Vec::new(), None);
            let mut forged = entries[2].clone();
            forged.operation = journal::Operation::Apply {
                input: Box::new(started("c9")),
                at: at(2),
            };
            for (index, entry) in entries.iter().enumerate() {
                let entry = if index == 2 {
                    forged.clone()
                } else {
                    entry.clone()
                };
                let agrees = reader.ingest(entry);
                assert_eq!(agrees, index != 2, "entry {index}");
            }
            let snapshot = |log: &EventLog| log.read(|ledger, head| (ledger.snapshot(at(5)), head));
            assert_ne!(snapshot(&reader), snapshot(&writer), "astray");
            let head = reader.head();

            // A checkpoint past what it read, or none, cannot reload it.
            let ahead = journaled(Vec::new(), None);
            ahead.ingest(entries[0].clone());
            assert!(!ahead.reload_ledger(stored(entries.clone(), Some(checkpoint()))));
            assert!(!reader.reload_ledger(stored(entries.clone(), None)));
            // A gap between the checkpoint and what it read cannot either.
            let gapped: Vec<Entry> = entries
                .iter()
                .filter(|e| e.id != entries[3].id)
                .cloned()
                .collect();
            assert!(!reader.reload_ledger(stored(gapped, Some(checkpoint_at(&at_second)))));

            // The checkpoint and the real entries after it put it back on track.
            assert!(reader.reload_ledger(stored(entries.clone(), Some(at_second))));
            assert_eq!(snapshot(&reader), snapshot(&writer));
            assert_eq!(reader.head(), head, "the window and numbering stay");
        }

        /// A copy of `checkpoint` (the ledger is not `Clone`-cheap to share).
        fn checkpoint_at(checkpoint: &journal::Checkpoint) -> journal::Checkpoint {
            let bytes = rmp_serde::to_vec_named(checkpoint).unwrap();
            rmp_serde::from_slice(&bytes).unwrap()
        }
    }
}
