//! The Socket.IO layer on the engine: a client joins the default namespace
//! with its auth object, which the handler accepts (the socket connects) or
//! refuses with a message (`connect_error`); then its events reach the
//! handler with their acknowledgement, and the server's events reach it as
//! framed messages. Sockets join rooms (and leave them as they go); a room lists its sockets
//! for the sender, who frames a message once for all of them. Only the
//! default namespace `/` is served; binary attachments are refused (the
//! gateway's events are JSON).
//!
//! Connection state recovery (Socket.IO 4.6+): a server that offers it
//! gives each socket a private session id (`pid`) beside its id in the
//! connect answer. A client that comes back sends that `pid` and the offset
//! of the last event it read in its auth; the handler decides whether the
//! socket is restored (it then keeps its id and `pid`), and what it missed.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;

use super::engine::{
    CloseReason, Engine, EngineConfig, EngineHandler, Framed, OpeningRequest, SendError, Session,
    Transport, random_id,
};
use super::packet::{
    DEFAULT_NAMESPACE, EventCall, PacketKind, SocketPacket, ack_message, connect_error_message,
    connect_message, disconnect_message, push_event_message, push_event_message_at,
};

/// How long a client may take, by default, to join a namespace after its
/// session opens.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// Why a socket left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client left the namespace (its session may stay open, to join again).
    ClientDisconnect,
    /// The server disconnected the socket.
    ServerDisconnect,
    /// The session under it ended.
    Transport(CloseReason),
}

impl DisconnectReason {
    /// A stable snake_case name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientDisconnect => "client_disconnect",
            Self::ServerDisconnect => "server_disconnect",
            Self::Transport(reason) => reason.name(),
        }
    }

    /// Whether the client may come back and recover the socket (connection
    /// state recovery): after a lost transport or the server's stop, not
    /// after either side left on purpose or a broken client was closed.
    pub fn recoverable(self) -> bool {
        matches!(
            self,
            Self::Transport(
                CloseReason::TransportClose
                    | CloseReason::TransportError
                    | CloseReason::PingTimeout
                    | CloseReason::ServerShutdown
            )
        )
    }
}

/// A client accepted into the namespace.
pub struct Admitted<S> {
    /// What the handler keeps of the client.
    pub state: S,
    /// The ids of the socket it restores (connection state recovery);
    /// `None`: a new socket, with new ids.
    pub restores: Option<SocketIds>,
}

impl<S> From<S> for Admitted<S> {
    fn from(state: S) -> Self {
        Admitted {
            state,
            restores: None,
        }
    }
}

/// A socket's public id and private session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIds {
    /// The socket id the client knows it by.
    pub sid: String,
    /// The private session id it comes back with.
    pub pid: String,
}

/// What the application does with sockets.
pub trait SocketHandler: Send + Sync + 'static {
    /// What the application keeps per socket (the caller's identity, filters).
    type State: Send + Sync + 'static;
    /// Accepts a client's `auth` (and its opening request) or refuses it
    /// with a message. With recovery offered, `auth` of a client that comes
    /// back holds the `pid` and `offset` it recovers with.
    fn authenticate(
        &self,
        auth: Option<&RawValue>,
        request: &OpeningRequest,
    ) -> Result<Admitted<Self::State>, String>;
    /// A socket connected (its connect answer is already queued).
    fn on_connect(&self, socket: &Arc<Socket<Self::State>>);
    /// An event arrived; `ack` answers it when the client asked for an answer.
    fn on_event(&self, socket: &Arc<Socket<Self::State>>, call: EventCall<'_>, ack: Option<Ack>);
    /// A socket is leaving: it is still in its rooms (to keep them for its
    /// recovery), and leaves them right after.
    fn on_disconnect(&self, socket: &Arc<Socket<Self::State>>, reason: DisconnectReason);
    /// An Engine.IO request was refused (`reason`: `unknown_session`,
    /// `bad_request`, …), which no socket may have seen.
    fn on_refused_request(&self, reason: &'static str) {
        let _ = reason;
    }
}

