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

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;
use socketioxide::SocketError;
use socketioxide::socket::Sid;
use socketioxide_core::packet::Packet;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::adapter::{AdapterSlot, Io, Operators, Sender, Socket};
use super::catalog::{Direction, lookup};
use super::lists::{ListRounds, PACE_TICK};
use super::{STAFF_ROOM, SeedFilter, client_room, route, shape_payload};
use crate::app::Core;
use crate::events::kind_of;
use crate::ledger::views;
use crate::proto::v1::{self as pb, event::Payload};
use crate::socket_json::{self, masked};

/// How long one greeting picture serves sockets that connect after it.
pub const GREETING_REUSE: Duration = Duration::from_millis(250);

/// The emissions kept to bring a greeting up to date: at least the events of
/// [`GREETING_REUSE`] at the highest rate the gateway serves.
const RECENT_EVENTS: usize = 8192;

/// The most events of the feed taken in one go.
const MAX_BATCH: usize = 256;

/// How often losses are reported to sockets that get no further event.
const LOSS_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The room a batch of sockets is greeted in, left right after.
const GREETING_ROOM: &str = "switchboard:greeting";

/// Events a socket lost because its buffer was full, not yet reported to it.
#[derive(Clone, Default)]
pub struct LostEvents(Arc<AtomicU64>);

/// Which greeting a socket gets: a tenant's sockets see only that tenant,
/// with phone numbers masked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GreetingKind {
    /// The tenant the socket is held to.
    pub tenant: Option<String>,
    /// Whether phone numbers are masked.
    pub masked: bool,
    /// The seeds whose events the socket asked for; `None`: all.
    pub seeds: Option<SeedFilter>,
}

impl GreetingKind {
    /// Whether events of `seed` go to sockets of this kind.
    fn wants(&self, seed: &str) -> bool {
        SeedFilter::admits(self.seeds.as_ref(), seed)
    }

    /// The room sockets of this kind join.
    fn room(&self) -> String {
        match &self.tenant {
            Some(tenant) => client_room(tenant),
            None => STAFF_ROOM.to_owned(),
        }
    }
}

/// A socket waiting for its greeting.
pub struct Joiner {
    /// The socket.
    pub socket: Socket,
    /// Its greeting.
    pub kind: GreetingKind,
}

/// Where connecting sockets queue for the fan-out task.
#[derive(Clone)]
pub struct Joiners(mpsc::UnboundedSender<Joiner>);

/// The fan-out task's end of [`Joiners`].
pub struct JoinerInbox(mpsc::UnboundedReceiver<Joiner>);

/// A new queue of connecting sockets.
pub fn joiners() -> (Joiners, JoinerInbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Joiners(tx), JoinerInbox(rx))
}

impl Joiners {
    /// Queues `socket` for its greeting and its room.
    pub fn enqueue(&self, socket: Socket, kind: GreetingKind) {
        if self.0.send(Joiner { socket, kind }).is_err() {
            tracing::debug!("socket.io gateway stopped; socket not greeted");
        }
    }
}

/// One emission as sent: its serialized payload is kept for replay.
#[derive(Clone)]
pub(super) struct Sent {
    pub(super) name: &'static str,
    pub(super) room: String,
    pub(super) seed: &'static str,
    pub(super) payload: Arc<RawValue>,
}

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
    payload: Arc<RawValue>,
}

/// The emissions of one event, each payload serialized once.
pub(super) fn emissions(event: &pb::Event) -> Vec<Sent> {
    route(event)
        .into_iter()
        .filter_map(
            |emission| match serde_json::value::to_raw_value(&emission.payload) {
                Ok(payload) => Some(Sent {
                    name: emission.name,
                    room: emission.room,
                    seed: emission.seed,
                    payload: payload.into(),
                }),
                Err(error) => {
                    tracing::error!(event = emission.name, %error, "payload not serializable");
                    None
                }
            },
        )
        .collect()
}

