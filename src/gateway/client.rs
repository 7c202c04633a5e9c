//! What the gateway's parts share, and nothing else (a leaf of `gateway/`):
//! one connected client ([`Client`]) and its socket, the event it sent
//! ([`Received`]), the queue of sockets waiting for their greeting, and the
//! services the client events are handed to.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::Value as Json;
use tokio::sync::mpsc;

use super::catalog;
use super::recovery::{Recovery, Restore};
use super::{STAFF_ROOM, client_room};
use crate::auth::{Authenticator, Principal};
use crate::commands::calls::CallControl;
use crate::commands::chat::Chat;
use crate::commands::supervision::Supervision;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::presence::{PresenceGuard, TenantPresence};
use crate::proto::v1 as pb;
use crate::socket_json;
use crate::socketio::server;

/// What the gateway hands client events to, and what it reads.
pub struct Services {
    /// Checks handshake tokens.
    pub auth: Authenticator,
    /// Connections, refusals and losses are counted here.
    pub metrics: Arc<Metrics>,
    /// Tenants with clients connected.
    pub presence: Arc<TenantPresence>,
    /// Connecting sockets waiting for the fan-out's greeting.
    pub joiners: Joiners,
    /// The chat events' service.
    pub chat: Arc<Chat>,
    /// Monitor, whisper and barge.
    pub supervision: Arc<Supervision>,
    /// Commands on the agent bridge's calls.
    pub calls: CallControl,
    /// Dropped sockets kept for their clients' return; `None`: recovery is off.
    pub recovery: Option<Arc<Recovery>>,
}

/// A connected socket of the gateway.
pub type Socket = Arc<server::Socket<Client>>;

/// The acknowledgement of an event that asked for one.
pub type Ack = server::Ack;

/// What the gateway keeps of one connected client.
pub struct Client {
    /// Who the client is.
    pub principal: Principal,
    /// The seeds whose events it asked for; `None`: all.
    pub seeds: Option<SeedFilter>,
    /// Events it lost to a full buffer, not yet reported to it.
    pub(super) lost: LostEvents,
    /// The log head of its greeting while events at or below it may still
    /// come to its room (0: none); the fan-out skips those.
    pub(super) greeted_through: AtomicU64,
    /// Its tenant's presence, while connected.
    pub(super) presence: Mutex<Option<PresenceGuard>>,
    /// The chat agent it joined the agent dashboard as.
    pub(super) dashboard_agent: Mutex<Option<String>>,
    /// The events refused to it, to bound what a flood of bad events costs.
    pub(super) refusals: Mutex<Refusals>,
    /// The seed whose rooms it joined by that seed's own client events
    /// (`join:admin` / `join:client` of the voice-AI dashboard, 003): of an
    /// event name several seeds emit, it gets that seed's shape only.
    pub(super) dashboard_of: OnceLock<&'static str>,
    /// The socket it restores, until the gateway has restored it.
    pub(super) restores: Mutex<Option<Restore>>,
}

impl Client {
    /// Whether the client gets event `name` as `seed` emits it.
    pub(super) fn wants(&self, seed: &str, name: &str) -> bool {
        SeedFilter::admits(self.seeds.as_ref(), seed)
            && self
                .dashboard_of
                .get()
                .is_none_or(|own| *own == seed || !catalog::name_is_shared(name))
    }

    /// The greeting a new socket of this client gets; `None` for a chat
    /// customer, who hears their own conversation and nothing else.
    pub(super) fn greeting(&self) -> Option<GreetingKind> {
        if self.principal.customer_conversation().is_some() {
            return None;
        }
        Some(GreetingKind {
            tenant: self.principal.forced_tenant().map(str::to_owned),
            masked: self.principal.masks_phone_numbers(),
            seeds: self.seeds.clone(),
        })
    }

    /// Whether the client gets every event of its rooms, so that a run of
    /// them can go to it whole.
    pub(super) fn wants_all(&self) -> bool {
        self.seeds.is_none() && self.dashboard_of.get().is_none()
    }
}

/// Refused events a socket may send within [`REFUSAL_WINDOW`]; past them
/// the socket is disconnected.
const REFUSALS_PER_WINDOW: u32 = 20;

/// The window [`REFUSALS_PER_WINDOW`] counts over.
const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// A socket's refused events: in the current window, and in all.
#[derive(Default)]
pub(super) struct Refusals {
    window_start: Option<std::time::Instant>,
    in_window: u32,
    pub(super) total: u64,
}

