//! Engine.IO v4 sessions over HTTP long-polling and WebSocket, with the
//! upgrade from one to the other and the server's heartbeat.
//!
//! Every session has one outbox of framed text messages (`4…`, already
//! encoded, shared between sessions by reference count), bounded in
//! messages: a sender hands a whole run at once and learns whether this
//! session took it. The WebSocket writer drains the outbox in one go and
//! writes each message as a text frame without copying it, with one flush
//! per drain; a long-poll answers with everything waiting, joined by the
//! record separator.
//!
//! A session's life is one task: it pings every `ping_interval`, closes the
//! session when no pong comes within `ping_timeout`, and on any close removes
//! the session and tells the handler once.

mod polling;
mod websocket;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::engine_packet::{EnginePacket, Handshake, RECORD_SEPARATOR, split_payload};

/// How long a poll that comes while an upgrade finishes waits for it.
const UPGRADE_GRACE: Duration = Duration::from_millis(100);

/// The read buffer of a session's WebSocket, in bytes; a larger message
/// grows it. Clients send pongs and small events: an idle socket keeps this
/// much, so it is small (tungstenite's default is 128 KiB).
const READ_BUFFER_SIZE: usize = 512;

/// How long a session its client closed over long-polling, with no poll
/// pending, waits for the poll the client had in flight (which gets a noop).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A framed Engine.IO text message (`4…`), cheap to clone for many sessions.
pub type Framed = Utf8Bytes;

/// The engine's limits and timers.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Time between the server's pings.
    pub ping_interval: Duration,
    /// Time the server waits for a pong before it closes the session.
    pub ping_timeout: Duration,
    /// The largest message or polling body a client may send, in bytes.
    pub max_payload: usize,
    /// Messages a session's outbox holds before further sends are refused.
    pub max_buffered: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            max_buffered: 4_096,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a close packet.
    ClientClose,
    /// The WebSocket closed.
    TransportClose,
    /// The WebSocket failed, or a poll came while another was pending.
    TransportError,
    /// No pong came within the ping timeout.
    PingTimeout,
    /// The client sent something that is not Engine.IO.
    ProtocolError,
    /// The client sent a message or polling body over the payload limit.
    TooLarge,
    /// The server closed it.
    ServerClose,
    /// The server is stopping: the transport closes with no namespace
    /// disconnect, so that the client reconnects by itself.
    ServerShutdown,
}

impl CloseReason {
    /// A stable snake_case name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientClose => "client_close",
            Self::TransportClose => "transport_close",
            Self::TransportError => "transport_error",
            Self::PingTimeout => "ping_timeout",
            Self::ProtocolError => "protocol_error",
            Self::TooLarge => "message_too_large",
            Self::ServerClose => "server_close",
            Self::ServerShutdown => "server_shutdown",
        }
    }
}

/// Why a session refused messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The outbox has no room for the whole run: none of it was taken.
    #[error("the session's outbox is full")]
    Full,
    /// The session has ended.
    #[error("the session is closed")]
    Closed,
}

/// What the layer above (Socket.IO) is told about sessions.
pub trait EngineHandler: Send + Sync + 'static {
    /// A session opened; `request` is the request that opened it.
    fn on_open(&self, session: &Arc<Session>, request: OpeningRequest);
    /// A text message (without its `4`) arrived.
    fn on_message(&self, session: &Arc<Session>, text: &str);
    /// A binary message arrived.
    fn on_binary(&self, session: &Arc<Session>, data: Bytes);
    /// The session ended (told once).
    fn on_close(&self, session: &Arc<Session>, reason: CloseReason);
    /// A request was refused with an Engine.IO error (`reason` is its
    /// snake_case name), before or without closing a session.
    fn on_refused(&self, reason: &'static str) {
        let _ = reason;
    }
}

