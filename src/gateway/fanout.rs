//! The gateway's fan-out: one task turns the log's live feed into Socket.IO
//! emissions, and greets sockets that connect.
//!
//! A connecting socket does not join its room by itself: the fan-out task
//! takes it between two events, sends its greeting (`system_state` and the
//! wallboard lists) and then the emissions it made since the greeting's
//! picture was taken, and only then adds it to its room. Every socket so
//! reads the greeting and then each later event exactly once, in order,
//! whatever the load. Sockets that connect close together share one greeting,
//! built at most every [`GREETING_REUSE`] and serialized once, so a thousand
//! dashboards reconnecting after a restart cost a few greetings, not a
//! thousand, and never hold the ledger while JSON is written.
//!
//! Every emission is framed once (its Socket.IO packet in its Engine.IO
//! message) and the same bytes go to every socket of its room; each socket
//! gets the run of consecutive emissions to its room in one hand-over, all
//! or none, so that one full socket loses whole runs and is told so.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::catalog::{Direction, lookup};
use super::client::{GreetingKind, Joiner, JoinerInbox, Joining, Socket};
use super::lists::{ListRounds, PACE_TICK};
use super::recovery::{Offset, Restore};
use super::shape_payload;
use super::sockets::Io;
use super::{Sent, emissions, emissions_with};
use crate::events::kind_of;
use crate::ledger::views;
use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::proto::v1::{self as pb, event::Payload};
use crate::socket_json::{self, masked};
use crate::socketio::engine::{Framed, SendError};
use crate::socketio::server::{event_message, event_message_at};

/// How long one greeting picture serves sockets that connect after it.
pub const GREETING_REUSE: Duration = Duration::from_millis(250);

/// The emissions kept to bring a greeting up to date: at least the events of
/// [`GREETING_REUSE`] at the highest rate the gateway serves.
const RECENT_EVENTS: usize = 8192;

/// The most events of the feed taken in one go.
const MAX_BATCH: usize = 256;

/// How often losses are reported to sockets that get no further event.
const LOSS_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The emissions of the most recent events, oldest first.
#[derive(Default)]
struct Recent {
    events: VecDeque<(u64, Vec<Sent>)>,
    /// The newest sequence no longer held (0: nothing dropped yet).
    dropped_through: u64,
}

impl Recent {
    fn push(&mut self, sequence: u64, sent: Vec<Sent>) {
        if sent.is_empty() {
            return;
        }
        if self.events.len() == RECENT_EVENTS
            && let Some((oldest, _)) = self.events.pop_front()
        {
            self.dropped_through = oldest;
        }
        self.events.push_back((sequence, sent));
    }

    /// Whether every emission after `sequence` is still held.
    fn covers(&self, sequence: u64) -> bool {
        sequence >= self.dropped_through
    }

    /// The emissions of event `sequence`, when still held and it had any.
    fn of(&self, sequence: u64) -> Option<&[Sent]> {
        let at = self
            .events
            .binary_search_by_key(&sequence, |(s, _)| *s)
            .ok()?;
        Some(&self.events[at].1)
    }

    /// The emissions to `room` of events after `sequence`.
    fn after<'a>(&'a self, sequence: u64, room: &'a str) -> impl Iterator<Item = &'a Sent> {
        self.events
            .iter()
            .filter(move |(s, _)| *s > sequence)
            .flat_map(|(_, sent)| sent.iter())
            .filter(move |sent| sent.room == room)
    }
}

/// Consecutive emissions to one room, not yet sent.
#[derive(Default)]
struct Run {
    room: Option<String>,
    items: Vec<RunItem>,
}

/// One emission of a [`Run`].
struct RunItem {
    sequence: u64,
    name: &'static str,
    seed: &'static str,
    /// Rooms that got this event under the same name before this room: a
    /// socket in one of them has it already (one emission per socket).
    sent_to: Vec<String>,
    framed: Framed,
}

/// A greeting picture: the ledger at `head`, framed.
struct Greeting {
    head: u64,
    built: Instant,
    messages: Vec<Framed>,
}

/// The fan-out task's state.
struct Fanout {
    io: Arc<Io>,
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    lists: ListRounds<Socket>,
    recent: Recent,
    greetings: HashMap<GreetingKind, Greeting>,
    /// Sockets whose greeting is newer than events still to be emitted (see
    /// `Client::greeted_through`), with that greeting's head.
    greeted_ahead: Vec<(Socket, u64)>,
    /// The sequence of the last event taken from the feed.
    position: u64,
    /// The messages of one socket's share of a run (reused).
    share: Vec<Framed>,
    /// Whether events carry recovery offsets (see [`super::recovery`]).
    offsets: bool,
}

