//! The Engine.IO v4 and Socket.IO v5 wire formats, written for the gateway's
//! fan-out: a server that frames an event once and hands the same text to
//! every socket (see the README's Performance section, "Steady state", for
//! why socketioxide's per-socket encoding is the limit at 1,000 wallboards).
//!
//! Today these codecs stand alone, tested against the protocols' own
//! examples; the gateway still runs on socketioxide.

pub mod engine_packet;
pub mod packet;