/// A greeting picture: the ledger at `head`, serialized.
struct Greeting {
    head: u64,
    built: Instant,
    messages: Vec<(&'static str, Arc<RawValue>)>,
}

/// The fan-out task's state.
struct Fanout {
    io: Io,
    adapter: Arc<AdapterSlot>,
    core: Arc<Core>,
    lists: ListRounds<Socket>,
    /// The packets of the lists of running rounds, by sequence and emission.
    list_packets: HashMap<(u64, usize), Packet>,
    recent: Recent,
    greetings: HashMap<GreetingKind, Greeting>,
    /// Sockets whose greeting is newer than events still to be emitted: the
    /// greeting's head, at or below which they skip events.
    greeted_ahead: HashMap<Sid, u64>,
    /// The sequence of the last event taken from the feed.
    position: u64,
    /// What the fan-out keeps of each connected socket.
    readers: HashMap<Sid, Reader>,
}

/// What the fan-out keeps of one socket.
#[derive(Clone)]
struct Reader {
    lost: LostEvents,
    seeds: Option<SeedFilter>,
}

impl Reader {
    fn wants(&self, seed: &str) -> bool {
        SeedFilter::admits(self.seeds.as_ref(), seed)
    }
}

/// Emits every log event to the sockets and greets connecting sockets, until
/// `shutdown`. When the gateway itself falls behind the log, it catches up
/// from the replay window, so no socket loses an event to the gateway's lag
/// while the window holds it.
pub async fn run_fanout(
    io: Io,
    adapter: Arc<AdapterSlot>,
    core: Arc<Core>,
    mut feed: broadcast::Receiver<Arc<pb::Event>>,
    mut joiners: JoinerInbox,
    shutdown: CancellationToken,
) {
    let mut fanout = Fanout {
        io,
        adapter,
        core,
        lists: ListRounds::default(),
        list_packets: HashMap::new(),
        recent: Recent::default(),
        greetings: HashMap::new(),
        greeted_ahead: HashMap::new(),
        position: 0,
        readers: HashMap::new(),
    };
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
                fanout.greet(batch).await;
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
                let next_sequence = fanout.core.log.head() + 1;
                let sockets = fanout.sockets();
                for socket in &sockets {
                    report_losses(socket, next_sequence);
                }
                let connected: std::collections::HashSet<Sid> =
                    sockets.iter().map(|s| s.id).collect();
                fanout.readers.retain(|sid, _| connected.contains(sid));
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
                fanout.take(batch).await;
                if let Some(lost) = lagged {
                    feed = fanout.catch_up(lost).await;
                }
            }
            Err(broadcast::error::RecvError::Lagged(lost)) => feed = fanout.catch_up(lost).await,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl Fanout {
    /// The default namespace; `None` once the server has closed it (while
    /// stopping), when there is nobody left to send to.
    fn root(&self) -> Option<Operators> {
        self.io.of("/")
    }

    /// Every connected socket (none once the namespace is closed).
    fn sockets(&self) -> Vec<Socket> {
        self.root().map(|root| root.sockets()).unwrap_or_default()
    }

    /// Catches up from the log's replay window after the feed lagged by
    /// `lost` events, and returns the new feed.
    async fn catch_up(&mut self, lost: u64) -> broadcast::Receiver<Arc<pb::Event>> {
        tracing::warn!(
            lost,
            after = self.position,
            "socket.io gateway fell behind the log; catching up from the replay window"
        );
        let catch_up = self.core.log.catch_up(self.position, chrono::Utc::now());
        for event in catch_up.backlog {
            if let Some(Payload::Resync(resync)) = &event.payload {
                // The window no longer holds what was missed: every socket is told.
                let missed = event.sequence.saturating_sub(resync.requested_after);
                self.core.metrics.dropped("socketio", missed);
                for socket in self.sockets() {
                    reader_of(&mut self.readers, &socket)
                        .lost
                        .0
                        .fetch_add(missed, Ordering::Relaxed);
                }
                self.position = event.sequence;
            } else {
                self.take(vec![event]).await;
            }
        }
        self.position = self.position.max(catch_up.live_after);
        catch_up.live
    }

    /// Takes a batch of the feed, in order: single events are emitted socket
    /// by socket, each socket getting its run of them back to back (one wake
    /// and one write for the lot); whole lists are broadcast, or held when
    /// they come too soon.
    async fn take(&mut self, batch: Vec<Arc<pb::Event>>) {
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
            let sent = emissions(&event);
            for item in &sent {
                if run.room.as_deref() != Some(item.room.as_str()) {
                    self.deliver_run(&mut run);
                    run.room = Some(item.room.clone());
                }
                run.items.push(RunItem {
                    sequence: event.sequence,
                    name: item.name,
                    seed: item.seed,
                    payload: Arc::clone(&item.payload),
                });
            }
            self.recent.push(event.sequence, sent);
            self.count_delivered(&event);
        }
        self.deliver_run(&mut run);
    }