/// Emits every log event to the sockets and greets connecting sockets, until
/// `shutdown`. When the gateway itself falls behind the log, it catches up
/// from the replay window, so no socket loses an event to the gateway's lag
/// while the window holds it.
pub async fn run_fanout(
    io: Arc<Io>,
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    mut feed: broadcast::Receiver<Arc<pb::Event>>,
    mut joiners: JoinerInbox,
    shutdown: CancellationToken,
) {
    let mut fanout = Fanout {
        io,
        log,
        metrics,
        lists: ListRounds::default(),
        recent: Recent::default(),
        greetings: HashMap::new(),
        greeted_ahead: Vec::new(),
        position: 0,
        share: Vec::new(),
        offsets: false,
    };
    fanout.offsets = fanout.io.handler().recovers();
    let mut loss_reports = tokio::time::interval(LOSS_REPORT_INTERVAL);
    let mut list_pace = tokio::time::interval(PACE_TICK);
    list_pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            Some(joiner) = joiners.0.recv() => {
                let mut batch = vec![joiner];
                while let Ok(joiner) = joiners.0.try_recv() {
                    batch.push(joiner);
                }
                fanout.greet(batch);
                continue;
            }
            now = list_pace.tick() => {
                for event in fanout.lists.due(now) {
                    fanout.start_round(event, now);
                }
                fanout.pace_lists(now);
                fanout.forget_greeted();
                continue;
            }
            _ = loss_reports.tick() => {
                let next_sequence = fanout.log.head() + 1;
                for socket in fanout.io.sockets() {
                    report_losses(&socket, next_sequence);
                }
                continue;
            }
            received = feed.recv() => received,
        };
        match received {
            Ok(event) => {
                let mut batch = vec![event];
                let mut lagged = None;
                while batch.len() < MAX_BATCH {
                    match feed.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(broadcast::error::TryRecvError::Lagged(lost)) => {
                            lagged = Some(lost);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                fanout.take(batch);
                if let Some(lost) = lagged {
                    feed = fanout.catch_up(lost);
                }
            }
            Err(broadcast::error::RecvError::Lagged(lost)) => feed = fanout.catch_up(lost),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl Fanout {
    /// Catches up from the log's replay window after the feed lagged by
    /// `lost` events, and returns the new feed.
    fn catch_up(&mut self, lost: u64) -> broadcast::Receiver<Arc<pb::Event>> {
        tracing::warn!(
            lost,
            after = self.position,
            "socket.io gateway fell behind the log; catching up from the replay window"
        );
        let catch_up = self.log.catch_up(self.position, chrono::Utc::now());
        for event in catch_up.backlog {
            if let Some(Payload::Resync(resync)) = &event.payload {
                // The window no longer holds what was missed: every socket is told.
                let missed = event.sequence.saturating_sub(resync.requested_after);
                self.metrics.dropped("socketio", missed);
                for socket in self.io.sockets() {
                    socket.state.lost.add(missed);
                }
                self.position = event.sequence;
            } else {
                self.take(vec![event]);
            }
        }
        self.position = self.position.max(catch_up.live_after);
        catch_up.live
    }

    /// Takes a batch of the feed, in order: single events are emitted socket
    /// by socket, each socket getting its run of them back to back (one
    /// hand-over, one wake and one write for the lot); whole lists are
    /// broadcast, or held when they come too soon.
    fn take(&mut self, batch: Vec<Arc<pb::Event>>) {
        let mut run = Run::default();
        for event in batch {
            self.position = event.sequence;
            if ListRounds::<Socket>::is_list(&event) {
                self.deliver_run(&mut run);
                let now = Instant::now();
                if let Some(event) = self.lists.offer(event, now) {
                    self.start_round(event, now);
                }
                continue;
            }
            let sent = emissions_with(&event, self.offsets);
            for (index, item) in sent.iter().enumerate() {
                if run.room.as_deref() != Some(item.room.as_str()) {
                    self.deliver_run(&mut run);
                    run.room = Some(item.room.clone());
                }
                let sent_to = sent[..index]
                    .iter()
                    .filter(|earlier| earlier.name == item.name && earlier.room != item.room)
                    .map(|earlier| earlier.room.clone())
                    .collect();
                run.items.push(RunItem {
                    sequence: event.sequence,
                    name: item.name,
                    seed: item.seed,
                    sent_to,
                    framed: item.framed.clone(),
                });
            }
            self.recent.push(event.sequence, sent);
            self.count_delivered(&event);
        }
        self.deliver_run(&mut run);
    }

    /// Hands a run of emissions to every socket of its room, each socket
    /// its share (what its seeds ask for, after its greeting) at once.
    fn deliver_run(&mut self, run: &mut Run) {
        let Some(room) = run.room.take() else {
            return;
        };
        let items = std::mem::take(&mut run.items);
        let whole: Vec<Framed> = items.iter().map(|item| item.framed.clone()).collect();
        let repeats_rooms = items.iter().any(|item| !item.sent_to.is_empty());
        for socket in self.io.sockets_in(&room) {
            let client = &socket.state;
            let greeted_through = client.greeted_through.load(Ordering::Relaxed);
            // Events at or below its greeting's head are in its greeting.
            let takes = |item: &&RunItem| {
                item.sequence > greeted_through
                    && client.wants(item.seed, item.name)
                    && !item.sent_to.iter().any(|room| socket.in_room(room))
            };
            let Some(first) = items.iter().find(takes) else {
                continue;
            };
            // The sequences rise through the run, so only a seed filter (or
            // an emission the socket had from another room) can leave gaps.
            let takes_all =
                client.wants_all() && first.sequence == items[0].sequence && !repeats_rooms;
            let unreported = client.lost.unreported();
            self.share.clear();
            if unreported > 0 {
                self.share.push(loss_report(unreported, first.sequence));
            }
            let share: &[Framed] = if takes_all && unreported == 0 {
                &whole
            } else {
                let taken = items.iter().filter(takes).map(|item| item.framed.clone());
                self.share.extend(taken);
                &self.share
            };
            match socket.send_run(share) {
                Ok(()) => client.lost.reported(unreported),
                Err(SendError::Full) => {
                    let lost = (share.len() - usize::from(unreported > 0)) as u64;
                    client.lost.add(lost);
                    self.metrics.dropped("socketio", lost);
                }
                Err(SendError::Closed) => {}
            }
        }
    }

    /// Starts the round of a whole list to every socket of its rooms (see
    /// [`super::lists`]), and keeps it for greetings.
    fn start_round(&mut self, event: Arc<pb::Event>, now: Instant) {
        let sent = emissions(&event);
        let recipients = sent
            .iter()
            .enumerate()
            .flat_map(|(index, item)| {
                let sockets = self.io.sockets_in(&item.room);
                sockets.into_iter().map(move |socket| (socket, index))
            })
            .collect();
        self.recent.push(event.sequence, sent.clone());
        self.count_delivered(&event);
        self.lists.start(event, sent, recipients, now);
        self.pace_lists(now);
    }

    /// Hands lists to as many sockets as the list budget allows now. A
    /// socket too full to take a list simply gets the next one.
    fn pace_lists(&mut self, now: Instant) {
        let mut full = 0;
        self.lists.pace(now, |socket, emission| {
            let client = &socket.state;
            let greeted_after = emission.sequence <= client.greeted_through.load(Ordering::Relaxed);
            if greeted_after || !client.wants(emission.sent.seed, emission.sent.name) {
                return 0;
            }
            match socket.send_run(std::slice::from_ref(&emission.sent.framed)) {
                Ok(()) => emission.sent.framed.len(),
                Err(SendError::Full) => {
                    full += 1;
                    0
                }
                Err(SendError::Closed) => 0,
            }
        });
        if full > 0 {
            self.metrics.dropped("socketio", full);
            tracing::debug!(sockets = full, "a whole list not taken by full sockets");
        }
    }

    fn count_delivered(&self, event: &pb::Event) {
        if let Some(payload) = &event.payload {
            self.metrics
                .delivered("socketio", kind_of(payload).as_str_name());
        }
    }

    /// Forgets the greetings of sockets that no event still to come could duplicate.
    fn forget_greeted(&mut self) {
        let settled = self.lists.oldest_pending().map_or(self.position, |held| {
            held.saturating_sub(1).min(self.position)
        });
        self.greeted_ahead.retain(|(socket, head)| {
            let ahead = *head > settled;
            if !ahead {
                socket.state.greeted_through.store(0, Ordering::Relaxed);
            }
            ahead
        });
    }

    /// Greets a batch of connecting sockets and adds them to their rooms;
    /// restored sockets get what they missed instead.
    fn greet(&mut self, batch: Vec<Joiner>) {
        let mut by_kind: HashMap<GreetingKind, Vec<Socket>> = HashMap::new();
        for joiner in batch {
            match joiner.joining {
                Joining::Greeted(kind) => by_kind.entry(kind).or_default().push(joiner.socket),
                Joining::Restored(restore) => {
                    if let Err(socket) = self.restore(joiner.socket, restore)
                        && let Some(kind) = socket.state.greeting()
                    {
                        by_kind.entry(kind).or_default().push(socket);
                    }
                }
            }
        }
        for (kind, sockets) in by_kind {
            let now = Instant::now();
            let reusable = self.greetings.get(&kind).is_some_and(|g| {
                now.duration_since(g.built) < GREETING_REUSE && self.recent.covers(g.head)
            });
            if !reusable {
                let greeting = build_greeting(&self.log, &kind, self.offsets);
                self.greetings.insert(kind.clone(), greeting);
            }
            let Some(greeting) = self.greetings.get(&kind) else {
                continue;
            };
            let room = kind.room();
            let catch_up = self
                .recent
                .after(greeting.head, &room)
                .filter(|sent| kind.wants(sent.seed))
                .map(|sent| sent.framed.clone());
            let messages: Vec<Framed> = greeting.messages.iter().cloned().chain(catch_up).collect();
            for socket in sockets {
                if let Err(error) = socket.send_run(&messages) {
                    tracing::debug!(socket = %socket.id, %error, "greeting not sent");
                    if error == SendError::Closed {
                        continue;
                    }
                }
                // Until no event at or below the greeting's head can still
                // come (the feed is behind it, or a list of before it is held).
                socket
                    .state
                    .greeted_through
                    .store(greeting.head, Ordering::Relaxed);
                socket.join(&room);
                super::client::share_rooms(self.io.handler().recovery(), &socket);
                self.greeted_ahead.push((socket, greeting.head));
            }
        }
    }

    /// Restores a socket: every emission to its rooms after its offset, up
    /// to the events taken so far, then its rooms. `Err` gives the socket
    /// back for a greeting when the replay window no longer holds what it
    /// missed (it moved on since the socket was admitted) or its outbox
    /// cannot take it all at once.
    fn restore(&mut self, socket: Socket, restore: Restore) -> Result<(), Socket> {
        let Restore { rooms, after, .. } = restore;
        let through = self.position.max(after.sequence);
        let Some(events) = self.log.replay(after.read_through(), self.position) else {
            tracing::info!(socket = %socket.id, "socket.io: the replay window moved past a recovering socket's offset; greeted instead");
            return Err(socket);
        };
        let messages = self.missed(&socket, &rooms, after, &events);
        match socket.send_run(&messages) {
            Ok(()) => {}
            Err(SendError::Full) => {
                tracing::info!(socket = %socket.id, missed = messages.len(), "socket.io: a recovering socket missed more than its outbox holds; greeted instead");
                return Err(socket);
            }
            Err(SendError::Closed) => return Ok(()),
        }
        tracing::debug!(socket = %socket.id, missed = messages.len(), "socket.io connection state recovered");
        socket
            .state
            .greeted_through
            .store(through, Ordering::Relaxed);
        for room in &rooms {
            socket.join(room);
        }
        super::client::share_rooms(self.io.handler().recovery(), &socket);
        self.greeted_ahead.push((socket, through));
        Ok(())
    }

    /// What a socket in `rooms` missed after `after`, of `events`: each
    /// emission it would have had live, and of each whole list only the
    /// newest (a newer list replaces an older one).
    fn missed(
        &self,
        socket: &Socket,
        rooms: &[String],
        after: Offset,
        events: &[Arc<pb::Event>],
    ) -> Vec<Framed> {
        let in_rooms = |room: &str| rooms.iter().any(|r| r == room);
        let mut newest_lists: HashMap<(pb::EventKind, &str), u64> = HashMap::new();
        for event in events {
            if let Some(payload) = &event.payload
                && ListRounds::<Socket>::is_list(event)
            {
                newest_lists.insert((kind_of(payload), event.tenant.as_str()), event.sequence);
            }
        }
        let client = &socket.state;
        let mut messages = Vec::new();
        for event in events {
            if let Some(payload) = &event.payload
                && ListRounds::<Socket>::is_list(event)
                && newest_lists.get(&(kind_of(payload), event.tenant.as_str()))
                    != Some(&event.sequence)
            {
                continue;
            }
            let framed;
            let sent = match self.recent.of(event.sequence) {
                Some(sent) => sent,
                None => {
                    framed = emissions_with(event, self.offsets);
                    &framed[..]
                }
            };
            for (index, item) in sent.iter().enumerate() {
                let had_it = sent[..index]
                    .iter()
                    .any(|earlier| earlier.name == item.name && in_rooms(&earlier.room));
                if after.precedes(event.sequence, index)
                    && in_rooms(&item.room)
                    && client.wants(item.seed, item.name)
                    && !had_it
                {
                    messages.push(item.framed.clone());
                }
            }
        }
        messages
    }
}

/// Builds a greeting: the picture is taken under the ledger's lock, the JSON
/// is written after it is released.
/// With `offsets`, each message carries the greeting's head as its
/// recovery offset.
fn build_greeting(log: &EventLog, kind: &GreetingKind, offsets: bool) -> Greeting {
    let now = chrono::Utc::now();
    let (head, state, lists) = log.read(|ledger, head| {
        let tenant = kind.tenant.as_deref();
        let state = views::system_state(ledger, now, tenant);
        let lists = tenant.is_none().then(|| {
            let calls = pb::ActiveCallList {
                calls: ledger
                    .calls
                    .values()
                    .map(|c| views::active_call(c, now, None))
                    .collect(),
            };
            let agents = pb::WallboardAgentList {
                agents: ledger
                    .agents
                    .values()
                    .map(|agent| views::wallboard_agent(ledger, agent))
                    .collect(),
            };
            let sources: Vec<pb::SourceStatus> = ledger.source_statuses().cloned().collect();
            (calls, agents, sources)
        });
        (head, state, lists)
    });
    let state = if kind.masked { masked(&state) } else { state };
    let entry = |name| lookup(name, Direction::ServerToClient).next();
    let wanted = |name| entry(name).filter(|entry| kind.wants(entry.seed));
    let mut messages = Vec::new();
    if wanted("system_state").is_some() {
        messages.push(("system_state", socket_json::to_json(&state)));
    }
    if let Some((calls, agents, sources)) = lists {
        // Where each source stands now: a dashboard that connects after the
        // PBX link came up still learns it is up.
        for status in &sources {
            let Some(name) = super::source_status_event(status) else {
                continue;
            };
            if let Some(status_entry) = wanted(name) {
                messages.push((name, shape_payload(status_entry, status)));
            }
        }
        if let Some(calls_entry) = wanted("calls:active") {
            messages.push(("calls:active", shape_payload(calls_entry, &calls)));
        }
        if let Some(agents_entry) = wanted("agents:status") {
            messages.push(("agents:status", shape_payload(agents_entry, &agents)));
        }
    }
    Greeting {
        head,
        built: Instant::now(),
        messages: messages
            .into_iter()
            .map(|(name, json)| match offsets {
                true => event_message_at(name, &json.to_string(), &Offset::through(head)),
                false => event_message(name, &json.to_string()),
            })
            .collect(),
    }
}

/// The framed `events-dropped` report of `count` events lost before `next_sequence`.
fn loss_report(count: u64, next_sequence: u64) -> Framed {
    let report = socket_json::to_json(&pb::EventsDropped {
        count,
        resumed_at: next_sequence,
    });
    event_message("events-dropped", &report.to_string())
}

/// Sends `events-dropped` to `socket` when it has unreported losses and room for
/// the report; `next_sequence` is the first event it will get after the gap.
fn report_losses(socket: &Socket, next_sequence: u64) {
    let lost = &socket.state.lost;
    let unreported = lost.unreported();
    if unreported > 0
        && socket
            .send_run(&[loss_report(unreported, next_sequence)])
            .is_ok()
    {
        lost.reported(unreported);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::STAFF_ROOM;

    #[test]
    fn recent_emissions_cover_a_greeting_until_dropped() {
        let mut recent = Recent::default();
        let sent = |room: &str| Sent {
            name: "call:new",
            room: room.into(),
            seed: "002",
            framed: event_message("call:new", "{}"),
        };
        for sequence in 1..=RECENT_EVENTS as u64 + 2 {
            recent.push(sequence, vec![sent(STAFF_ROOM), sent("client:acme")]);
        }
        assert!(!recent.covers(1), "the oldest two are gone");
        assert!(recent.covers(2));
        let last = RECENT_EVENTS as u64 + 2;
        assert_eq!(recent.after(last - 3, STAFF_ROOM).count(), 3);
        assert_eq!(recent.after(last, STAFF_ROOM).count(), 0);
    }
}
