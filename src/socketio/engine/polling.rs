//! Engine.IO over HTTP long-polling: opening a session by `GET`, the
//! pending poll that carries the outbox (and what a poll gets while an
//! upgrade is under way), and the packets a `POST` body carries.

use super::*;

impl Engine {
    pub(super) fn open_polling(
        self: &Arc<Self>,
        request: &Request<axum::body::Body>,
    ) -> Response<axum::body::Body> {
        let session = self.new_session(Transport::Polling);
        let open = self.handshake(&session, vec!["websocket"]);
        self.start(&session, OpeningRequest::of(request));
        text_response(StatusCode::OK, open.as_str().to_owned())
    }

    /// A long-poll: answers with what is waiting, or waits for it.
    pub(super) async fn poll(&self, session: &Arc<Session>) -> Response<axum::body::Body> {
        let upgrading = {
            let mut state = session.state.lock();
            if session.is_closed() {
                let owed = std::mem::take(&mut state.owed_noop);
                drop(state);
                return if owed {
                    text_response(StatusCode::OK, "6".into())
                } else {
                    self.refuse(RequestError::UnknownSession)
                };
            }
            if state.transport != Transport::Polling {
                // A poll after the upgrade is refused; the session goes on
                // over its WebSocket.
                drop(state);
                return self.refuse(RequestError::BadRequest);
            }
            if state.polling {
                drop(state);
                session.close(CloseReason::TransportError);
                return self.refuse(RequestError::BadRequest);
            }
            if !state.upgrading {
                state.polling = true;
            }
            state.upgrading
        };
        if upgrading {
            // A new poll while an upgrade is under way: given a moment, the
            // upgrade usually completes and the poll is refused as after it;
            // after the probe it ends with a noop, as a pending poll does;
            // else it goes on as any poll.
            if let Some(answer) = self.poll_while_upgrading(session).await {
                return answer;
            }
            let mut state = session.state.lock();
            if state.polling || state.transport != Transport::Polling {
                drop(state);
                return self.refuse(RequestError::BadRequest);
            }
            state.polling = true;
        }
        let mut waiting = VecDeque::new();
        loop {
            {
                // Once the upgrade's probe is answered (or the upgrade is
                // done), what waits is the WebSocket's: the poll ends with a noop.
                let mut state = session.state.lock();
                if state.probed || state.transport != Transport::Polling {
                    waiting.clear();
                    waiting.push_back(Utf8Bytes::from_static("6"));
                    break;
                }
                std::mem::swap(&mut state.outbox, &mut waiting);
            }
            if !waiting.is_empty() || session.is_closed() {
                break;
            }
            session.wake.notified().await;
        }
        let close_reason = {
            let mut state = session.state.lock();
            state.polling = false;
            state.close_reason
        };
        let mut body = String::new();
        for (index, message) in waiting.iter().enumerate() {
            if index > 0 {
                body.push(RECORD_SEPARATOR);
            }
            body.push_str(message.as_str());
        }
        match close_reason {
            // The client closed the session: its pending poll ends with a noop.
            Some(CloseReason::ClientClose) if body.is_empty() => body.push('6'),
            Some(CloseReason::ClientClose) | None => {}
            // The server closed it: the client is told so.
            Some(_) => {
                if !body.is_empty() {
                    body.push(RECORD_SEPARATOR);
                }
                body.push('1');
            }
        }
        text_response(StatusCode::OK, body)
    }

    /// A poll that came while an upgrade is under way: refused if the
    /// upgrade completes within [`UPGRADE_GRACE`]; a noop once its probe is
    /// answered; otherwise `None`, and it is an ordinary poll.
    pub(super) async fn poll_while_upgrading(
        &self,
        session: &Arc<Session>,
    ) -> Option<Response<axum::body::Body>> {
        let deadline = tokio::time::Instant::now() + UPGRADE_GRACE;
        loop {
            let notified = session.wake.notified();
            {
                let state = session.state.lock();
                if state.transport != Transport::Polling {
                    drop(state);
                    return Some(self.refuse(RequestError::BadRequest));
                }
                if !state.upgrading || session.is_closed() {
                    return None;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let probed = session.state.lock().probed;
        probed.then(|| text_response(StatusCode::OK, "6".into()))
    }

    /// A polling POST: the client's packets, in order.
    pub(super) async fn receive_post(
        &self,
        session: &Arc<Session>,
        request: Request<axum::body::Body>,
    ) -> Response<axum::body::Body> {
        {
            let mut state = session.state.lock();
            if state.posting {
                drop(state);
                session.close(CloseReason::TransportError);
                return self.refuse(RequestError::BadRequest);
            }
            state.posting = true;
        }
        let body = axum::body::to_bytes(request.into_body(), self.config.max_payload).await;
        session.state.lock().posting = false;
        let Ok(body) = body else {
            session.close(CloseReason::TooLarge);
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "payload too large".into());
        };
        let Ok(body) = std::str::from_utf8(&body) else {
            session.close(CloseReason::ProtocolError);
            return self.refuse(RequestError::BadRequest);
        };
        for text in split_payload(body) {
            if !self.receive_packet(session, text) {
                return self.refuse(RequestError::BadRequest);
            }
            // Closed meanwhile (the layer above gave up on this client):
            // the rest of the body is not read.
            if session.is_closed() {
                break;
            }
        }
        text_response(StatusCode::OK, "ok".into())
    }

    /// Acts on one packet from the client; false (and the session closed) when it is not one.
    pub(super) fn receive_packet(&self, session: &Arc<Session>, text: &str) -> bool {
        match EnginePacket::decode(text) {
            Ok(EnginePacket::Message(message)) => self.handler.on_message(session, message),
            Ok(EnginePacket::Pong(_)) => session.pong.notify_one(),
            Ok(EnginePacket::Close) => {
                {
                    let mut state = session.state.lock();
                    state.owed_noop = state.transport == Transport::Polling && !state.polling;
                }
                session.close(CloseReason::ClientClose);
            }
            Ok(EnginePacket::Noop) => {}
            Ok(EnginePacket::Binary64(data)) => {
                match base64::engine::general_purpose::STANDARD.decode(data) {
                    Ok(data) => self.handler.on_binary(session, data.into()),
                    Err(_) => {
                        session.close(CloseReason::ProtocolError);
                        return false;
                    }
                }
            }
            Ok(_) | Err(_) => {
                tracing::debug!(sid = %session.id, "engine.io: not a client packet, session closed");
                session.close(CloseReason::ProtocolError);
                return false;
            }
        }
        true
    }
}
