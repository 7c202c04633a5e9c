//! The simulator's ARI side: an ARI server on loopback, REST under `/ari`
//! and the `/ari/events` WebSocket on the same port, as Asterisk serves
//! them. It keeps channels and bridges, answers the REST calls the agent
//! bridge makes with the statuses Asterisk gives (404 unknown channel or
//! bridge, 422 channel not in the application), and emits the events a
//! real Asterisk 22 emits for them, shaped after `events.json` — or, after
//! [`AriSim::speak_as`], as an older release sends them (without the
//! properties it did not have yet, [`crate::sources::ari::model::ADDED_SINCE`]).

mod rest;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use rest::*;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub use crate::sources::ari::model::Release;
use crate::sources::ari::model::{
    ADDED_SINCE, AriEvent, AriMessage, Bridge, CallerId, Channel, DialplanCep, Endpoint,
};

/// Whether `release` sends `property` of model `object` (every property
/// the models read is sent by every 22, and by the releases of
/// [`ADDED_SINCE`] from the one listed for their series on).
pub fn release_sends(release: Release, object: &str, property: &str) -> bool {
    let Some((_, _, since)) = ADDED_SINCE
        .iter()
        .find(|(o, p, _)| *o == object && *p == property)
    else {
        return true;
    };
    since
        .iter()
        .find(|first| first.0 == release.0)
        .is_none_or(|first| release >= *first)
}

/// `value`, an ARI message or REST body, as `release` sends it: the
/// properties it did not have yet taken out, wherever they are nested.
pub fn as_sent_by(release: Release, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            // The model an object is, told by the properties only it has.
            let model = if object.contains_key("type") && object.contains_key("application") {
                Some("Event")
            } else if object.contains_key("bridge_class") {
                Some("Bridge")
            } else if object.contains_key("exten") && object.contains_key("priority") {
                Some("DialplanCEP")
            } else if object.contains_key("dialplan") && object.contains_key("caller") {
                Some("Channel")
            } else {
                None
            };
            if let Some(model) = model {
                object.retain(|property, _| release_sends(release, model, property));
            }
            object
                .values_mut()
                .for_each(|inner| as_sent_by(release, inner));
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|inner| as_sent_by(release, inner)),
        _ => {}
    }
}

/// The ARI date format (`2026-11-21T14:11:50.056+0000`).
fn ari_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f%z")
        .to_string()
}

/// Channels and bridges the emulated Asterisk has.
#[derive(Default)]
struct AriState {
    channels: BTreeMap<String, Channel>,
    bridges: BTreeMap<String, Bridge>,
    /// Channels in the application (they get `StasisEnd` when they leave).
    in_stasis: BTreeSet<String>,
    /// Originated channels still ringing: id → (endpoint, application arguments).
    ringing: BTreeMap<String, (String, Vec<String>)>,
    /// Endpoints whose phone answers by itself.
    auto_answer: BTreeSet<String>,
    /// Channels put on hold through `/hold`.
    held: BTreeSet<String>,
    /// Channels muted through `/mute`.
    muted: BTreeSet<String>,
    /// Registered phones: endpoint (`PJSIP/1001`) → online.
    endpoints: BTreeMap<String, bool>,
    /// Event sources the application subscribed to (`endpoint:PJSIP/1001`).
    subscriptions: BTreeSet<String>,
    /// Failures to give, once each: (method, path fragment, status).
    faults: Vec<(axum::http::Method, String, StatusCode)>,
    next_id: u64,
}

pub use crate::sources::ari::bridge::{AUTO_ANSWER_VALUE, AUTO_ANSWER_VARIABLE};

struct Shared {
    app: String,
    credentials: (String, String),
    state: Mutex<AriState>,
    events: broadcast::Sender<String>,
    epoch: u64,
    /// Cancelled to drop every events connection open now.
    connections: Mutex<CancellationToken>,
    /// While set, the events WebSocket refuses connections (503).
    refusing: std::sync::atomic::AtomicBool,
    /// The release whose shapes it sends (`None`: 22, every property).
    release: Mutex<Option<Release>>,
}

