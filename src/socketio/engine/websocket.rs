//! Engine.IO over WebSocket: the handshake (a new session, or the upgrade
//! of a polling one with its probe), then one task that writes the outbox
//! and one that reads the client's packets.

use futures::stream::{SplitSink, SplitStream};
use hyper_util::rt::TokioIo;

use super::*;

/// A WebSocket on an upgraded HTTP/1.1 connection.
type UpgradedSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;
/// The half of a session's WebSocket that the writer sends on.
type WebSocketSink = SplitSink<UpgradedSocket, Message>;
/// The half of a session's WebSocket that the reader reads from.
type WebSocketSource = SplitStream<UpgradedSocket>;

impl Engine {
    /// Answers a WebSocket handshake and runs the socket once upgraded: a new
    /// session (`sid` none), or the upgrade of a polling one.
    pub(super) fn accept_websocket(
        self: &Arc<Self>,
        mut request: Request<axum::body::Body>,
        sid: Option<String>,
    ) -> Response<axum::body::Body> {
        let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
            return self.refuse(RequestError::BadRequest);
        };
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let upgrading = match sid {
            Some(sid) => {
                let Some(session) = self.session(&sid) else {
                    return self.refuse(RequestError::UnknownSession);
                };
                let mut state = session.state.lock();
                if state.transport != Transport::Polling || state.upgrading {
                    // Already upgraded, or upgrading: this WebSocket is
                    // accepted and closed at once; the session goes on.
                    drop(state);
                    self.handler.on_refused("transport_already_upgraded");
                    return close_at_once(request, accept);
                }
                state.upgrading = true;
                drop(state);
                Some(session)
            }
            None => None,
        };
        let opening = OpeningRequest::of(&request);
        let on_upgrade = hyper::upgrade::on(&mut request);
        let engine = Arc::clone(self);
        let serve = async move {
            let Some((sink, stream)) = engine.open_websocket(on_upgrade, upgrading.as_ref()).await
            else {
                return;
            };
            match upgrading {
                Some(session) => {
                    drop(opening);
                    // Boxed: the rare path's state would otherwise size the
                    // future of every WebSocket for as long as it lives.
                    Box::pin(engine.upgrade(session, sink, stream)).await;
                }
                None => {
                    let session = engine.new_session(Transport::WebSocket);
                    session
                        .state
                        .lock()
                        .outbox
                        .push_back(engine.handshake(&session, vec![]));
                    engine.start(&session, opening);
                    engine.run_websocket(session, sink, stream).await;
                }
            }
        };
        tokio::spawn(serve);
        switching_protocols(accept)
    }

    /// Waits for the connection to switch protocols and speaks WebSocket on
    /// it; `None` when it did not switch (an upgrading session goes on
    /// polling).
    async fn open_websocket(
        &self,
        on_upgrade: hyper::upgrade::OnUpgrade,
        upgrading: Option<&Arc<Session>>,
    ) -> Option<(WebSocketSink, WebSocketSource)> {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "engine.io: the websocket upgrade failed");
                if let Some(session) = upgrading {
                    session.state.lock().upgrading = false;
                }
                return None;
            }
        };
        // Clients send little (pongs, a few events): a small read buffer
        // (the default is 128 KiB per socket) serves them.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_SIZE)
            .max_message_size(Some(self.config.max_payload))
            .max_frame_size(Some(self.config.max_payload));
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        // Split at once: the halves share the stream through one allocation,
        // and the futures that serve it then hold only the halves.
        Some(socket.split())
    }

    /// The probe of a polling session's WebSocket (`2probe`, `3probe`, `5`), then the switch.
    async fn upgrade(
        self: &Arc<Self>,
        session: Arc<Session>,
        mut sink: WebSocketSink,
        mut stream: WebSocketSource,
    ) {
        let probed = async {
            match stream.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "2probe" => {}
                _ => return false,
            }
            if sink.send(Message::text("3probe")).await.is_err() {
                return false;
            }
            // A pending poll, and any poll until the upgrade, ends with a
            // noop so that the client can pause polling.
            session.state.lock().probed = true;
            session.wake.notify_waiters();
            session.wake.notify_one();
            matches!(stream.next().await, Some(Ok(Message::Text(text))) if text.as_str() == "5")
        };
        let probed = tokio::select! {
            probed = probed => probed,
            () = session.closing.cancelled() => false,
            () = tokio::time::sleep(self.config.ping_timeout) => false,
        };
        {
            let mut state = session.state.lock();
            state.upgrading = false;
            state.probed = false;
            if probed {
                state.transport = Transport::WebSocket;
            }
        }
        if probed {
            // A poll still pending answers with a noop; the writer starts with what waits.
            session.wake.notify_waiters();
            session.wake.notify_one();
            self.run_websocket(session, sink, stream).await;
        }
    }

    /// Reads and writes a session's WebSocket until either side ends it.
    ///
    /// The reader runs on a task of its own: polled beside the writer, it
    /// would be polled at every wake of the writer, and each poll of a
    /// tungstenite stream readies (zero-fills) its read buffer.
    async fn run_websocket(
        self: &Arc<Self>,
        session: Arc<Session>,
        mut sink: WebSocketSink,
        stream: WebSocketSource,
    ) {
        let reader = tokio::spawn({
            let engine = Arc::clone(self);
            let session = Arc::clone(&session);
            async move {
                tokio::select! {
                    () = session.closing.cancelled() => {}
                    () = engine.read_websocket(&session, stream) => {}
                }
            }
        });
        let writer = async {
            let mut batch = VecDeque::new();
            loop {
                session.drain(&mut batch);
                if batch.is_empty() {
                    if session.is_closed() {
                        break;
                    }
                    session.wake.notified().await;
                    continue;
                }
                for message in batch.drain(..) {
                    let frame = match binary_of(&message) {
                        Some(data) => Message::Binary(data),
                        None => Message::Text(message),
                    };
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        };
        // Once the session has ended, the writer has a moment to say goodbye.
        let goodbye = async {
            session.closing.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        tokio::select! {
            () = writer => session.close(CloseReason::TransportClose),
            () = goodbye => {}
        }
        reader.abort();
    }

    /// Hands the client's messages to the handler until the WebSocket ends.
    async fn read_websocket(&self, session: &Arc<Session>, mut stream: WebSocketSource) {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    if !self.receive_packet(session, text.as_str()) {
                        return;
                    }
                }
                Ok(Message::Binary(data)) => self.handler.on_binary(session, data),
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(tokio_tungstenite::tungstenite::Error::Capacity(error)) => {
                    tracing::debug!(sid = %session.id, %error, "engine.io: websocket message over the limit");
                    session.close(CloseReason::TooLarge);
                    return;
                }
                Err(error) => {
                    tracing::debug!(sid = %session.id, %error, "engine.io: websocket error");
                    session.close(CloseReason::TransportError);
                    return;
                }
            }
        }
        session.close(CloseReason::TransportClose);
    }
}

/// The answer that switches a request to the WebSocket protocol.
fn switching_protocols(accept: String) -> Response<axum::body::Body> {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(axum::body::Body::empty())
        .unwrap_or_default()
}

/// Accepts a WebSocket that has no session to serve and closes it at once.
fn close_at_once(
    mut request: Request<axum::body::Body>,
    accept: String,
) -> Response<axum::body::Body> {
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut socket =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            let _ = socket.close(None).await;
        }
    });
    switching_protocols(accept)
}
