//! The ARI WebSocket client against a loopback peer that replays the events
//! of a real Asterisk 22 Stasis call (`stasis_call.ari.jsonl`), checks the
//! application and credentials, drops the connection and takes it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::SinkExt;
use switchboard::sources::ari::events::{AriEventSettings, AriNotice, run};
use switchboard::sources::ari::model::AriEvent;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_util::sync::CancellationToken;

use crate::helpers::fixtures_root;

fn recorded_events() -> Vec<String> {
    let path = fixtures_root().join("ari/asterisk-22/stasis_call.ari.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A peer that accepts `app=callcenter` with `switchboard:secret`. The
/// first connection gets every recorded event and a line of garbage, then
/// is closed; later ones get the first event and stay open.
async fn peer() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                // The error type is tungstenite's handshake callback's, not ours to shrink.
                #[allow(clippy::result_large_err)]
                let check = |request: &Request, response: Response| {
                    let query = request.uri().query().unwrap_or_default();
                    if request.uri().path() == "/ari/events"
                        && query.contains("app=callcenter")
                        && query.contains("api_key=switchboard:secret")
                    {
                        Ok(response)
                    } else {
                        let mut refusal = ErrorResponse::new(Some("refused".into()));
                        *refusal.status_mut() = http::StatusCode::UNAUTHORIZED;
                        Err(refusal)
                    }
                };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, check).await
                else {
                    return;
                };
                let first = count.fetch_add(1, Ordering::SeqCst) == 0;
                let events = recorded_events();
                if first {
                    for line in events {
                        socket.send(Message::text(line)).await.unwrap();
                    }
                    socket.send(Message::text("not an event")).await.unwrap();
                    let _ = socket.close(None).await;
                } else {
                    socket.send(Message::text(events[0].clone())).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    (format!("http://{address}/ari"), connections)
}

fn settings(base: &str, password: &str) -> AriEventSettings {
    AriEventSettings {
        base: base.to_owned(),
        app: "callcenter".into(),
        username: "switchboard".into(),
        password: password.into(),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    }
}

async fn next(notices: &mut mpsc::Receiver<AriNotice>) -> AriNotice {
    tokio::time::timeout(Duration::from_secs(5), notices.recv())
        .await
        .expect("a notice in time")
        .expect("the client runs")
}

#[tokio::test]
async fn events_flow_garbage_is_skipped_and_a_dropped_connection_comes_back() {
    let (base, connections) = peer().await;
    let (tx, mut notices) = mpsc::channel(64);
    let stop = CancellationToken::new();
    tokio::spawn(run(settings(&base, "secret"), tx, stop.clone()));
    assert_eq!(next(&mut notices).await, AriNotice::Connected);
    let recorded = recorded_events().len();
    let mut kinds = Vec::new();
    for _ in 0..recorded {
        match next(&mut notices).await {
            AriNotice::Event(message) => kinds.push(message.event),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    assert!(matches!(kinds[0], AriEvent::StasisStart { .. }));
    assert!(matches!(
        kinds.last(),
        Some(AriEvent::BridgeDestroyed { .. })
    ));
    assert!(matches!(
        next(&mut notices).await,
        AriNotice::Undecodable { .. }
    ));
    let AriNotice::Disconnected { retry_in, .. } = next(&mut notices).await else {
        panic!("the close is reported");
    };
    assert!(retry_in <= Duration::from_millis(200));
    assert_eq!(next(&mut notices).await, AriNotice::Connected, "back");
    assert!(matches!(next(&mut notices).await, AriNotice::Event(_)));
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    stop.cancel();
}

#[tokio::test]
async fn refused_credentials_are_reported_and_retried_with_backoff() {
    let (base, connections) = peer().await;
    let (tx, mut notices) = mpsc::channel(64);
    let stop = CancellationToken::new();
    tokio::spawn(run(settings(&base, "wrong"), tx, stop.clone()));
    for _ in 0..2 {
        let AriNotice::Disconnected { reason, .. } = next(&mut notices).await else {
            panic!("a refusal is a failed connection");
        };
        assert!(reason.contains("401"), "{reason}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "never accepted");
    stop.cancel();
}
