//! Whole lists (`calls:active`, `agents:status`, `queues:stats`) go out in
//! paced rounds.
//!
//! A whole list is large: with 2,000 agents, `agents:status` is about
//! 300 kB. Sent to a thousand wallboards at one instant it was 300 MB to
//! write at once, and every call event queued behind it on every socket:
//! the 99th percentile of call-event latency was the time to write those
//! bursts. A round instead hands a list to a room's sockets a few at a time,
//! all rounds together at [`LIST_BYTES_PER_SECOND`], so lists are written
//! at a steady rate beside the call events and never in a burst.
//!
//! A list that changes while its round runs replaces the list for the
//! sockets not yet served. When a round is over, the next one starts with
//! the newest list, at least [`LIST_INTERVAL`] after the previous one
//! started. Each list is a full picture, so nothing is lost by skipping the
//! intermediate ones; the single-call events (`call:new`, `call:ended`, ...)
//! are never held and keep the wallboards current in between.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Sent, emissions};
use crate::events::kind_of;
use crate::proto::v1::{self as pb, EventKind, event::Payload};

/// The shortest time between the starts of two rounds of one list.
pub const LIST_INTERVAL: Duration = Duration::from_secs(1);

/// The bytes per second whole lists may take on the sockets together. A list
/// of B bytes for N sockets takes `B × N / LIST_BYTES_PER_SECOND` to go
/// round: 1,000 wallboards get a 300 kB list about every 10 s.
pub const LIST_BYTES_PER_SECOND: f64 = 32_000_000.0;

/// How often rounds hand out lists (and held lists are looked at).
pub const PACE_TICK: Duration = Duration::from_millis(10);

/// The most list bytes written in one go after a quiet spell: the budget of
/// this long.
const BURST: Duration = Duration::from_millis(20);

/// The bytes each running round may write per turn.
const QUANTUM: f64 = 16_384.0;

/// What [`ListRounds::pace`] hands to one recipient.
pub struct ListEmission<'a> {
    /// The emission.
    pub sent: &'a Sent,
    /// The list event's sequence in the log.
    pub sequence: u64,
}

/// One list of one tenant.
type ListKey = (EventKind, String);

/// A list on its way round a room, or several rooms.
struct Round<R> {
    event: Arc<pb::Event>,
    emissions: Vec<Sent>,
    /// Who still gets it, and which of the emissions.
    queue: VecDeque<(R, usize)>,
    /// A newer list, for the sockets not yet served.
    newer: Option<Arc<pb::Event>>,
    /// When the round started or last took a newer list: a list is
    /// serialized at most once per [`LIST_INTERVAL`], however often it changes.
    serialized: Instant,
    /// Bytes the round may still write in this turn (deficit round robin:
    /// every turn adds [`QUANTUM`], so rounds share the budget by bytes and
    /// a small list goes round quickly beside a large one).
    deficit: f64,
}

impl<R> Round<R> {
    /// The sockets not yet served get the newer list, if there is one and
    /// the last was serialized long enough ago (and when it has the same
    /// emissions, as every list of one kind and tenant has).
    fn take_newer(&mut self, now: Instant) {
        if now < self.serialized + LIST_INTERVAL {
            return;
        }
        let Some(event) = self.newer.take() else {
            return;
        };
        self.serialized = now;
        let newer = emissions(&event);
        let same_shape = newer.len() == self.emissions.len()
            && newer
                .iter()
                .zip(&self.emissions)
                .all(|(a, b)| a.name == b.name && a.room == b.room);
        if same_shape {
            self.event = event;
            self.emissions = newer;
        }
    }
}

/// Rounds running, and lists waiting for their next round. `R` is who
/// receives (a socket; a number in the tests).
pub struct ListRounds<R> {
    running: HashMap<ListKey, Round<R>>,
    held: HashMap<ListKey, Arc<pb::Event>>,
    started: HashMap<ListKey, Instant>,
    /// Bytes that may still be written now (negative: owed).
    credit: f64,
    refilled: Option<Instant>,
    bytes_per_second: f64,
}

impl<R> Default for ListRounds<R> {
    fn default() -> Self {
        ListRounds::new(LIST_BYTES_PER_SECOND)
    }
}

impl<R> ListRounds<R> {
    /// No rounds yet; lists together take `bytes_per_second`.
    pub fn new(bytes_per_second: f64) -> Self {
        ListRounds {
            running: HashMap::new(),
            held: HashMap::new(),
            started: HashMap::new(),
            credit: 0.0,
            refilled: None,
            bytes_per_second,
        }
    }

    /// Whether `event` is a whole list; such events go through [`ListRounds::offer`].
    pub fn is_list(event: &pb::Event) -> bool {
        matches!(
            event.payload,
            Some(Payload::CallsActive(_) | Payload::AgentsStatus(_) | Payload::QueuesStats(_))
        )
    }

    fn key(event: &pb::Event) -> Option<ListKey> {
        Some((kind_of(event.payload.as_ref()?), event.tenant.clone()))
    }