/// A client connected to the default namespace.
pub struct Socket<S> {
    /// The socket id (not the session id).
    pub id: String,
    /// Its private session id, when the server offers recovery.
    pub pid: Option<String>,
    /// What the handler made of the client's auth.
    pub state: S,
    session: Arc<Session>,
    rooms: Arc<Rooms<S>>,
    /// The rooms it is in; `None` once it has left them all for good.
    joined: Mutex<Option<Vec<String>>>,
    /// The request that opened its session, for a connect after it leaves.
    request: OpeningRequest,
}

/// The sockets of one room, by socket id.
type Members<S> = HashMap<String, Arc<Socket<S>>>;

/// The rooms of a server: room name to its sockets.
struct Rooms<S>(RwLock<HashMap<String, Members<S>>>);

impl<S> Socket<S> {
    /// Adds the socket to `room` (nothing once it has disconnected).
    pub fn join(self: &Arc<Self>, room: &str) {
        let mut joined = self.joined.lock();
        let Some(joined) = joined.as_mut() else {
            return;
        };
        if joined.iter().any(|r| r == room) {
            return;
        }
        joined.push(room.to_owned());
        self.rooms
            .0
            .write()
            .entry(room.to_owned())
            .or_default()
            .insert(self.id.clone(), Arc::clone(self));
    }

    /// Whether the socket is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.joined
            .lock()
            .as_ref()
            .is_some_and(|joined| joined.iter().any(|r| r == room))
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<String> {
        self.joined.lock().clone().unwrap_or_default()
    }

    /// Leaves every room, and joins none after.
    fn leave_all(&self) {
        let joined = self.joined.lock().take().unwrap_or_default();
        for room in joined {
            self.rooms.remove(&room, &self.id);
        }
    }

    /// Queues a run of framed messages, all or none (see [`event_message`]).
    pub fn send_run(&self, run: &[Framed]) -> Result<(), SendError> {
        self.session.send_run(run)
    }

    /// Queues event `name` with `data` (one JSON value), framed for this socket only.
    pub fn emit(&self, name: &str, data: &str) -> Result<(), SendError> {
        self.session.send(event_message(name, data))
    }

    /// How the socket reaches its client now.
    pub fn transport(&self) -> Transport {
        self.session.transport()
    }

    /// Tells the client it left the namespace and ends the session.
    pub fn disconnect(&self) {
        let _ = self
            .session
            .send(disconnect_message(DEFAULT_NAMESPACE).into());
        self.session.close(CloseReason::ServerClose);
    }
}

impl<S> Rooms<S> {
    fn remove(&self, room: &str, socket: &str) {
        let mut rooms = self.0.write();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(socket);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }
}

/// The framed message of event `name` with `data` (one JSON value), for any socket.
pub fn event_message(name: &str, data: &str) -> Framed {
    let mut out = String::with_capacity(name.len() + data.len() + 8);
    push_event_message(&mut out, DEFAULT_NAMESPACE, name, data);
    out.into()
}

/// As [`event_message`], with the recovery `offset` as its last argument.
pub fn event_message_at(name: &str, data: &str, offset: &str) -> Framed {
    let mut out = String::with_capacity(name.len() + data.len() + offset.len() + 12);
    push_event_message_at(&mut out, DEFAULT_NAMESPACE, name, data, offset);
    out.into()
}

/// The answer to one event that asked for one.
pub struct Ack {
    id: u64,
    session: Weak<Session>,
}

impl Ack {
    /// Answers with `args` (JSON values).
    pub fn send(self, args: &[&str]) -> Result<(), SendError> {
        let session = self.session.upgrade().ok_or(SendError::Closed)?;
        session.send(ack_message(DEFAULT_NAMESPACE, self.id, args).into())
    }
}

/// The Socket.IO server: the engine and the connected sockets.
pub struct SocketServer<H: SocketHandler> {
    handler: H,
    /// The server itself, for the tasks it spawns.
    me: Weak<Self>,
    /// Sockets by session id.
    sockets: RwLock<HashMap<String, Arc<Socket<H::State>>>>,
    rooms: Arc<Rooms<H::State>>,
    /// The engine under it, set once started.
    engine: OnceLock<Weak<Engine>>,
    /// Sessions still to join the namespace, with their opening request.
    opening: RwLock<HashMap<String, OpeningRequest>>,
    /// How long a session may stay without joining the namespace.
    connect_timeout: Duration,
    /// Whether sockets get a private session id to recover with.
    offers_recovery: bool,
}