/// The parts of the opening request the layer above may read (its query and headers).
#[derive(Debug, Clone)]
pub struct OpeningRequest {
    /// The request's URI, with its query.
    pub uri: Uri,
    /// The request's headers.
    pub headers: HeaderMap,
}

impl OpeningRequest {
    /// Copies the URI and headers of `request` into storage of their own,
    /// leaving out the headers of the transport's own handshake
    /// (`Connection`, `Upgrade`, `Sec-WebSocket-*`).
    ///
    /// hyper parses a request without copying: its URI and header values
    /// are slices of the connection's read buffer (8 to 16 KiB). A session
    /// keeps its opening request as long as it lives, and a clone of those
    /// slices would keep the whole buffer alive for each idle socket.
    pub fn of<B>(request: &Request<B>) -> Self {
        let uri =
            Uri::from_maybe_shared(Bytes::from(request.uri().to_string())).unwrap_or_default();
        let kept = || {
            request
                .headers()
                .iter()
                .filter(|(name, _)| !is_handshake_header(name))
        };
        let mut headers = HeaderMap::with_capacity(kept().count());
        for (name, value) in kept() {
            if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
                copy.set_sensitive(value.is_sensitive());
                headers.append(name.clone(), copy);
            }
        }
        Self { uri, headers }
    }
}

/// Whether `name` belongs to the transport's handshake, which nothing above
/// the engine reads.
fn is_handshake_header(name: &header::HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::UPGRADE
        || name.as_str().starts_with("sec-websocket-")
}

/// How a session currently reaches its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// One client's Engine.IO session.
pub struct Session {
    /// The session id.
    pub id: String,
    state: Mutex<SessionState>,
    /// Wakes the writer or the pending poll: messages waiting, an upgrade, or the end.
    wake: Notify,
    pong: Notify,
    closing: CancellationToken,
    max_buffered: usize,
}

struct SessionState {
    outbox: VecDeque<Framed>,
    transport: Transport,
    upgrading: bool,
    /// An upgrade's probe has been answered: polls end at once with a noop,
    /// so that the client can pause polling and finish the upgrade.
    probed: bool,
    polling: bool,
    posting: bool,
    close_reason: Option<CloseReason>,
    /// The client closed the session while none of its polls was pending:
    /// the poll it had in flight, arriving after the close, gets the noop
    /// it would have got had it come first.
    owed_noop: bool,
}

impl Session {
    fn new(id: String, transport: Transport, max_buffered: usize) -> Self {
        Self {
            id,
            state: Mutex::new(SessionState {
                outbox: VecDeque::new(),
                transport,
                upgrading: false,
                probed: false,
                polling: false,
                posting: false,
                close_reason: None,
                owed_noop: false,
            }),
            wake: Notify::new(),
            pong: Notify::new(),
            closing: CancellationToken::new(),
            max_buffered,
        }
    }

    /// Queues a run of framed messages in order, all or none.
    pub fn send_run(&self, run: &[Framed]) -> Result<(), SendError> {
        {
            let mut state = self.state.lock();
            if state.close_reason.is_some() {
                return Err(SendError::Closed);
            }
            if state.outbox.len() + run.len() > self.max_buffered {
                return Err(SendError::Full);
            }
            state.outbox.extend(run.iter().cloned());
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Queues one framed message.
    pub fn send(&self, message: Framed) -> Result<(), SendError> {
        self.send_run(std::slice::from_ref(&message))
    }

    /// Queues a binary message: kept as a polling body carries it (`b` and
    /// its base64), sent as a binary frame over WebSocket.
    pub fn send_binary(&self, data: &[u8]) -> Result<(), SendError> {
        let mut framed = String::with_capacity(1 + data.len().div_ceil(3) * 4);
        framed.push('b');
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut framed);
        self.send(framed.into())
    }

    /// Queues a control packet (ping, noop) past the bound.
    fn send_control(&self, packet: &'static str) {
        let mut state = self.state.lock();
        if state.close_reason.is_none() {
            state.outbox.push_back(Utf8Bytes::from_static(packet));
            drop(state);
            self.wake.notify_one();
        }
    }

    /// How the session reaches its client now.
    pub fn transport(&self) -> Transport {
        self.state.lock().transport
    }

    /// Ends the session; the handler hears of it once, with the first reason given.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut state = self.state.lock();
            state.close_reason.get_or_insert(reason);
        }
        self.closing.cancel();
        self.wake.notify_one();
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closing.is_cancelled()
    }

    /// Takes everything waiting in the outbox.
    fn drain(&self, into: &mut VecDeque<Framed>) {
        let mut state = self.state.lock();
        std::mem::swap(&mut state.outbox, into);
    }

    fn close_reason(&self) -> CloseReason {
        self.state
            .lock()
            .close_reason
            .unwrap_or(CloseReason::ServerClose)
    }
}

