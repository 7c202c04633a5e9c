//! Our own Socket.IO server (`switchboard::socketio`, under the gateway)
//! against the npm socket.io-client: connect with auth or a
//! refusal, events with acknowledgements both ways, server events framed
//! once for the sockets of a room, WebSocket from the start or polling
//! upgraded.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use switchboard::socketio::engine::{EngineConfig, OpeningRequest, Transport};
use switchboard::socketio::packet::EventCall;
use switchboard::socketio::server::{
    Ack, Admitted, DisconnectReason, Socket, SocketHandler, SocketServer, event_message,
};

use crate::helpers::{repo_root, require_tool};

/// Accepts the token `good`; greets every socket and puts it in room
/// `everyone`; answers `echo` with an ack,
/// then an `echoed` event; records the transport each event came over.
#[derive(Default)]
struct Greeter {
    transports: Mutex<Vec<Transport>>,
    left: Mutex<Vec<&'static str>>,
}

impl SocketHandler for Greeter {
    type State = String;

    fn authenticate(
        &self,
        auth: Option<&RawValue>,
        _request: &OpeningRequest,
    ) -> Result<Admitted<String>, String> {
        let auth: serde_json::Value = auth
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default();
        match auth["token"].as_str() {
            Some("good") => Ok(String::from("alice").into()),
            _ => Err("invalid token".into()),
        }
    }

    fn on_connect(&self, socket: &Arc<Socket<String>>) {
        socket.join("everyone");
        let greeting = serde_json::json!({ "user": socket.state, "socket": socket.id });
        socket.emit("welcome", &greeting.to_string()).unwrap();
    }

    fn on_event(&self, socket: &Arc<Socket<String>>, call: EventCall<'_>, ack: Option<Ack>) {
        self.transports.lock().push(socket.transport());
        if call.name == "echo" {
            // The ack first: the test client stops at `echoed`.
            if let Some(ack) = ack {
                ack.send(&["{\"ok\":true}"]).unwrap();
            }
            let data = call.args.first().map_or("null", |arg| arg.get());
            socket.emit("echoed", data).unwrap();
        }
    }

    fn on_disconnect(&self, _socket: &Arc<Socket<String>>, reason: DisconnectReason) {
        self.left.lock().push(reason.name());
    }
}

async fn serve() -> (Arc<SocketServer<Greeter>>, String) {
    let (server, engine) = SocketServer::start(Greeter::default(), EngineConfig::default());
    let router = axum::Router::new().route(
        "/socket.io/",
        axum::routing::any(move |request: axum::extract::Request| {
            let engine = Arc::clone(&engine);
            async move { engine.handle(request).await }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (server, format!("http://{address}"))
}

/// Runs `clients/socketio/watch.mjs` with `args`; its exit code and the events it printed.
async fn watch(url: &str, args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let node = require_tool("node", "install Node.js 20");
    let output = tokio::process::Command::new(node)
        .arg(repo_root().join("clients/socketio/watch.mjs"))
        .arg(url)
        .args(args)
        .output()
        .await
        .expect("node runs");
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    (output.status.code(), lines)
}

fn named<'a>(lines: &'a [serde_json::Value], event: &str) -> Option<&'a serde_json::Value> {
    lines.iter().find(|line| line["event"] == event)
}

#[tokio::test]
async fn the_npm_client_connects_over_websocket_sends_with_acks_and_receives() {
    let (server, url) = serve().await;
    let (code, lines) = watch(
        &url,
        &[
            "--token",
            "good",
            "--emit",
            "echo",
            "{\"n\":1}",
            "--until",
            "echoed",
            "--seconds",
            "10",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{lines:?}");
    let welcome = &named(&lines, "welcome").expect("a welcome")["data"];
    assert_eq!(welcome["user"], "alice");
    assert_eq!(
        named(&lines, "echoed").expect("an echo")["data"],
        serde_json::json!({ "n": 1 })
    );
    assert_eq!(
        named(&lines, "ack:echo").expect("an ack")["data"],
        serde_json::json!({ "ok": true })
    );
    assert_eq!(*server.handler().transports.lock(), [Transport::WebSocket]);
    // The client closed: the socket left, for the reason the client gave.
    crate::helpers::eventually("the socket left", Duration::from_secs(5), || {
        !server.handler().left.lock().is_empty()
    })
    .await;
    assert_eq!(*server.handler().left.lock(), ["client_disconnect"]);
    assert!(server.sockets().is_empty());
}

#[tokio::test]
async fn the_npm_client_starting_with_polling_upgrades_and_keeps_receiving() {
    let (server, url) = serve().await;
    let (code, lines) = watch(
        &url,
        &[
            "--token",
            "good",
            "--transports",
            "polling,websocket",
            "--emit",
            "echo",
            "1",
            "--emit-at",
            "1000",
            "echo",
            "2",
            "--until",
            "echoed=2",
            "--seconds",
            "10",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{lines:?}");
    let echoes: Vec<_> = lines
        .iter()
        .filter(|line| line["event"] == "echoed")
        .map(|line| line["data"].clone())
        .collect();
    assert_eq!(echoes, [serde_json::json!(1), serde_json::json!(2)]);
    // The first event may still come by polling; the one a second later comes over the WebSocket.
    assert_eq!(
        server.handler().transports.lock().last(),
        Some(&Transport::WebSocket)
    );
}

#[tokio::test]
async fn a_refused_client_hears_why_and_an_event_framed_once_reaches_every_socket_of_a_room() {
    let (server, url) = serve().await;
    let (code, lines) = watch(&url, &["--token", "forged", "--seconds", "10"]).await;
    assert_eq!(code, Some(2), "{lines:?}");
    assert_eq!(lines[0]["event"], "connect_error");
    assert_eq!(lines[0]["data"]["message"], "invalid token");
    assert!(server.sockets().is_empty());

    let watchers: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                watch(
                    &url,
                    &["--token", "good", "--until", "news", "--seconds", "10"],
                )
                .await
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.sockets().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the three did not connect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let news = event_message("news", "{\"headline\":\"framed once\"}");
    let everyone = server.sockets_in("everyone");
    assert_eq!(everyone.len(), 3);
    assert_eq!(everyone[0].rooms(), ["everyone"]);
    drop(everyone);
    for socket in server.sockets_in("everyone") {
        socket.send_run(std::slice::from_ref(&news)).unwrap();
    }
    for watcher in watchers {
        let (code, lines) = watcher.await.unwrap();
        assert_eq!(code, Some(0), "{lines:?}");
        assert_eq!(
            named(&lines, "news").expect("the news")["data"]["headline"],
            "framed once"
        );
    }
    // Sockets that left are in no room any more.
    while !server.sockets().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the three did not leave"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.sockets_in("everyone").is_empty());
}