impl Shared {
    /// A new channel of `device` (`PJSIP/trunk`, `PJSIP/1001`) in `state`,
    /// calling as `caller`, running `Stasis(app,args)` at `context`/`exten`;
    /// kept and returned.
    fn new_channel(
        &self,
        device: &str,
        state: &str,
        caller: CallerId,
        (context, exten): (&str, &str),
        args: &str,
    ) -> Channel {
        let mut ari = self.state.lock();
        ari.next_id += 1;
        let id = format!("{}.{}", self.epoch, ari.next_id);
        let app_data = if args.is_empty() {
            self.app.clone()
        } else {
            format!("{},{args}", self.app)
        };
        let channel = Channel {
            id: id.clone(),
            name: format!("{device}-{:08x}", ari.next_id),
            state: state.into(),
            caller,
            dialplan: DialplanCep {
                context: context.into(),
                exten: exten.into(),
                priority: 1,
                app_name: "Stasis".into(),
                app_data,
            },
            creationtime: ari_now(),
            language: "en".into(),
            ..Channel::default()
        };
        ari.channels.insert(id, channel.clone());
        channel
    }

    fn emit(&self, event: AriEvent) {
        let message = AriMessage {
            application: self.app.clone(),
            timestamp: ari_now(),
            asterisk_id: Some("02:fc:00:00:00:01".into()),
            event,
        };
        if let Ok(mut value) = serde_json::to_value(&message) {
            if let Some(release) = *self.release.lock() {
                as_sent_by(release, &mut value);
            }
            let _ = self.events.send(value.to_string());
        }
    }

    /// A REST body, as the emulated release sends it.
    fn body(&self, body: &impl serde::Serialize) -> Response {
        let mut value = serde_json::to_value(body).unwrap_or_default();
        if let Some(release) = *self.release.lock() {
            as_sent_by(release, &mut value);
        }
        axum::Json(value).into_response()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        use base64::Engine;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.credentials.0, self.credentials.1))
        );
        headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h == expected)
    }
}