/// The Engine.IO server: its sessions and its handler.
pub struct Engine {
    config: EngineConfig,
    handler: Arc<dyn EngineHandler>,
    sessions: RwLock<HashMap<String, Arc<Session>>>,
}

/// An Engine.IO error answer: `{"code": …, "message": …}` with status 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestError {
    UnknownTransport,
    UnknownSession,
    BadHandshakeMethod,
    BadRequest,
    UnsupportedProtocolVersion,
}

impl RequestError {
    /// A stable snake_case name, for logs and metrics.
    fn name(self) -> &'static str {
        match self {
            Self::UnknownTransport => "unknown_transport",
            Self::UnknownSession => "unknown_session",
            Self::BadHandshakeMethod => "bad_handshake_method",
            Self::BadRequest => "bad_request",
            Self::UnsupportedProtocolVersion => "unsupported_protocol_version",
        }
    }

    fn response(self) -> Response<axum::body::Body> {
        let (code, message) = match self {
            Self::UnknownTransport => (0, "Transport unknown"),
            Self::UnknownSession => (1, "Session ID unknown"),
            Self::BadHandshakeMethod => (2, "Bad handshake method"),
            Self::BadRequest => (3, "Bad request"),
            Self::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
        };
        let body = serde_json::json!({ "code": code, "message": message }).to_string();
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap_or_default()
    }
}

/// The query parameters Engine.IO reads.
struct EngineQuery {
    transport: Transport,
    sid: Option<String>,
}

impl EngineQuery {
    fn parse(uri: &Uri) -> Result<Self, RequestError> {
        let mut version = None;
        let mut transport = None;
        let mut sid = None;
        for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            match &*key {
                "EIO" => version = Some(value.into_owned()),
                "transport" => transport = Some(value.into_owned()),
                "sid" => sid = Some(value.into_owned()),
                _ => {}
            }
        }
        if version.as_deref() != Some("4") {
            return Err(RequestError::UnsupportedProtocolVersion);
        }
        let transport = match transport.as_deref() {
            Some("polling") => Transport::Polling,
            Some("websocket") => Transport::WebSocket,
            _ => return Err(RequestError::UnknownTransport),
        };
        Ok(Self { transport, sid })
    }
}

/// A fresh id for a session or a socket: 120 random bits, URL-safe.
pub fn random_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 15]>())
}

/// The bytes of a queued binary message (`b…`, see [`Session::send_binary`]).
fn binary_of(message: &Framed) -> Option<Bytes> {
    let encoded = message.as_str().strip_prefix('b')?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .map(Bytes::from)
}

fn text_response(status: StatusCode, body: String) -> Response<axum::body::Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(body.into())
        .unwrap_or_default()
}

impl Engine {
    /// An engine that tells `handler` about its sessions.
    pub fn new(config: EngineConfig, handler: Arc<dyn EngineHandler>) -> Arc<Self> {
        Arc::new(Self {
            config,
            handler,
            sessions: RwLock::new(HashMap::new()),
        })
    }

