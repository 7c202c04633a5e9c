//! The Socket.IO server of the gateway: it frames an event once and hands
//! the same text to every socket, a whole run per socket at once (see the
//! `docs/performance.md`, "Steady state", for why the per-socket
//! encoding and per-message channel of socketioxide, which served before,
//! were the limit at 1,000 wallboards).
//!
//! - `engine_packet`: Engine.IO v4 packets and polling bodies.
//! - `engine`: Engine.IO sessions over long-polling and WebSocket, the
//!   upgrade, the heartbeat, bounded outboxes of framed messages.
//! - `packet`: Socket.IO v5 packets and the server's framed messages.
//! - `server`: the default namespace on the engine: connect with auth or a
//!   refusal, events with acks, framed events for any number of sockets.
//!
//! The gateway (`crate::gateway`) is its only user.

pub mod engine;
pub mod engine_packet;
pub mod packet;
pub mod server;
