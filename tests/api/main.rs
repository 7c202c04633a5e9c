//! Integration tests: each starts the real server on port 0 and talks to it
//! with real clients (tonic, raw HTTP/1.1 grpc-web, grpcurl, the npm Socket.IO client).

mod helpers;
mod load;
mod own_socketio;
mod profiles;
mod raw_socket;
mod real_pbx;
mod records;
mod redis_restart;
mod seed_dashboards;
mod sim;
mod sim_fidelity;
mod socketio_recovery;

mod agent_bridge;
mod ami_client;
mod ami_fixtures;
mod ami_peer;
mod ami_replay;
mod ari_events;
mod ari_models;
mod ari_rest;
mod ari_sim;
mod auth;
mod browser;
mod cable;
mod cacofonisk;
mod chat;
mod cli;
mod cluster;
mod cluster_real_pbx;
mod console;
mod events;
mod hardening;
mod journal;
mod store;
mod surfaces;
mod tenants;
mod webhooks;
