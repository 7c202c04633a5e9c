//! switchboard: a real-time call-center event hub. Phone-system sources feed a
//! pure ledger; a numbered log fans its events out to gRPC streams, grpc-web,
//! the Socket.IO compatibility gateway and the store.

pub mod ami;
pub mod app;
pub mod ari;
pub mod auth;
pub mod chat;
pub mod config;
pub mod connections;
pub mod demo;
pub mod directory;
pub mod error;
pub mod events;
pub mod gateway;
pub mod grpc;
pub mod ledger;
pub mod load;
pub mod log;
pub mod metrics;
pub mod presence;
pub mod profiles;
pub mod proto;
pub mod sim;
pub mod socket_json;
pub mod socketio;
pub mod stats;
pub mod store;
pub mod supervisor;
pub mod time;
pub mod transfers;
pub mod web;
pub mod webhooks;
