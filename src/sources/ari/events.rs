//! The ARI WebSocket: `/ari/events?app=…` with the credentials as
//! `api_key`, each text message one [`AriMessage`]. The connection is kept
//! up with exponential backoff and jitter (the AMI client's
//! [`backoff`]); what happens is told as [`AriNotice`]s. A message that does
//! not decode is reported and skipped; the connection goes on.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use super::model::AriMessage;
use crate::sources::ami::client::backoff;

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

    /// The WebSocket URL as logs and status messages may show it: without the
    /// credentials.
    pub fn shown_url(&self) -> String {
        let base = self.base.trim_end_matches('/');
        format!("{base}/events?app={}", encode(&self.app))
    }
}

/// Why the PBX's HTTP server refused the events WebSocket at `shown`, in
/// words that say what to change.
fn refusal(shown: &str, status: http::StatusCode) -> String {
    match status.as_u16() {
        404 => format!(
            "{shown} answered 404 Not Found: no ARI there; ARI_URL should be the ARI base, \
             http://host:8088 or http://host:8088/ari (http.conf prefix included), with ARI \
             enabled in ari.conf"
        ),
        401 | 403 => format!(
            "{shown} refused the ARI user ({status}): check ARI_USERNAME and ARI_PASSWORD \
             against ari.conf"
        ),
        400 => format!(
            "{shown} refused the events WebSocket (400): is the Stasis application name \
             ARI_APP valid?"
        ),
        _ => format!("{shown} refused the events WebSocket: {status}"),
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
    let shown = settings.shown_url();
    let mut attempt = 0_u32;
    loop {
        let reason = tokio::select! {
            reason = session(&url, &shown, &notices, &mut attempt) => reason,
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

/// One connection, until it ends; returns why. `attempt` restarts at 0 once
/// connected. `shown` is the URL as it may be logged (no credentials).
async fn session(
    url: &str,
    shown: &str,
    notices: &mpsc::Sender<AriNotice>,
    attempt: &mut u32,
) -> String {
    let mut socket = match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => socket,
        Err(tungstenite::Error::Http(response)) => return refusal(shown, response.status()),
        Err(error) => return format!("cannot connect to {shown}: {error}"),
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