/// A running ARI emulator.
#[derive(Clone)]
pub struct AriSim {
    /// Where it listens; the ARI base URL is `http://{address}/ari`.
    pub address: SocketAddr,
    shared: Arc<Shared>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

impl AriSim {
    /// Starts serving `app` with `username`/`password` on `listen` until `shutdown`.
    pub async fn start(
        listen: SocketAddr,
        app: &str,
        username: &str,
        password: &str,
        shutdown: CancellationToken,
    ) -> std::io::Result<AriSim> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            app: app.to_owned(),
            credentials: (username.to_owned(), password.to_owned()),
            state: Mutex::new(AriState::default()),
            events,
            epoch: 1_795_270_000,
            connections: Mutex::new(CancellationToken::new()),
            refusing: std::sync::atomic::AtomicBool::new(false),
            release: Mutex::new(None),
        });
        let router = axum::Router::new()
            .route("/ari/channels", get(list_channels).post(originate))
            .route("/ari/channels/{id}", axum::routing::delete(hang_up))
            .route("/ari/channels/{id}/answer", post(answer))
            .route("/ari/channels/{id}/ring", post(ring))
            .route("/ari/channels/{id}/snoop", post(snoop))
            .route(
                "/ari/channels/{id}/hold",
                post(|s, p| flag(s, p, Mark::Hold, true))
                    .delete(|s, p| flag(s, p, Mark::Hold, false)),
            )
            .route(
                "/ari/channels/{id}/mute",
                post(|s, p| flag(s, p, Mark::Mute, true))
                    .delete(|s, p| flag(s, p, Mark::Mute, false)),
            )
            .route("/ari/endpoints/{tech}/{resource}", get(read_endpoint))
            .route("/ari/applications/{app}/subscription", post(subscribe))
            .route("/ari/bridges", get(list_bridges).post(create_bridge))
            .route("/ari/bridges/{id}", get(read_bridge).delete(destroy_bridge))
            .route("/ari/bridges/{id}/addChannel", post(add_channel))
            .route("/ari/bridges/{id}/removeChannel", post(remove_channel))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&shared),
                require_credentials,
            ))
            .with_state(Arc::clone(&shared));
        let serving = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = shutdown.cancelled() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let router = router.clone();
                let shared = Arc::clone(&serving);
                let shutdown = shutdown.clone();
                tokio::spawn(connection(stream, router, shared, shutdown));
            }
        });
        Ok(AriSim { address, shared })
    }

    /// From now on, sends events and REST bodies as Asterisk `release` does.
    pub fn speak_as(&self, release: Release) {
        *self.shared.release.lock() = Some(release);
    }

    /// The ARI base URL.
    pub fn url(&self) -> String {
        format!("http://{}/ari", self.address)
    }

    /// A customer's call enters the application (`Stasis(app,args)`): its
    /// channel rings and `StasisStart` goes out. Returns the channel id.
    pub fn customer_calls(&self, number: &str, name: &str, exten: &str, args: &[&str]) -> String {
        let caller = CallerId {
            name: name.into(),
            number: number.into(),
        };
        let channel = self.shared.new_channel(
            "PJSIP/trunk",
            "Ring",
            caller,
            ("from-trunk", exten),
            &args.join(","),
        );
        let id = channel.id.clone();
        self.shared.state.lock().in_stasis.insert(id.clone());
        self.shared.emit(AriEvent::StasisStart {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            channel,
            replace_channel: None,
        });
        id
    }

    /// The customer hangs up.
    pub fn customer_hangs_up(&self, channel: &str) {
        remove_channel_everywhere(&self.shared, channel, 16);
    }

    /// The customer's line is lost (Q.850 cause 38, network out of order).
    pub fn customer_is_lost(&self, channel: &str) {
        remove_channel_everywhere(&self.shared, channel, 38);
    }

    /// Makes the phone at `endpoint` (`PJSIP/1001`) answer every call by itself, or not.
    pub fn set_auto_answer(&self, endpoint: &str, on: bool) {
        let mut state = self.shared.state.lock();
        if on {
            state.auto_answer.insert(endpoint.to_owned());
        } else {
            state.auto_answer.remove(endpoint);
        }
    }

    /// The channel ringing at `endpoint`, if one is.
    pub fn ringing_at(&self, endpoint: &str) -> Option<String> {
        let state = self.shared.state.lock();
        state
            .ringing
            .iter()
            .find(|(_, (e, _))| e == endpoint)
            .map(|(id, _)| id.clone())
    }

    /// The phone at `endpoint` picks up its ringing call: the channel goes
    /// `Up` and enters the application. Returns its id, or `None` when
    /// nothing rings there.
    pub fn phone_answers(&self, endpoint: &str) -> Option<String> {
        let id = self.ringing_at(endpoint)?;
        self.answer_leg(&id);
        Some(id)
    }

    /// The phone at `endpoint` declines its ringing call (busy, Q.850 cause 21 call rejected).
    pub fn phone_declines(&self, endpoint: &str) -> Option<String> {
        let id = self.ringing_at(endpoint)?;
        self.decline_leg(&id);
        Some(id)
    }

    /// Every ringing originated channel, with its endpoint.
    pub fn ringing_legs(&self) -> Vec<(String, String)> {
        let state = self.shared.state.lock();
        state
            .ringing
            .iter()
            .map(|(id, (endpoint, _))| (id.clone(), endpoint.clone()))
            .collect()
    }

    /// The ringing channel `id` is answered by its phone.
    pub fn answer_leg(&self, id: &str) {
        answer_originated(&self.shared, id);
    }

    /// The ringing channel `id` is declined by its phone (Dial BUSY, cause 21).
    pub fn decline_leg(&self, id: &str) {
        let channel = {
            let mut state = self.shared.state.lock();
            if state.ringing.remove(id).is_none() {
                return;
            }
            let Some(channel) = state.channels.get(id).cloned() else {
                return;
            };
            channel
        };
        self.shared.emit(AriEvent::Dial {
            caller: None,
            dialstring: Some(
                channel
                    .name
                    .rsplit_once('-')
                    .map_or(channel.name.as_str(), |(device, _)| device)
                    .trim_start_matches("PJSIP/")
                    .to_owned(),
            ),
            peer: Box::new(channel),
            forward: None,
            forwarded: None,
            dialstatus: "BUSY".into(),
        });
        remove_channel_everywhere(&self.shared, id, 21);
    }

    /// Channel `id` hangs up (normal clearing), whoever it is.
    pub fn hang_up(&self, id: &str) {
        remove_channel_everywhere(&self.shared, id, 16);
    }

    /// The phone at `endpoint` hangs up its answered call. Returns the channel id.
    pub fn phone_hangs_up(&self, endpoint: &str) -> Option<String> {
        let prefix = format!("{endpoint}-");
        let id = {
            let state = self.shared.state.lock();
            state
                .channels
                .values()
                .find(|c| c.name.starts_with(&prefix) && c.state == "Up")
                .map(|c| c.id.clone())?
        };
        remove_channel_everywhere(&self.shared, &id, 16);
        Some(id)
    }

    /// The bridges it has now.
    pub fn bridges(&self) -> Vec<Bridge> {
        self.shared.state.lock().bridges.values().cloned().collect()
    }

    /// Channels on hold, and muted: what the hold and mute calls changed, by channel id.
    pub fn held_and_muted(&self) -> (Vec<String>, Vec<String>) {
        let state = self.shared.state.lock();
        (
            state.held.iter().cloned().collect(),
            state.muted.iter().cloned().collect(),
        )
    }

    /// Drops every events connection and, while `refuse` holds, refuses new
    /// ones: the PBX is unreachable. Events of that time reach nobody.
    pub fn cut_events(&self, refuse: bool) {
        self.shared
            .refusing
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
        let mut connections = self.shared.connections.lock();
        connections.cancel();
        *connections = CancellationToken::new();
    }

    /// Accepts events connections again after [`AriSim::cut_events`].
    pub fn restore_events(&self) {
        self.shared
            .refusing
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Registers the phone at `endpoint` (`PJSIP/1001`) as online or offline;
    /// an application subscribed to it hears `EndpointStateChange`.
    pub fn set_phone_online(&self, endpoint: &str, online: bool) {
        let notify = {
            let mut state = self.shared.state.lock();
            let before = state.endpoints.insert(endpoint.to_owned(), online);
            before != Some(online)
                && state
                    .subscriptions
                    .contains(&format!("endpoint:{endpoint}"))
        };
        if notify && let Some(model) = endpoint_model(&self.shared, endpoint) {
            self.shared
                .emit(AriEvent::EndpointStateChange { endpoint: model });
        }
    }

    /// Makes the next `method` request whose path contains `path_part` fail
    /// with `status` (a 5xx, a 409 …), once: the PBX misbehaving for one call.
    pub fn fail_next(&self, method: axum::http::Method, path_part: &str, status: StatusCode) {
        self.shared
            .state
            .lock()
            .faults
            .push((method, path_part.to_owned(), status));
    }

    /// The event sources the application subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .subscriptions
            .iter()
            .cloned()
            .collect()
    }

    /// How many events WebSockets are open now.
    pub fn listeners(&self) -> usize {
        self.shared.events.receiver_count()
    }

    /// The channels it has now.
    pub fn channels(&self) -> Vec<Channel> {
        self.shared
            .state
            .lock()
            .channels
            .values()
            .cloned()
            .collect()
    }
}

