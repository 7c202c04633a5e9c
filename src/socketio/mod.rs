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
//! - `server`: the default namespace on the engine: connect with auth or a
//!   refusal, events with acks, framed events for any number of sockets.
//!
//! Not yet serving: the gateway still runs on socketioxide until its
//! handlers, rooms and fan-out are moved onto this and the whole suite and
//! the load comparison pass.

pub mod engine;
pub mod engine_packet;
pub mod packet;
pub mod server;
