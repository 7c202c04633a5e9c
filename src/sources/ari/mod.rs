//! The Asterisk REST Interface source: the models after the ARI Swagger
//! (`events.json`, `channels.json`, `bridges.json`) in [`model`], the
//! WebSocket of events in [`events`], the REST calls in [`rest`], the agent
//! bridge (seed 000) in [`bridge`], and the task that runs them in [`source`].

pub mod bridge;
pub mod events;
pub mod model;
pub mod rest;
pub mod source;