    /// The session `sid`, while it is open.
    pub fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.sessions
            .read()
            .get(sid)
            .filter(|session| !session.is_closed())
            .cloned()
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions
            .read()
            .values()
            .filter(|session| !session.is_closed())
            .count()
    }

    /// The error answer to a refused request; the handler hears of it.
    fn refuse(&self, error: RequestError) -> Response<axum::body::Body> {
        tracing::debug!(reason = error.name(), "engine.io: request refused");
        self.handler.on_refused(error.name());
        error.response()
    }

    /// Answers one HTTP request to the Engine.IO path.
    pub async fn handle(
        self: &Arc<Self>,
        request: Request<axum::body::Body>,
    ) -> Response<axum::body::Body> {
        let query = match EngineQuery::parse(request.uri()) {
            Ok(query) => query,
            Err(error) => return self.refuse(error),
        };
        match (query.transport, query.sid) {
            (Transport::Polling, None) if request.method() == Method::GET => {
                self.open_polling(&request)
            }
            (Transport::Polling, None) => self.refuse(RequestError::BadHandshakeMethod),
            (Transport::Polling, Some(sid)) => {
                // A poll may still reach a session its client just closed
                // (the noop it is owed); anything else needs an open one.
                let found = self.sessions.read().get(&sid).cloned();
                let Some(session) = found
                    .filter(|session| !session.is_closed() || *request.method() == Method::GET)
                else {
                    return self.refuse(RequestError::UnknownSession);
                };
                match *request.method() {
                    Method::GET => self.poll(&session).await,
                    Method::POST => self.receive_post(&session, request).await,
                    _ => self.refuse(RequestError::BadRequest),
                }
            }
            (Transport::WebSocket, sid) => self.accept_websocket(request, sid),
        }
    }

    fn new_session(self: &Arc<Self>, transport: Transport) -> Arc<Session> {
        let session = Arc::new(Session::new(
            random_id(),
            transport,
            self.config.max_buffered,
        ));
        self.sessions
            .write()
            .insert(session.id.clone(), Arc::clone(&session));
        session
    }

    fn handshake(&self, session: &Session, upgrades: Vec<&'static str>) -> Framed {
        Handshake {
            sid: session.id.clone(),
            upgrades,
            ping_interval: self.config.ping_interval.as_millis() as u64,
            ping_timeout: self.config.ping_timeout.as_millis() as u64,
            max_payload: self.config.max_payload as u64,
        }
        .open_packet()
        .into()
    }

    /// Starts the session's life: the handler hears of it, the heartbeat runs.
    fn start(self: &Arc<Self>, session: &Arc<Session>, request: OpeningRequest) {
        self.handler.on_open(session, request);
        let engine = Arc::clone(self);
        let session = Arc::clone(session);
        tokio::spawn(async move { engine.live(session).await });
    }

    /// Pings until the session ends, then removes it and tells the handler.
    /// Each ping is due `ping_interval` after the session opened or the last
    /// pong came, and the session ends `ping_timeout` after the ping (both
    /// measured from those instants, so that the timers do not drift).
    async fn live(self: Arc<Self>, session: Arc<Session>) {
        let mut since = tokio::time::Instant::now();
        loop {
            let ping_at = since + self.config.ping_interval;
            tokio::select! {
                () = session.closing.cancelled() => break,
                () = tokio::time::sleep_until(ping_at) => {}
            }
            session.send_control("2");
            tokio::select! {
                () = session.closing.cancelled() => break,
                () = session.pong.notified() => since = tokio::time::Instant::now(),
                () = tokio::time::sleep_until(ping_at + self.config.ping_timeout) => {
                    session.close(CloseReason::PingTimeout);
                    break;
                }
            }
        }
        if session.state.lock().owed_noop {
            // Kept a moment for the poll the client had in flight.
            let engine = Arc::clone(&self);
            let id = session.id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(CLOSE_GRACE).await;
                engine.sessions.write().remove(&id);
            });
        } else {
            self.sessions.write().remove(&session.id);
        }
        self.handler.on_close(&session, session.close_reason());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    /// What the test handler heard, in order.
    #[derive(Debug, PartialEq)]
    enum Heard {
        Open(String),
        Message(String),
        Binary(Vec<u8>),
        Close(CloseReason),
    }

    /// Echoes every message back (`echo:` and the text) and reports what it hears.
    struct Echo(mpsc::UnboundedSender<Heard>);

    impl EngineHandler for Echo {
        fn on_open(&self, _: &Arc<Session>, request: OpeningRequest) {
            let _ = self
                .0
                .send(Heard::Open(request.uri.query().unwrap_or("").into()));
        }
        fn on_message(&self, session: &Arc<Session>, text: &str) {
            let _ = self.0.send(Heard::Message(text.into()));
            let _ = session.send(format!("4echo:{text}").into());
        }
        fn on_binary(&self, _: &Arc<Session>, data: Bytes) {
            let _ = self.0.send(Heard::Binary(data.to_vec()));
        }
        fn on_close(&self, _: &Arc<Session>, reason: CloseReason) {
            let _ = self.0.send(Heard::Close(reason));
        }
    }

    struct Server {
        engine: Arc<Engine>,
        base: String,
        heard: mpsc::UnboundedReceiver<Heard>,
    }

    impl Server {
        async fn next(&mut self) -> Heard {
            tokio::time::timeout(Duration::from_secs(5), self.heard.recv())
                .await
                .expect("the handler heard nothing")
                .expect("the handler is gone")
        }
    }

    async fn serve(config: EngineConfig) -> Server {
        let (tell, heard) = mpsc::unbounded_channel();
        let engine = Engine::new(config, Arc::new(Echo(tell)));
        let handle = Arc::clone(&engine);
        let router = axum::Router::new().route(
            "/socket.io/",
            axum::routing::any(move |request: Request<axum::body::Body>| {
                let engine = Arc::clone(&handle);
                async move { engine.handle(request).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Server {
            engine,
            base: format!("{address}/socket.io/?EIO=4"),
            heard,
        }
    }

    fn quick() -> EngineConfig {
        EngineConfig {
            ping_interval: Duration::from_millis(200),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000,
            max_buffered: 8,
        }
    }

    type Client = WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn read_text(socket: &mut Client) -> String {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("nothing came")
                .expect("the socket ended")
                .expect("the socket failed");
            if let Message::Text(text) = message {
                return text.as_str().to_owned();
            }
        }
    }

    /// The body of a GET, as text.
    async fn get_text(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
        http.get(url).send().await.unwrap().text().await.unwrap()
    }

    fn handshake_of(open: &str) -> serde_json::Value {
        let Ok(EnginePacket::Open(json)) = EnginePacket::decode(open) else {
            panic!("not an open packet: {open}");
        };
        serde_json::from_str(json).unwrap()
    }

    /// An opening request owns its URI and headers (none of them points
    /// into the buffer hyper parsed them from), and leaves out the
    /// WebSocket handshake's own headers.
    #[test]
    fn an_opening_request_copies_what_it_keeps_out_of_the_read_buffer() {
        let buffer = Bytes::from_static(b"Bearer abc|https://wallboard.example|dGhlIHNhbXBsZQ==");
        let within = |bytes: &[u8]| {
            let range = buffer.as_ptr_range();
            range.contains(&bytes.as_ptr())
        };
        let shared = |range: std::ops::Range<usize>| {
            HeaderValue::from_maybe_shared(buffer.slice(range)).expect("a header value")
        };
        let request = Request::builder()
            .uri(
                Uri::from_maybe_shared(Bytes::from_static(
                    b"/socket.io/?EIO=4&transport=websocket",
                ))
                .expect("a uri"),
            )
            .header(header::AUTHORIZATION, shared(0..10))
            .header(header::ORIGIN, shared(11..36))
            .header(header::SEC_WEBSOCKET_KEY, shared(37..buffer.len()))
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .body(())
            .expect("a request");
        assert!(within(request.headers()[header::AUTHORIZATION].as_bytes()));

        let opening = OpeningRequest::of(&request);

        assert_eq!(opening.uri.query(), Some("EIO=4&transport=websocket"));
        let names: Vec<&str> = opening.headers.keys().map(|name| name.as_str()).collect();
        assert_eq!(names, ["authorization", "origin"]);
        assert_eq!(opening.headers[header::AUTHORIZATION], "Bearer abc");
        assert_eq!(opening.headers[header::ORIGIN], "https://wallboard.example");
        for value in opening.headers.values() {
            assert!(
                !within(value.as_bytes()),
                "{value:?} still points into the read buffer"
            );
        }
    }

    #[tokio::test]
    async fn a_websocket_session_opens_exchanges_messages_answers_pings_and_closes() {
        let mut server = serve(quick()).await;
        let url = format!("ws://{}&transport=websocket&token=t1", server.base);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();

        let open = handshake_of(&read_text(&mut socket).await);
        assert_eq!(open["upgrades"], serde_json::json!([]));
        assert_eq!(open["pingInterval"], 200);
        assert_eq!(open["maxPayload"], 1000);
        let sid = open["sid"].as_str().unwrap().to_owned();
        assert!(matches!(server.next().await, Heard::Open(query) if query.contains("token=t1")));
        assert_eq!(
            server.engine.session(&sid).unwrap().transport(),
            Transport::WebSocket
        );

        socket.send(Message::text("4hello")).await.unwrap();
        assert_eq!(server.next().await, Heard::Message("hello".into()));
        assert_eq!(read_text(&mut socket).await, "4echo:hello");
        socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        assert_eq!(server.next().await, Heard::Binary(vec![1, 2, 3]));

        // Three heartbeats answered keep the session past two ping timeouts.
        for _ in 0..3 {
            assert_eq!(read_text(&mut socket).await, "2");
            socket.send(Message::text("3")).await.unwrap();
        }
        assert!(server.engine.session(&sid).is_some());

        socket.send(Message::text("1")).await.unwrap();
        assert_eq!(server.next().await, Heard::Close(CloseReason::ClientClose));
        assert!(server.engine.session(&sid).is_none());
    }

    #[tokio::test]
    async fn a_session_that_answers_no_ping_is_closed_after_the_timeout() {
        let mut server = serve(quick()).await;
        let url = format!("ws://{}&transport=websocket", server.base);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        read_text(&mut socket).await;
        assert!(matches!(server.next().await, Heard::Open(_)));
        assert_eq!(read_text(&mut socket).await, "2");
        assert_eq!(server.next().await, Heard::Close(CloseReason::PingTimeout));
        assert_eq!(server.engine.session_count(), 0);
        // The server closes its side too.
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = socket.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the websocket stayed open");
    }

    #[tokio::test]
    async fn a_polling_session_opens_posts_polls_and_upgrades_to_websocket() {
        let mut server = serve(quick()).await;
        let http = reqwest::Client::new();
        let polling = format!("http://{}&transport=polling", server.base);

        let open = get_text(&http, &polling).await;
        let open = handshake_of(&open);
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
        let sid = open["sid"].as_str().unwrap().to_owned();
        assert!(matches!(server.next().await, Heard::Open(_)));
        let session_url = format!("{polling}&sid={sid}");

        let posted = http
            .post(&session_url)
            .body("4one\u{1e}4two\u{1e}bAQID")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 200);
        assert_eq!(posted.text().await.unwrap(), "ok");
        assert_eq!(server.next().await, Heard::Message("one".into()));
        assert_eq!(server.next().await, Heard::Message("two".into()));
        assert_eq!(server.next().await, Heard::Binary(vec![1, 2, 3]));
        let polled = get_text(&http, &session_url).await;
        assert_eq!(polled, "4echo:one\u{1e}4echo:two");

        // A poll waits for the next message (here the heartbeat) and is answered.
        let polled = get_text(&http, &session_url).await;
        assert_eq!(polled, "2");
        http.post(&session_url).body("3").send().await.unwrap();

        // The upgrade: probe, the pending poll ends with a noop, then the switch.
        let pending = tokio::spawn({
            let (http, url) = (http.clone(), session_url.clone());
            async move { get_text(&http, &url).await }
        });
        let url = format!("ws://{}&transport=websocket&sid={sid}", server.base);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        socket.send(Message::text("2probe")).await.unwrap();
        assert_eq!(read_text(&mut socket).await, "3probe");
        assert_eq!(pending.await.unwrap(), "6");
        socket.send(Message::text("5")).await.unwrap();
        socket.send(Message::text("4over websocket")).await.unwrap();
        assert_eq!(server.next().await, Heard::Message("over websocket".into()));
        assert_eq!(read_text(&mut socket).await, "4echo:over websocket");
        assert_eq!(
            server.engine.session(&sid).unwrap().transport(),
            Transport::WebSocket
        );

        // Polling is over for this session: a poll is refused, a second
        // WebSocket is accepted and closed at once; the session goes on.
        let late = http.get(&session_url).send().await.unwrap();
        assert_eq!(late.status(), 400);
        let url = format!("ws://{}&transport=websocket&sid={sid}", server.base);
        let (mut second, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert!(matches!(
            second.next().await,
            Some(Ok(Message::Close(_))) | None
        ));
        socket.send(Message::text("4still here")).await.unwrap();
        assert_eq!(read_text(&mut socket).await, "4echo:still here");
        // A binary message goes out as a binary frame.
        let session = server.engine.session(&sid).unwrap();
        session.send_binary(&[7, 8]).unwrap();
        assert_eq!(
            socket.next().await.unwrap().unwrap(),
            Message::binary(vec![7, 8])
        );
    }

    #[tokio::test]
    async fn a_pending_poll_ends_with_a_noop_when_the_client_closes_and_a_close_when_the_server_does()
     {
        let server = serve(quick()).await;
        let http = reqwest::Client::new();
        let polling = format!("http://{}&transport=polling", server.base);
        for (closer, answer) in [("client", "6"), ("server", "1")] {
            let open = handshake_of(&get_text(&http, &polling).await);
            let url = format!("{polling}&sid={}", open["sid"].as_str().unwrap());
            let pending = tokio::spawn({
                let (http, url) = (http.clone(), url.clone());
                async move { get_text(&http, &url).await }
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            if closer == "client" {
                http.post(&url).body("1").send().await.unwrap();
            } else {
                let sid = open["sid"].as_str().unwrap();
                server
                    .engine
                    .session(sid)
                    .unwrap()
                    .close(CloseReason::ServerClose);
            }
            assert_eq!(pending.await.unwrap(), answer, "{closer} close");
            // The session is gone.
            let after = http.get(&url).send().await.unwrap();
            assert_eq!(after.status(), 400, "{closer} close");
        }
    }

    #[tokio::test]
    async fn a_close_that_overtakes_the_clients_poll_still_ends_that_poll_with_a_noop() {
        let server = serve(quick()).await;
        let http = reqwest::Client::new();
        let polling = format!("http://{}&transport=polling", server.base);
        let open = handshake_of(&get_text(&http, &polling).await);
        let url = format!("{polling}&sid={}", open["sid"].as_str().unwrap());
        // The client's close arrives before the poll it sent with it.
        let closed = http.post(&url).body("1").send().await.unwrap();
        assert_eq!(closed.status(), 200);
        assert_eq!(server.engine.session_count(), 0, "closed at once");
        let late = http.get(&url).send().await.unwrap();
        assert_eq!(late.status(), 200);
        assert_eq!(late.text().await.unwrap(), "6");
        // Only that one poll: then the session is gone.
        assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
        let post = http.post(&url).body("4hi").send().await.unwrap();
        assert_eq!(post.status(), 400, "a closed session takes no packets");
    }

    #[tokio::test]
    async fn bad_requests_get_the_engine_io_error_codes_and_bad_bodies_close_the_session() {
        let mut server = serve(quick()).await;
        let http = reqwest::Client::new();
        let base = format!("http://{}", server.base);
        let old_version = format!("http://{}", server.base.replace("EIO=4", "EIO=3"));
        for (method, url, code) in [
            (Method::GET, format!("{base}&transport=polling&sid=nope"), 1),
            (Method::GET, format!("{base}&transport=carrier-pigeon"), 0),
            (Method::GET, format!("{old_version}&transport=polling"), 5),
            (Method::POST, format!("{base}&transport=polling"), 2),
        ] {
            let response = http.request(method, &url).send().await.unwrap();
            assert_eq!(response.status(), 400, "{url}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], code, "{url}");
        }

        // An oversized body and a packet that is not Engine.IO each end their session.
        for (body, status, reason) in [
            ("4".repeat(2_000), 413, CloseReason::TooLarge),
            ("9garbage".to_owned(), 400, CloseReason::ProtocolError),
        ] {
            let open = get_text(&http, format!("{base}&transport=polling")).await;
            let sid = handshake_of(&open)["sid"].as_str().unwrap().to_owned();
            assert!(matches!(server.next().await, Heard::Open(_)));
            let posted = http
                .post(format!("{base}&transport=polling&sid={sid}"))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(posted.status(), status);
            assert_eq!(server.next().await, Heard::Close(reason));
        }
        assert_eq!(server.engine.session_count(), 0);
    }

    #[test]
    fn a_full_outbox_refuses_a_whole_run_and_takes_it_once_drained() {
        let session = Session::new("s".into(), Transport::WebSocket, 8);
        let run: Vec<Framed> = (0..5).map(|i| format!("4m{i}").into()).collect();
        assert_eq!(session.send_run(&run), Ok(()));
        assert_eq!(session.send_run(&run), Err(SendError::Full));
        assert_eq!(session.send_run(&run[..3]), Ok(()));
        let mut taken = VecDeque::new();
        session.drain(&mut taken);
        let taken: Vec<&str> = taken.iter().map(Utf8Bytes::as_str).collect();
        assert_eq!(
            taken,
            ["4m0", "4m1", "4m2", "4m3", "4m4", "4m0", "4m1", "4m2"]
        );
        assert_eq!(session.send_run(&run), Ok(()));
        session.close(CloseReason::ServerClose);
        session.close(CloseReason::PingTimeout);
        assert_eq!(session.close_reason(), CloseReason::ServerClose);
        assert_eq!(session.send_run(&run), Err(SendError::Closed));
    }

    #[tokio::test]
    async fn a_run_reaches_the_websocket_in_order_and_a_server_close_ends_it() {
        let mut server = serve(quick()).await;
        let url = format!("ws://{}&transport=websocket", server.base);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let sid = handshake_of(&read_text(&mut socket).await)["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(matches!(server.next().await, Heard::Open(_)));
        let session = server.engine.session(&sid).unwrap();
        let run: Vec<Framed> = (0..5).map(|i| format!("4m{i}").into()).collect();
        session.send_run(&run).unwrap();
        for expected in ["4m0", "4m1", "4m2", "4m3", "4m4"] {
            assert_eq!(read_text(&mut socket).await, expected);
        }
        session.close(CloseReason::ServerClose);
        assert_eq!(server.next().await, Heard::Close(CloseReason::ServerClose));
        assert_eq!(session.send_run(&run), Err(SendError::Closed));
    }
}
