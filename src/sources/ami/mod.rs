//! The Asterisk Manager Interface source: the wire codec, the client, and the
//! translation of AMI events into ledger inputs.

pub mod client;
pub mod codec;
pub mod lines;
pub mod source;
pub mod translate;

pub use codec::{AmiAction, AmiCodec, AmiCodecError, AmiFrame, AmiMessage, SkipReason};
