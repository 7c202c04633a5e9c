//! switchboard: a real-time call-center event hub. Phone-system sources feed a
//! pure ledger; a numbered log fans its events out to gRPC streams, grpc-web,
//! the Socket.IO compatibility gateway and the store.

pub mod app;
pub mod auth;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod connections;
#[cfg(feature = "devtools")]
pub mod devtools;
pub mod directory;
pub mod error;
pub mod events;
pub mod gateway;
pub mod grpc;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod presence;
pub mod profiles;
pub mod proto;
pub mod socket_json;
pub mod socketio;
pub mod sources;
pub mod stats;
pub mod store;
pub mod time;
pub mod web;