    /// Takes a new list: `Some` when a round may start with it now;
    /// otherwise it is held for the next round (replacing an older one),
    /// and, when its round is running, it replaces the list for the sockets
    /// that round has not yet served.
    pub fn offer(&mut self, event: Arc<pb::Event>, now: Instant) -> Option<Arc<pb::Event>> {
        let Some(key) = Self::key(&event) else {
            return Some(event);
        };
        if let Some(round) = self.running.get_mut(&key) {
            round.newer = Some(Arc::clone(&event));
            self.held.insert(key, event);
            return None;
        }
        if self
            .started
            .get(&key)
            .is_some_and(|started| now < *started + LIST_INTERVAL)
        {
            self.held.insert(key, event);
            return None;
        }
        Some(event)
    }

    /// Starts the round of `event`, serialized as `emissions`, to
    /// `recipients` (each with the index of its emission).
    pub fn start(
        &mut self,
        event: Arc<pb::Event>,
        emissions: Vec<Sent>,
        recipients: VecDeque<(R, usize)>,
        now: Instant,
    ) {
        let Some(key) = Self::key(&event) else {
            return;
        };
        self.started.insert(key.clone(), now);
        if self
            .held
            .get(&key)
            .is_some_and(|held| held.sequence <= event.sequence)
        {
            self.held.remove(&key);
        }
        if !recipients.is_empty() {
            let round = Round {
                event,
                emissions,
                queue: recipients,
                newer: None,
                serialized: now,
                deficit: 0.0,
            };
            self.running.insert(key, round);
        }
    }

    /// The held lists whose round may start now: none of theirs is running
    /// and the interval is up.
    pub fn due(&mut self, now: Instant) -> Vec<Arc<pb::Event>> {
        let ready: Vec<ListKey> = self
            .held
            .keys()
            .filter(|key| {
                !self.running.contains_key(*key)
                    && self
                        .started
                        .get(*key)
                        .is_none_or(|started| now >= *started + LIST_INTERVAL)
            })
            .cloned()
            .collect();
        ready
            .into_iter()
            .filter_map(|key| self.held.remove(&key))
            .collect()
    }

    /// Hands the running rounds' lists out, the rounds taking turns by
    /// bytes, as far as the byte budget since the last call allows. `send`
    /// writes one emission to one recipient and returns the bytes it wrote
    /// (0 when it skipped it).
    pub fn pace(&mut self, now: Instant, mut send: impl FnMut(&R, ListEmission) -> usize) {
        let elapsed = self
            .refilled
            .map_or(BURST, |refilled| now.saturating_duration_since(refilled));
        self.refilled = Some(now);
        let cap = self.bytes_per_second * BURST.as_secs_f64();
        self.credit = (self.credit + self.bytes_per_second * elapsed.as_secs_f64()).min(cap);
        for round in self.running.values_mut() {
            round.take_newer(now);
        }
        while self.credit > 0.0 && self.running.values().any(|r| !r.queue.is_empty()) {
            for round in self.running.values_mut() {
                if round.queue.is_empty() {
                    round.deficit = 0.0;
                    continue;
                }
                round.deficit += QUANTUM;
                while round.deficit > 0.0 && self.credit > 0.0 {
                    let Some((recipient, index)) = round.queue.pop_front() else {
                        break;
                    };
                    if let Some(sent) = round.emissions.get(index) {
                        let emission = ListEmission {
                            sent,
                            sequence: round.event.sequence,
                        };
                        let bytes = send(&recipient, emission) as f64;
                        round.deficit -= bytes;
                        self.credit -= bytes;
                    }
                }
                if self.credit <= 0.0 {
                    break;
                }
            }
        }
        self.running.retain(|_, round| !round.queue.is_empty());
    }

    /// The oldest sequence of a list still to be handed out (running or held).
    pub fn oldest_pending(&self) -> Option<u64> {
        let running = self.running.values().map(|round| round.event.sequence);
        let held = self.held.values().map(|event| event.sequence);
        running.chain(held).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(sequence: u64, tenant: &str, agents: usize) -> Arc<pb::Event> {
        let agent = pb::WallboardAgent {
            extension: "1001".into(),
            calls_today: 12,
            ..Default::default()
        };
        Arc::new(pb::Event {
            sequence,
            tenant: tenant.into(),
            payload: Some(Payload::AgentsStatus(pb::WallboardAgentList {
                agents: vec![agent; agents],
            })),
            ..Default::default()
        })
    }

    /// Starts `event`'s round to `sockets` recipients of its first emission.
    fn start(rounds: &mut ListRounds<u32>, event: Arc<pb::Event>, sockets: u32, now: Instant) {
        let sent = emissions(&event);
        let recipients = (0..sockets).map(|socket| (socket, 0)).collect();
        rounds.start(event, sent, recipients, now);
    }

    /// Paces at `now` and returns (recipient, sequence) of what went out.
    fn pace(rounds: &mut ListRounds<u32>, now: Instant) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        rounds.pace(now, |socket, emission| {
            out.push((*socket, emission.sequence));
            emission.sent.framed.len()
        });
        out
    }

