//! The Asterisk REST Interface source (issue 4, in progress): the models
//! after the ARI Swagger (`events.json`, `channels.json`, `bridges.json`)
//! in [`model`], the WebSocket of events in [`events`], and the REST calls
//! of the agent bridge in [`rest`].

pub mod events;
pub mod model;
pub mod rest;
