//! Sources: the phone system and the providers, each speaking its own wire
//! protocol and nothing else. Each turns what it reads into the ledger's
//! source-neutral inputs and publishes them to the log.
//!
//! | source | what it reads |
//! |---|---|
//! | [`ami`] | Asterisk's Manager Interface (TCP 5038): events become calls, agents, queues |
//! | [`ari`] | Asterisk's REST Interface (WebSocket + REST): the agent bridge's own calls |
//! | [`webhooks`] | the voice-AI provider's and Twilio's signed webhooks |

pub mod ami;
pub mod ari;
pub mod webhooks;