    #[test]
    fn a_round_hands_a_list_out_at_the_byte_rate_not_at_once() {
        let start_at = Instant::now();
        let mut rounds = ListRounds::new(100_000.0);
        let event = list(1, "", 10);
        let bytes = emissions(&event)[0].framed.len();
        assert!(bytes > 100, "a list of ten agents is {bytes} bytes");
        let event = rounds.offer(event, start_at).expect("nothing ran: at once");
        start(&mut rounds, event, 1_000, start_at);
        // The first call has the burst budget: 20 ms of 100 kB/s = 2 kB.
        let first = pace(&mut rounds, start_at);
        assert_eq!(first.len(), 2_000usize.div_ceil(bytes));
        // Paced every tick for a second, about 100 kB more went out.
        let second: Vec<_> = (1..=100)
            .flat_map(|tick| pace(&mut rounds, start_at + PACE_TICK * tick))
            .collect();
        let expected = 100_000 / bytes;
        assert!(
            (expected - 1..=expected + 1).contains(&second.len()),
            "{} sockets served in a second, expected about {expected}",
            second.len()
        );
        assert_eq!(second[0].0, first.len() as u32, "in order, each once");
        assert_eq!(rounds.oldest_pending(), Some(1));
        // A fan-out held up for a second does not make up for it in one burst.
        let late = pace(&mut rounds, start_at + Duration::from_secs(2));
        assert!(late.len() <= 2_000usize.div_ceil(bytes));
    }

    #[test]
    fn a_list_that_changes_mid_round_reaches_the_rest_and_starts_the_next_round() {
        let start_at = Instant::now();
        let mut rounds = ListRounds::new(1_000_000.0);
        start(&mut rounds, list(1, "", 100), 2_000, start_at);
        let early = pace(&mut rounds, start_at);
        assert!(early.iter().all(|(_, sequence)| *sequence == 1));
        assert!(
            rounds.offer(list(2, "", 100), start_at).is_none(),
            "its round runs: the newer list joins it"
        );
        let soon = pace(&mut rounds, start_at + Duration::from_millis(10));
        assert!(
            soon.iter().all(|(_, sequence)| *sequence == 1),
            "a list is serialized at most once an interval"
        );
        assert!(rounds.offer(list(3, "", 100), start_at).is_none());
        let later = pace(&mut rounds, start_at + LIST_INTERVAL);
        assert!(!later.is_empty());
        assert!(
            later.iter().all(|(_, sequence)| *sequence == 3),
            "the newest of the lists that came"
        );
        assert!(
            rounds.due(start_at + LIST_INTERVAL * 5).is_empty(),
            "no second round while the first runs"
        );
        // Run the round to its end.
        let mut now = start_at + LIST_INTERVAL;
        while rounds.running.values().any(|round| !round.queue.is_empty()) {
            now += Duration::from_secs(1);
            pace(&mut rounds, now);
        }
        let due = rounds.due(now);
        assert_eq!(
            due.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [3],
            "the sockets served the old list get the newest in the next round"
        );
    }

    #[test]
    fn lists_faster_than_the_interval_wait_for_it_and_only_the_latest_goes() {
        let start_at = Instant::now();
        let mut rounds = ListRounds::<u32>::new(1e9);
        start(&mut rounds, list(1, "", 1), 1, start_at);
        pace(&mut rounds, start_at);
        assert!(rounds.offer(list(2, "", 1), start_at).is_none(), "too soon");
        assert!(
            rounds.offer(list(3, "", 1), start_at).is_none(),
            "replaces it"
        );
        assert_eq!(rounds.oldest_pending(), Some(3));
        assert_eq!(
            rounds
                .offer(list(4, "acme", 1), start_at)
                .map(|e| e.sequence),
            Some(4),
            "another tenant's list has its own rounds"
        );
        assert!(rounds.due(start_at + LIST_INTERVAL / 2).is_empty());
        let due = rounds.due(start_at + LIST_INTERVAL);
        assert_eq!(due.iter().map(|e| e.sequence).collect::<Vec<_>>(), [3]);
        assert!(rounds.due(start_at + LIST_INTERVAL * 3).is_empty(), "once");
    }

    #[test]
    fn rounds_of_several_lists_share_the_budget_in_turn() {
        let start_at = Instant::now();
        let mut rounds = ListRounds::new(10_000_000.0);
        start(&mut rounds, list(1, "", 200), 50, start_at);
        start(&mut rounds, list(2, "acme", 1), 50, start_at);
        let large_bytes = emissions(&list(1, "", 200))[0].framed.len();
        let small_bytes = emissions(&list(2, "acme", 1))[0].framed.len();
        let out = pace(&mut rounds, start_at);
        let small = out.iter().filter(|(_, sequence)| *sequence == 2).count();
        let large = out.len() - small;
        assert_eq!(small, 50, "the small list went round at once");
        assert!(large >= 1, "the large one has its share too");
        // Once the small one is done the large one has the whole budget.
        let budget = 10_000_000.0 * BURST.as_secs_f64();
        let rest = (budget - (small * small_bytes) as f64) / large_bytes as f64;
        assert!(
            large as f64 <= rest.ceil() + 1.0,
            "{large} large lists in {budget} bytes"
        );
    }
}