/// How a [`SocketServer`] serves its namespace.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long a client may take to join the namespace after its session opens.
    pub connect_timeout: Duration,
    /// Offer connection state recovery: each socket gets a private session
    /// id in its connect answer (the handler restores returning sockets).
    pub offers_recovery: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            connect_timeout: CONNECT_TIMEOUT,
            offers_recovery: false,
        }
    }
}

impl<H: SocketHandler> SocketServer<H> {
    /// A server for `handler`, and the engine that carries it (its `handle`
    /// answers the `/socket.io/` requests).
    pub fn start(handler: H, config: EngineConfig) -> (Arc<Self>, Arc<Engine>) {
        Self::start_with(handler, config, ServerOptions::default())
    }

    /// As [`SocketServer::start`], with `options` instead of the defaults.
    pub fn start_with(
        handler: H,
        config: EngineConfig,
        options: ServerOptions,
    ) -> (Arc<Self>, Arc<Engine>) {
        let server = Arc::new_cyclic(|me| Self {
            handler,
            me: me.clone(),
            sockets: RwLock::new(HashMap::new()),
            rooms: Arc::new(Rooms(RwLock::new(HashMap::new()))),
            engine: OnceLock::new(),
            opening: RwLock::new(HashMap::new()),
            connect_timeout: options.connect_timeout,
            offers_recovery: options.offers_recovery,
        });
        let engine = Engine::new(config, Arc::clone(&server) as Arc<dyn EngineHandler>);
        let _ = server.engine.set(Arc::downgrade(&engine));
        (server, engine)
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The connected sockets.
    pub fn sockets(&self) -> Vec<Arc<Socket<H::State>>> {
        self.sockets.read().values().cloned().collect()
    }

    /// The sockets in `room`.
    pub fn sockets_in(&self, room: &str) -> Vec<Arc<Socket<H::State>>> {
        self.rooms
            .0
            .read()
            .get(room)
            .map(|members| members.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Ends every session as the server stops, as the reference server
    /// does: each transport closes (a WebSocket's close frame, a pending
    /// poll's close packet) with no namespace disconnect. A client told it
    /// was disconnected would stay away; a closed transport makes it
    /// reconnect by itself, to another node or to this one once it is
    /// back, and recover its connection state where that is offered.
    pub fn close(&self) {
        for socket in self.sockets() {
            socket.session.close(CloseReason::ServerShutdown);
        }
        let engine = self.engine.get().and_then(Weak::upgrade);
        let opening: Vec<String> = self.opening.write().drain().map(|(sid, _)| sid).collect();
        for sid in opening {
            if let Some(session) = engine.as_ref().and_then(|engine| engine.session(&sid)) {
                session.close(CloseReason::ServerShutdown);
            }
        }
    }

    fn connect(&self, session: &Arc<Session>, packet: &SocketPacket<'_>) {
        if packet.namespace != DEFAULT_NAMESPACE {
            let _ =
                session.send(connect_error_message(packet.namespace, "Invalid namespace").into());
            return;
        }
        if self.sockets.read().contains_key(&session.id) {
            return;
        }
        let Some(request) = self.opening.write().remove(&session.id) else {
            return;
        };
        match self.handler.authenticate(packet.data, &request) {
            Ok(Admitted { state, restores }) => {
                let (id, pid) = match restores {
                    Some(ids) => (ids.sid, Some(ids.pid)),
                    None => (random_id(), self.offers_recovery.then(random_id)),
                };
                let socket = Arc::new(Socket {
                    id,
                    pid,
                    state,
                    session: Arc::clone(session),
                    rooms: Arc::clone(&self.rooms),
                    joined: Mutex::new(Some(Vec::new())),
                    request,
                });
                let answer = connect_message(DEFAULT_NAMESPACE, &socket.id, socket.pid.as_deref());
                let _ = session.send(answer.into());
                self.sockets
                    .write()
                    .insert(session.id.clone(), Arc::clone(&socket));
                self.handler.on_connect(&socket);
            }
            Err(message) => {
                // The client may try again on the same session.
                self.opening.write().insert(session.id.clone(), request);
                let _ = session.send(connect_error_message(DEFAULT_NAMESPACE, &message).into());
            }
        }
    }

    /// The socket of `session` leaves the namespace; returns it.
    fn leave(&self, session: &Session, reason: DisconnectReason) -> Option<Arc<Socket<H::State>>> {
        let socket = self.sockets.write().remove(&session.id);
        if let Some(socket) = &socket {
            self.handler.on_disconnect(socket, reason);
            socket.leave_all();
        }
        socket
    }

    /// Waits for `session` (opened by `request`) to join the namespace,
    /// and closes it when it has not within the connect timeout.
    fn await_connect(&self, session: &Arc<Session>, request: OpeningRequest) {
        self.opening.write().insert(session.id.clone(), request);
        let id = session.id.clone();
        let session = Arc::downgrade(session);
        let server = self.me.clone();
        let timeout = self.connect_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(server) = server.upgrade() else {
                return;
            };
            // Removed here whatever became of the session, so that an entry a
            // refused connect put back as the session closed does not stay.
            let pending = server.opening.write().remove(&id).is_some();
            if let Some(session) = session.upgrade().filter(|_| pending) {
                tracing::debug!(sid = %id, "socket.io: no connect in time, session closed");
                session.close(CloseReason::ServerClose);
            }
        });
    }
}

impl<H: SocketHandler> EngineHandler for SocketServer<H> {
    fn on_refused(&self, reason: &'static str) {
        self.handler.on_refused_request(reason);
    }

