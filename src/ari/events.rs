//! The ARI WebSocket: `/ari/events?app=…` with the credentials as
//! `api_key`, each text message one [`AriMessage`]. The connection is kept
//! up with exponential backoff and jitter (the AMI client's
//! [`backoff`]); what happens is told as [`AriNotice`]s. A message that does
//! not decode is reported and skipped; the connection goes on.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::model::AriMessage;
use crate::ami::client::backoff;

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct AriEventSettings {
    /// The ARI base URL (`http://pbx:8088/ari`); the WebSocket is `…/events`.
    pub base: String,
    /// The Stasis application.
    pub app: String,
    /// ARI user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// First reconnect delay; doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl AriEventSettings {
    /// The WebSocket URL: `ws://` for `http://`, `wss://` for `https://`.
    pub fn url(&self) -> String {
        let base = self.base.trim_end_matches('/');
        let base = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{base}"),
        };
        format!(
            "{base}/events?app={}&api_key={}:{}",
            encode(&self.app),
            encode(&self.username),
            encode(&self.password)
        )
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the WebSocket side reports.
#[derive(Debug, Clone, PartialEq)]
pub enum AriNotice {
    /// Connected (again): the caller should reconcile before trusting its picture.
    Connected,
    /// One event.
    Event(Box<AriMessage>),
    /// A message that is not an ARI event, skipped.
    Undecodable {
        /// Why.
        reason: String,
    },
    /// The connection failed or ended; the next attempt comes after `retry_in`.
    Disconnected {
        /// Why.
        reason: String,
        /// When the next attempt is.
        retry_in: Duration,
    },
}

/// Keeps the WebSocket up until `shutdown`, telling `notices` what happens.
pub async fn run(
    settings: AriEventSettings,
    notices: mpsc::Sender<AriNotice>,
    shutdown: CancellationToken,
) {
    let url = settings.url();
    let mut attempt = 0_u32;
    loop {
        let reason = tokio::select! {
            reason = session(&url, &notices, &mut attempt) => reason,
            () = shutdown.cancelled() => return,
        };
        let retry_in = backoff(
            attempt,
            settings.backoff_min,
            settings.backoff_max,
            rand::random::<f64>(),
        );
        attempt = attempt.saturating_add(1);
        tracing::warn!(app = %settings.app, %reason, retry_in_ms = retry_in.as_millis() as u64, "ari events connection lost; reconnecting");
        if notices
            .send(AriNotice::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(retry_in) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One connection, until it ends; returns why. `attempt` restarts at 0 once connected.
async fn session(url: &str, notices: &mpsc::Sender<AriNotice>, attempt: &mut u32) -> String {
    let mut socket = match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => socket,
        Err(error) => return format!("cannot connect: {error}"),
    };
    *attempt = 0;
    if notices.send(AriNotice::Connected).await.is_err() {
        return "nobody listens".into();
    }
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => return "the PBX closed the connection".into(),
            Ok(_) => continue,
            Err(error) => return format!("connection failed: {error}"),
        };
        let notice = match serde_json::from_str::<AriMessage>(text.as_str()) {
            Ok(message) => AriNotice::Event(Box::new(message)),
            Err(error) => {
                tracing::warn!(%error, "skipped an ARI message that is not an event");
                AriNotice::Undecodable {
                    reason: error.to_string(),
                }
            }
        };
        if notices.send(notice).await.is_err() {
            return "nobody listens".into();
        }
    }
    "the connection ended".into()
}