/// Serves one connection: the events WebSocket, or REST through `router`.
async fn connection(
    stream: TcpStream,
    router: axum::Router,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let mut first = [0_u8; 64];
    let Ok(read) = stream.peek(&mut first).await else {
        return;
    };
    if first[..read].starts_with(b"GET /ari/events") {
        events_socket(stream, shared, shutdown).await;
        return;
    }
    let service = TowerToHyperService::new(router);
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The `/ari/events` WebSocket: checks `app` and `api_key`, then streams events.
async fn events_socket(stream: TcpStream, shared: Arc<Shared>, shutdown: CancellationToken) {
    let expected_key = format!("api_key={}:{}", shared.credentials.0, shared.credentials.1);
    let expected_app = format!("app={}", shared.app);
    #[allow(clippy::result_large_err)] // tungstenite's callback type
    let check =
        |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
         response: tokio_tungstenite::tungstenite::handshake::server::Response| {
            let query = request.uri().query().unwrap_or_default();
            let fields: Vec<&str> = query.split('&').collect();
            if shared.refusing.load(std::sync::atomic::Ordering::SeqCst) {
                let mut refusal =
                    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse::new(Some(
                        "Service Unavailable".into(),
                    ));
                *refusal.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                return Err(refusal);
            }
            if fields.contains(&expected_key.as_str()) && fields.contains(&expected_app.as_str()) {
                Ok(response)
            } else {
                let mut refusal =
                    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse::new(Some(
                        "Authentication required".into(),
                    ));
                *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                Err(refusal)
            }
        };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let mut feed = shared.events.subscribe();
    let dropped = shared.connections.lock().clone();
    let (mut sink, mut incoming) = socket.split();
    loop {
        tokio::select! {
            () = dropped.cancelled() => return,
            event = feed.recv() => match event {
                Ok(text) => if sink.send(Message::text(text)).await.is_err() { return },
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            message = incoming.next() => if matches!(message, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { return },
            () = shutdown.cancelled() => {
                let _ = sink.close().await;
                return;
            }
        }
    }
}

/// Every REST call needs the ARI user's basic-auth credentials.
async fn require_credentials(
    State(shared): SharedState,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !shared.authorized(request.headers()) {
        return error(StatusCode::UNAUTHORIZED, "Authentication required");
    }
    let fault = {
        let mut state = shared.state.lock();
        let path = request.uri().path().to_owned();
        let found = state.faults.iter().position(|(method, part, _)| {
            method == request.method() && path.contains(part.as_str())
        });
        found.map(|at| state.faults.remove(at).2)
    };
    match fault {
        Some(status) => error(status, "Injected failure"),
        None => next.run(request).await,
    }
}
