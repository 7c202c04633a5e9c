//! The Asterisk REST Interface source (issue 4, in progress): the models
//! after the ARI Swagger (`events.json`, `channels.json`, `bridges.json`)
//! in [`model`], and the REST calls of the agent bridge in [`rest`].

pub mod model;
pub mod rest;
