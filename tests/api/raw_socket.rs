//! A minimal Socket.IO v4 client over a raw WebSocket, for tests that need to
//! control reading precisely (stop reading to become a slow consumer).

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One connected socket on the default namespace.
pub struct RawSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The namespace's connect answer: `{"sid"}`, and `"pid"` when the
    /// server offers connection state recovery.
    pub answer: serde_json::Value,
}

impl RawSocket {
    /// Connects, authenticates with `token` and waits for the namespace connect.
    pub async fn connect(address: std::net::SocketAddr, token: &str) -> RawSocket {
        Self::connect_with(address, serde_json::json!({ "token": token }))
            .await
            .expect("connected")
    }

    /// Connects with the handshake's `auth` object; the refusal's message
    /// when the server refuses the namespace.
    pub async fn connect_with(
        address: std::net::SocketAddr,
        auth: serde_json::Value,
    ) -> Result<RawSocket, String> {
        let url = format!("ws://{address}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut socket = RawSocket {
            ws,
            answer: serde_json::Value::Null,
        };
        let open = socket.next_text().await.expect("engine.io open");
        assert!(open.starts_with('0'), "{open}");
        let connect = format!("40{auth}");
        socket
            .ws
            .send(Message::text(connect))
            .await
            .expect("send connect");
        loop {
            let packet = socket.next_text().await.expect("namespace connect");
            if let Some(answer) = packet.strip_prefix("40") {
                socket.answer = serde_json::from_str(answer).expect("connect answer");
                return Ok(socket);
            }
            if let Some(refusal) = packet.strip_prefix("44") {
                return Err(refusal.to_owned());
            }
        }
    }

    async fn next_text(&mut self) -> Option<String> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) if text.as_str() == "2" => {
                    self.ws.send(Message::text("3")).await.ok()?;
                }
                Ok(Message::Text(text)) => return Some(text.as_str().to_owned()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Sends one Engine.IO text message as is (`42["event",…]`).
    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Emits `event` with `payload` asking for an acknowledgement (id
    /// `ack`), and returns the acknowledgement's arguments; the events heard
    /// meanwhile are skipped.
    pub async fn ask(
        &mut self,
        ack: u64,
        event: &str,
        payload: serde_json::Value,
    ) -> serde_json::Value {
        let packet = serde_json::json!([event, payload]);
        self.send_raw(&format!("42{ack}{packet}")).await;
        let prefix = format!("43{ack}");
        loop {
            let packet = self.next_text().await.expect("connected until answered");
            if let Some(body) = packet.strip_prefix(&prefix) {
                return serde_json::from_str(body).expect("acknowledgement array");
            }
        }
    }

    /// The next event, as `(name, payload)`; `None` when the connection ends.
    pub async fn next_event(&mut self) -> Option<(String, serde_json::Value)> {
        self.next_event_args()
            .await
            .map(|(name, mut args)| (name, args.drain(..).next().unwrap_or_default()))
    }

    /// The next event, as `(name, arguments)`; `None` when the connection ends.
    pub async fn next_event_args(&mut self) -> Option<(String, Vec<serde_json::Value>)> {
        loop {
            let packet = self.next_text().await?;
            if let Some(body) = packet.strip_prefix("42") {
                let mut array: Vec<serde_json::Value> =
                    serde_json::from_str(body).expect("event array");
                let name = array.remove(0).as_str().expect("event name").to_owned();
                return Some((name, array));
            }
        }
    }

    /// Reads on until the server closes the connection; the packets it
    /// sent meanwhile (at most 10 s).
    pub async fn until_closed(mut self) -> Vec<String> {
        let mut packets = Vec::new();
        let read = async {
            while let Some(packet) = self.next_text().await {
                packets.push(packet);
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the server closed the connection");
        packets
    }

    /// Closes the connection at once, without a word (as a lost network would).
    pub fn drop_transport(self) {
        drop(self.ws);
    }
}