    fn on_open(&self, session: &Arc<Session>, request: OpeningRequest) {
        self.await_connect(session, request);
    }

    fn on_message(&self, session: &Arc<Session>, text: &str) {
        let packet = match SocketPacket::decode(text) {
            Ok(packet) => packet,
            Err(error) => {
                tracing::debug!(sid = %session.id, %error, "socket.io: a malformed packet, session closed");
                session.close(CloseReason::ProtocolError);
                return;
            }
        };
        if packet.namespace != DEFAULT_NAMESPACE && packet.kind != PacketKind::Connect {
            // Only `/` is served: its connect was refused, so its other
            // packets have no socket to reach.
            tracing::debug!(sid = %session.id, namespace = packet.namespace, "socket.io: a packet for a namespace not served, ignored");
            return;
        }
        match packet.kind {
            PacketKind::Connect => self.connect(session, &packet),
            PacketKind::Event => {
                let socket = self.sockets.read().get(&session.id).cloned();
                let Some(socket) = socket else {
                    tracing::debug!(sid = %session.id, "socket.io: an event before connect, ignored");
                    return;
                };
                // `decode` checked the event's shape.
                if let Ok(call) = packet.event() {
                    let ack = packet.id.map(|id| Ack {
                        id,
                        session: Arc::downgrade(session),
                    });
                    self.handler.on_event(&socket, call, ack);
                }
            }
            PacketKind::Disconnect => {
                // The client left the namespace; its session stays open (it
                // may join again, or close it) as the protocol has it.
                if let Some(socket) = self.leave(session, DisconnectReason::ClientDisconnect) {
                    self.await_connect(session, socket.request.clone());
                }
            }
            PacketKind::BinaryEvent | PacketKind::BinaryAck => {
                tracing::debug!(sid = %session.id, "socket.io: binary packets are not served, session closed");
                session.close(CloseReason::ProtocolError);
            }
            // The server asks for no acks; a client has no errors to send.
            PacketKind::Ack | PacketKind::ConnectError => {}
        }
    }

    fn on_binary(&self, session: &Arc<Session>, _data: Bytes) {
        tracing::debug!(sid = %session.id, "socket.io: binary messages are not served, session closed");
        session.close(CloseReason::ProtocolError);
    }

    fn on_close(&self, session: &Arc<Session>, reason: CloseReason) {
        self.opening.write().remove(&session.id);
        let reason = match reason {
            CloseReason::ServerClose => DisconnectReason::ServerDisconnect,
            CloseReason::ClientClose => DisconnectReason::ClientDisconnect,
            other => DisconnectReason::Transport(other),
        };
        self.leave(session, reason);
    }
}
