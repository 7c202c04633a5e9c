//! A Socket.IO server of our own, being built for the gateway's fan-out: a
//! server that frames an event once and hands the same text to every socket,
//! a whole run per socket at once (see the README's Performance section,
//! "Steady state", for why socketioxide's per-socket encoding and per-message
//! channel are the limit at 1,000 wallboards).
//!
//! - `engine_packet`: Engine.IO v4 packets and polling bodies.
//! - `engine`: Engine.IO sessions over long-polling and WebSocket, the
//!   upgrade, the heartbeat, bounded outboxes of framed messages.
//! - `packet`: Socket.IO v5 packets and the server's framed messages.
//!
//! Not yet serving: the gateway still runs on socketioxide until the
//! Socket.IO layer (namespaces, connect with auth, events, acks, rooms) is
//! built on this and passes the whole suite.

pub mod engine;
pub mod engine_packet;
pub mod packet;