/// What one more refusal means for a socket.
#[derive(Debug, PartialEq, Eq)]
enum RefusalVerdict {
    /// Answer it; the first of the socket's refusals is logged.
    Answer { first: bool },
    /// Over the bound just now: close the socket.
    Close,
    /// Over the bound already (the rest of a batch): drop it silently.
    Drop,
}

impl Refusals {
    fn count(&mut self, now: std::time::Instant) -> RefusalVerdict {
        self.total += 1;
        if self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= REFUSAL_WINDOW)
        {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        self.in_window += 1;
        match self.in_window {
            n if n <= REFUSALS_PER_WINDOW => RefusalVerdict::Answer {
                first: self.total == 1,
            },
            n if n == REFUSALS_PER_WINDOW + 1 => RefusalVerdict::Close,
            _ => RefusalVerdict::Drop,
        }
    }
}

/// The seeds whose events a socket asked for in its handshake
/// (`auth: { seeds: ["002"] }`): a wallboard that only shows the AMI watcher's
/// events need not read the agent desktops' too. Without it a socket gets
/// every event of its rooms, as the seeds document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeedFilter(Vec<&'static str>);

impl SeedFilter {
    /// The filter of a handshake's `auth` object: `None` when it names no
    /// seeds; a refusal when `seeds` is not a list of known seeds.
    pub fn from_auth(auth: &Json) -> Result<Option<SeedFilter>, String> {
        let Some(seeds) = auth.get("seeds") else {
            return Ok(None);
        };
        let known: std::collections::BTreeSet<&'static str> =
            catalog::CATALOG.iter().map(|entry| entry.seed).collect();
        let invalid = || {
            format!(
                "auth.seeds must be a list of seeds among {}",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            )
        };
        let mut wanted = Vec::new();
        for seed in seeds.as_array().ok_or_else(invalid)? {
            let seed = seed.as_str().ok_or_else(invalid)?;
            wanted.push(*known.get(seed).ok_or_else(invalid)?);
        }
        wanted.sort_unstable();
        wanted.dedup();
        Ok((!wanted.is_empty()).then_some(SeedFilter(wanted)))
    }

    /// Whether a socket with `filter` (`None`: it named no seeds) gets events of `seed`.
    pub fn admits(filter: Option<&SeedFilter>, seed: &str) -> bool {
        filter.is_none_or(|filter| filter.0.contains(&seed))
    }
}

/// One event a socket sent, with what serving it needs.
pub(super) struct Received<'a> {
    pub(super) services: &'a Services,
    pub(super) socket: &'a Socket,
    pub(super) name: &'a str,
    /// Its first argument; `None` when absent or not JSON.
    pub(super) data: Option<Json>,
    pub(super) ack: Option<Ack>,
}

impl<'a> Received<'a> {
    /// Who sent it.
    pub(super) fn principal(&self) -> &'a Principal {
        &self.socket.state.principal
    }

    /// Its first argument as a string, when it is one.
    pub(super) fn text(&self) -> Option<&str> {
        self.data.as_ref().and_then(Json::as_str)
    }

    /// Answers its acknowledgement, when asked for.
    pub(super) fn answer(self, payload: &Json) {
        if let Some(ack) = self.ack {
            let _ = ack.send(&[&payload.to_string()]);
        }
    }

    /// Refuses it: `error-event` to the socket, and the acknowledgement when
    /// asked for.
    pub(super) fn refuse(self, error: &Error) {
        self.refuse_as(error.code_name(), error);
    }

    pub(super) fn refuse_as(self, code: &str, error: &Error) {
        error.log_cause("socketio");
        self.services.metrics.bad_input("socketio", code);
        let verdict = self
            .socket
            .state
            .refusals
            .lock()
            .count(std::time::Instant::now());
        match verdict {
            // The log says a socket's first refusal; the rest are counted
            // (metrics) and summed up when it disconnects.
            RefusalVerdict::Answer { first: true } => {
                tracing::info!(socket = %self.socket.id, event = self.name, %error, "socket.io input refused");
            }
            RefusalVerdict::Answer { first: false } => {
                tracing::debug!(socket = %self.socket.id, event = self.name, %error, "socket.io input refused");
            }
            RefusalVerdict::Close => {
                tracing::warn!(
                    socket = %self.socket.id,
                    "socket.io client sent over {REFUSALS_PER_WINDOW} refused events in {}s; closed that connection",
                    REFUSAL_WINDOW.as_secs()
                );
                self.services
                    .metrics
                    .bad_input("socketio", "too_many_refused_events");
                self.socket.disconnect();
                return;
            }
            RefusalVerdict::Drop => return,
        }
        let payload = socket_json::to_json(&pb::ClientError {
            error: code.into(),
            message: error.to_string(),
            event: self.name.into(),
        });
        send_json(self.socket, "error-event", &payload);
        self.answer(&payload);
    }
}

