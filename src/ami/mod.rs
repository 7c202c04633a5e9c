//! The Asterisk Manager Interface source: the wire codec (this first
//! part); the client, the translation to ledger inputs and the simulator follow.

pub mod client;
pub mod codec;

pub use codec::{AmiAction, AmiCodec, AmiCodecError, AmiFrame, AmiMessage, SkipReason};