    /// Sends a run of emissions to one room, socket by socket, each
    /// emission's packet written once for them all.
    fn deliver_run(&mut self, run: &mut Run) {
        let Some(room) = run.room.take() else {
            return;
        };
        let items = std::mem::take(&mut run.items);
        let (Some(root), Some(sender)) = (self.root(), self.adapter.sender()) else {
            return;
        };
        let packets: Vec<(&RunItem, Packet)> = items
            .iter()
            .filter_map(|item| Some((item, sender.event(item.name, &*item.payload)?)))
            .collect();
        for socket in root.to(room).sockets() {
            let reader = reader_of(&mut self.readers, &socket);
            // Events at or below its greeting's head are in its greeting.
            let greeted_head = self.greeted_ahead.get(&socket.id).copied();
            for (item, packet) in &packets {
                if reader.wants(item.seed) && greeted_head.is_none_or(|head| item.sequence > head) {
                    let delivery = Delivery {
                        name: item.name,
                        packet,
                        sequence: item.sequence,
                    };
                    deliver(&self.core, &sender, &socket, &reader.lost, &delivery);
                }
            }
        }
    }

    /// Starts the round of a whole list to every socket of its rooms (see
    /// [`super::lists`]), and keeps it for greetings.
    fn start_round(&mut self, event: Arc<pb::Event>, now: Instant) {
        let Some(root) = self.root() else {
            return;
        };
        let sent = emissions(&event);
        let recipients = sent
            .iter()
            .enumerate()
            .flat_map(|(index, item)| {
                let sockets = root.clone().to(item.room.clone()).sockets();
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
        let Some(sender) = self.adapter.sender() else {
            return;
        };
        let packets = &mut self.list_packets;
        let readers = &mut self.readers;
        let greeted_ahead = &self.greeted_ahead;
        let mut full = 0;
        self.lists.pace(now, |socket, emission| {
            let greeted_after = greeted_ahead
                .get(&socket.id)
                .is_some_and(|head| emission.sequence <= *head);
            if greeted_after || !reader_of(readers, socket).wants(emission.sent.seed) {
                return 0;
            }
            let key = (emission.sequence, emission.index);
            let packet = match packets.entry(key) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let Some(packet) = sender.event(emission.sent.name, &*emission.sent.payload)
                    else {
                        return 0;
                    };
                    entry.insert(packet)
                }
            };
            match sender.send(socket.id, packet) {
                Ok(()) => emission.sent.payload.get().len(),
                Err(SocketError::InternalChannelFull) => {
                    full += 1;
                    0
                }
                Err(_) => 0,
            }
        });
        if full > 0 {
            self.core.metrics.dropped("socketio", full);
            tracing::debug!(sockets = full, "a whole list not taken by full sockets");
        }
        let lists = &self.lists;
        self.list_packets
            .retain(|(sequence, _), _| lists.is_running(*sequence));
    }

    fn count_delivered(&self, event: &pb::Event) {
        if let Some(payload) = &event.payload {
            self.core
                .metrics
                .delivered("socketio", kind_of(payload).as_str_name());
        }
    }

    /// Drops the greeted sockets that no event still to come could duplicate.
    fn forget_greeted(&mut self) {
        let settled = self.lists.oldest_pending().map_or(self.position, |held| {
            held.saturating_sub(1).min(self.position)
        });
        self.greeted_ahead.retain(|_, head| *head > settled);
    }

