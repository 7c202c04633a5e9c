//! The Asterisk REST Interface source (issue 4): the Stasis application's
//! WebSocket events and the REST calls of the agent bridge. So far: the
//! models ([`model`]), following the ARI Swagger (`events.json`,
//! `channels.json`, `bridges.json`).

pub mod model;
