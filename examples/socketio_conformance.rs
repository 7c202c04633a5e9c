//! The server the official Engine.IO and Socket.IO protocol suites expect
//! (`../shared/conformance/`), on switchboard's own server (`src/socketio/`):
//!
//! ```text
//! cargo run --release --example socketio_conformance -- engine [ADDRESS]
//! cargo run --release --example socketio_conformance -- socket [ADDRESS]
//! ```
//!
//! - `engine`: Engine.IO v4 on `/engine.io/`; every message a client sends,
//!   text or binary, is sent back.
//! - `socket`: Socket.IO v5 on `/socket.io/`; on connection the socket is
//!   sent `auth` with its handshake's auth object, `message` is answered with
//!   `message-back` and the same arguments, `message-with-ack` is
//!   acknowledged with its arguments.
//!
//! `--auth-delay-ms MS` sends `auth` MS milliseconds after the CONNECT
//! answer instead of with it: the suites read one WebSocket message per
//! await, so a server as quick as this one writes both in one TCP segment
//! and the suite misses the second (their README says so). With the delay,
//! a run shows that those tests fail on the suite's timing only.
//!
//! Both use the suites' settings: ping every 300 ms, 200 ms to answer,
//! payloads up to 1,000,000 bytes, 1 s to join the namespace. `ADDRESS` defaults to 127.0.0.1:3000.
//! `tests/api/conformance.rs` runs both suites against it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use switchboard::socketio::engine::{
    CloseReason, Engine, EngineConfig, EngineHandler, OpeningRequest, Session,
};
use switchboard::socketio::packet::EventCall;
use switchboard::socketio::server::{
    Ack, Admitted, DisconnectReason, ServerOptions, Socket, SocketHandler, SocketServer,
};

/// The Engine.IO suite's server: sends every message back.
struct Echo;

impl EngineHandler for Echo {
    fn on_open(&self, _: &Arc<Session>, _: OpeningRequest) {}

    fn on_message(&self, session: &Arc<Session>, text: &str) {
        let _ = session.send(format!("4{text}").into());
    }

    fn on_binary(&self, session: &Arc<Session>, data: Bytes) {
        let _ = session.send_binary(&data);
    }

    fn on_close(&self, _: &Arc<Session>, _: CloseReason) {}
}

/// The Socket.IO suite's server; `auth_delay` holds the `auth` event back
/// after the CONNECT answer (see `--auth-delay-ms`).
struct Conformance {
    auth_delay: Duration,
}

impl SocketHandler for Conformance {
    /// The handshake's auth object, as JSON (`{}` without one).
    type State = String;

    fn authenticate(
        &self,
        auth: Option<&RawValue>,
        _: &OpeningRequest,
    ) -> Result<Admitted<String>, String> {
        match auth {
            Some(auth) if !auth.get().trim_start().starts_with('{') => {
                Err("the auth payload must be an object".into())
            }
            Some(auth) => Ok(auth.get().to_owned().into()),
            None => Ok(String::from("{}").into()),
        }
    }

    fn on_connect(&self, socket: &Arc<Socket<String>>) {
        if self.auth_delay.is_zero() {
            let _ = socket.emit("auth", &socket.state);
            return;
        }
        let (socket, delay) = (Arc::clone(socket), self.auth_delay);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = socket.emit("auth", &socket.state);
        });
    }

    fn on_event(&self, socket: &Arc<Socket<String>>, call: EventCall<'_>, ack: Option<Ack>) {
        let args: Vec<&str> = call.args.iter().map(|arg| arg.get()).collect();
        match (call.name.as_str(), ack) {
            ("message", _) => {
                let mut framed = String::from("42[\"message-back\"");
                for arg in &args {
                    framed.push(',');
                    framed.push_str(arg);
                }
                framed.push(']');
                let _ = socket.send_run(&[framed.into()]);
            }
            ("message-with-ack", Some(ack)) => {
                let _ = ack.send(&args);
            }
            _ => {}
        }
    }

    fn on_disconnect(&self, _: &Arc<Socket<String>>, _: DisconnectReason) {}
}

fn config() -> EngineConfig {
    EngineConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        ..EngineConfig::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut mode = String::new();
    let mut address = "127.0.0.1:3000".to_owned();
    let mut auth_delay = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--auth-delay-ms" => {
                let ms = args.next().and_then(|ms| ms.parse().ok()).unwrap_or(0);
                auth_delay = Duration::from_millis(ms);
            }
            _ if mode.is_empty() => mode = arg,
            _ => address = arg,
        }
    }
    let (path, engine) = match mode.as_str() {
        "engine" => ("/engine.io/", Engine::new(config(), Arc::new(Echo))),
        "socket" => {
            let options = ServerOptions {
                connect_timeout: Duration::from_millis(1000),
                ..ServerOptions::default()
            };
            let (_server, engine) =
                SocketServer::start_with(Conformance { auth_delay }, config(), options);
            ("/socket.io/", engine)
        }
        _ => anyhow::bail!(
            "usage: socketio_conformance engine|socket [ADDRESS] [--auth-delay-ms MS]"
        ),
    };
    let router = axum::Router::new().route(
        path,
        axum::routing::any(move |request: axum::extract::Request| {
            let engine = Arc::clone(&engine);
            async move { engine.handle(request).await }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{} ({mode})", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