    /// Greets a batch of connecting sockets and adds them to their rooms.
    async fn greet(&mut self, batch: Vec<Joiner>) {
        let mut by_kind: HashMap<GreetingKind, Vec<Socket>> = HashMap::new();
        for joiner in batch {
            by_kind.entry(joiner.kind).or_default().push(joiner.socket);
        }
        for (kind, sockets) in by_kind {
            let now = Instant::now();
            let reusable = self.greetings.get(&kind).is_some_and(|g| {
                now.duration_since(g.built) < GREETING_REUSE && self.recent.covers(g.head)
            });
            if !reusable {
                let greeting = build_greeting(&self.core, &kind);
                self.greetings.insert(kind.clone(), greeting);
            }
            let Some(greeting) = self.greetings.get(&kind) else {
                continue;
            };
            let room = kind.room();
            for socket in &sockets {
                socket.join(GREETING_ROOM);
            }
            let catch_up = self
                .recent
                .after(greeting.head, &room)
                .filter(|sent| kind.wants(sent.seed));
            let messages = greeting
                .messages
                .iter()
                .map(|(name, payload)| (*name, payload))
                .chain(catch_up.map(|sent| (sent.name, &sent.payload)));
            for (name, payload) in messages {
                let Some(root) = self.root() else {
                    return;
                };
                if let Err(error) = root.to(GREETING_ROOM).emit(name, &**payload).await {
                    tracing::debug!(event = name, %error, "greeting not sent to every socket");
                }
            }
            for socket in sockets {
                socket.leave(GREETING_ROOM);
                socket.join(room.clone());
                // Until no event at or below the greeting's head can still
                // come (the feed is behind it, or a list of before it is held).
                self.greeted_ahead.insert(socket.id, greeting.head);
            }
        }
    }
}

/// What the fan-out needs of `socket` (its loss counter, its seed filter),
/// looked up in its extensions once and kept, so that the hot path does not
/// look them up for every event.
fn reader_of<'a>(readers: &'a mut HashMap<Sid, Reader>, socket: &Socket) -> &'a Reader {
    readers.entry(socket.id).or_insert_with(|| Reader {
        lost: socket.extensions.get::<LostEvents>().unwrap_or_default(),
        seeds: socket.extensions.get::<SeedFilter>(),
    })
}

/// Builds a greeting: the picture is taken under the ledger's lock, the JSON
/// is written after it is released.
fn build_greeting(core: &Core, kind: &GreetingKind) -> Greeting {
    let now = chrono::Utc::now();
    let (head, state, lists) = core.log.read(|ledger, head| {
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
                agents: ledger.agents.values().map(views::wallboard_agent).collect(),
            };
            (calls, agents)
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
    if let Some((calls, agents)) = lists {
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
            .filter_map(|(name, json)| {
                serde_json::value::to_raw_value(&json)
                    .ok()
                    .map(|raw| (name, Arc::from(raw)))
            })
            .collect(),
    }
}

/// One emission on its way to the sockets of a room.
struct Delivery<'a> {
    name: &'static str,
    /// Its packet, serialized once for every socket.
    packet: &'a Packet,
    /// The event's sequence in the log.
    sequence: u64,
}

/// Hands one emission to one socket. A socket whose buffer is full loses
/// the event (nobody else waits for it); the loss is counted, and reported
/// to the socket as `events-dropped` before the next event it can take.
fn deliver(core: &Core, sender: &Sender, socket: &Socket, lost: &LostEvents, delivery: &Delivery) {
    if lost.0.load(Ordering::Relaxed) > 0 {
        report_losses(socket, delivery.sequence);
    }
    match sender.send(socket.id, delivery.packet) {
        Ok(()) => {}
        Err(SocketError::InternalChannelFull) => {
            lost.0.fetch_add(1, Ordering::Relaxed);
            core.metrics.dropped("socketio", 1);
        }
        Err(error) => {
            tracing::debug!(socket = %socket.id, event = delivery.name, %error, "emit to socket failed");
        }
    }
}

/// Sends `events-dropped` to `socket` when it has unreported losses and room for
/// the report; `next_sequence` is the first event it will get after the gap.
fn report_losses(socket: &Socket, next_sequence: u64) -> LostEvents {
    let lost = socket.extensions.get::<LostEvents>().unwrap_or_default();
    let unreported = lost.0.load(Ordering::Relaxed);
    if unreported > 0 {
        let report = socket_json::to_json(&pb::EventsDropped {
            count: unreported,
            resumed_at: next_sequence,
        });
        if socket.emit("events-dropped", &report).is_ok() {
            lost.0.fetch_sub(unreported, Ordering::Relaxed);
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_emissions_cover_a_greeting_until_dropped() {
        let mut recent = Recent::default();
        let sent = |room: &str| Sent {
            name: "call:new",
            room: room.into(),
            seed: "002",
            payload: Arc::from(RawValue::from_string("{}".into()).unwrap()),
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