/// Tells the other nodes of a cluster where `socket` stands now (its rooms
/// joined), for its client's return to any of them (see [`Recovery::live`]).
pub(super) fn share_rooms(recovery: Option<&Recovery>, socket: &Socket) {
    // One node alone has nobody to tell: nothing is gathered for it.
    let (Some(recovery), Some(pid)) = (recovery.filter(|r| r.is_shared()), &socket.pid) else {
        return;
    };
    let ids = crate::socketio::server::SocketIds {
        sid: socket.id.clone(),
        pid: pid.clone(),
    };
    let joined = super::recovery::Joined {
        dashboard_of: socket.state.dashboard_of.get().copied(),
        dashboard_agent: socket.state.dashboard_agent.lock().clone(),
    };
    recovery.live(ids, &socket.state.principal.claims, socket.rooms(), joined);
}

/// Sends event `name` with `payload` to one socket.
pub(super) fn send_json(socket: &Socket, name: &str, payload: &Json) {
    if let Err(error) = socket.emit(name, &payload.to_string()) {
        tracing::debug!(socket = %socket.id, event = name, %error, "emit to socket failed");
    }
}

/// Events a socket lost because its buffer was full, not yet reported to it.
#[derive(Default)]
pub struct LostEvents(std::sync::atomic::AtomicU64);

impl LostEvents {
    pub(super) fn add(&self, count: u64) {
        self.0.fetch_add(count, Ordering::Relaxed);
    }

    pub(super) fn unreported(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(super) fn reported(&self, count: u64) {
        self.0.fetch_sub(count, Ordering::Relaxed);
    }
}

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
    pub(super) fn wants(&self, seed: &str) -> bool {
        SeedFilter::admits(self.seeds.as_ref(), seed)
    }

    /// The room sockets of this kind join.
    pub(super) fn room(&self) -> String {
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
    /// What it gets before its rooms' live events.
    pub joining: Joining,
}

/// How a connecting socket starts.
pub enum Joining {
    /// A new socket: its greeting, then its room.
    Greeted(GreetingKind),
    /// A restored socket: what its rooms had after its offset, then its rooms.
    Restored(Restore),
}

/// Where connecting sockets queue for the fan-out task.
#[derive(Clone)]
pub struct Joiners(mpsc::UnboundedSender<Joiner>);

/// The fan-out task's end of [`Joiners`].
pub struct JoinerInbox(pub(super) mpsc::UnboundedReceiver<Joiner>);

/// A new queue of connecting sockets.
pub fn joiners() -> (Joiners, JoinerInbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Joiners(tx), JoinerInbox(rx))
}

impl Joiners {
    /// Queues `socket` for its greeting (or its missed events) and its rooms.
    pub fn enqueue(&self, socket: Socket, joining: Joining) {
        if self.0.send(Joiner { socket, joining }).is_err() {
            tracing::debug!("socket.io gateway stopped; socket not greeted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refused_events_closes_the_socket_once_then_goes_silent() {
        let mut refusals = Refusals::default();
        let start = std::time::Instant::now();
        assert_eq!(
            refusals.count(start),
            RefusalVerdict::Answer { first: true }
        );
        for _ in 1..REFUSALS_PER_WINDOW {
            assert_eq!(
                refusals.count(start),
                RefusalVerdict::Answer { first: false }
            );
        }
        assert_eq!(refusals.count(start), RefusalVerdict::Close);
        assert_eq!(refusals.count(start), RefusalVerdict::Drop);
        // A new window starts afresh.
        let later = start + REFUSAL_WINDOW;
        assert_eq!(
            refusals.count(later),
            RefusalVerdict::Answer { first: false }
        );
    }
}
