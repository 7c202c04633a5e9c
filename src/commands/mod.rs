//! Commands: what clients ask switchboard to do, the other way from the
//! events. Each command has one handler here, whichever surface (gRPC,
//! HTTP, Socket.IO) it came in on; the handler checks the principal, then
//! acts on the phone system (AMI action, ARI REST through the agent
//! bridge, Twilio REST), the store or the ledger.
//!
//! | service | what it does |
//! |---|---|
//! | [`chat::Chat`] | conversations and messages, agents' presence, the system mode |
//! | [`supervision::Supervision`] | monitor, whisper and barge (AMI `Originate` of `ChanSpy`, or an ARI snoop) |
//! | [`calls::CallControl`] | answer, reject, hold, mute, transfer, assign, hang up (the ARI agent bridge) |
//! | [`transfers::TransferDesk`] | the voice assistant's transfer to a human (Twilio), with the customer's profile |
//! | [`agents::AgentAdmin`] | the agent directory's admin |

pub mod agents;
pub mod calls;
pub mod chat;
pub mod supervision;
pub mod transfers;
