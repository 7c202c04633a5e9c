//! The agent bridge (seed 000): what switchboard does on the PBX when a
//! customer's channel enters the Stasis application, and what it records
//! in the ledger as it happens.
//!
//! - `Stasis(app,agent,1001)`: the call is for agent 1001. Their endpoint is
//!   originated (it rings) with the application arguments
//!   `agent-leg,<customer channel id>`, and the call is offered
//!   (`call_incoming`). An agent at capacity is offered the call without a
//!   ring: the desktop shows it with `canAnswer` false.
//! - `Stasis(app,queue,8000)` (or a dialled extension that is no agent's):
//!   the caller waits in queue `8000` (`incoming_queue_call`) until a
//!   supervisor assigns the call; then the assigned agent's flow runs.
//! - The agent's leg enters the application when the phone answers. One
//!   mixing bridge joins the customer (answered then) and the agent; once
//!   both are in it, the call is bridged (`call_bridged_successfully`).
//! - The customer leaves (`StasisEnd`): `customer_left_bridge`, the agent's
//!   leg is hung up, the bridge destroyed, the call ended. The agent's leg
//!   leaves a bridged call: `call_ended_normally`, the customer is hung up.
//! - The phone declines (`Dial` BUSY) or does not answer: the offer is
//!   withdrawn (`agent_rejected_call` when declined); a direct call ends
//!   busy, a queue call goes back to its queue.
//!
//! Commands from desktops and supervisors ([`Command`]) act on the same
//! sessions. Every REST failure is handled for that call alone.

mod calls;
mod commands;
mod decide;
mod reconcile;
mod spying;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::model::{AriEvent, Channel};
use super::rest::{AriError, AriRest};
use crate::auth::Principal;
use crate::directory::AgentDirectory;
use crate::ledger::model::{CallIds, Direction, EndReason, SpyMode, Transfer, TransferKind};
use crate::ledger::{Input, finish};
use crate::log::EventLog;
use crate::proto::v1 as pb;
use crate::time::Instant;
use decide::{AfterWithdrawal, Answer, Ending, Target, Withdrawal, agent_argument};

/// The prefix of the call ids of Stasis calls (`ari-<channel id>`).
pub const CALL_ID_PREFIX: &str = "ari-";

/// How long an agent's phone rings before the offer lapses, in seconds.
pub const RING_SECONDS: u32 = 30;

/// The application argument of an agent's leg.
const AGENT_LEG: &str = "agent-leg";

/// The application argument of a supervisor's snoop channel.
const SPY_SNOOP: &str = "spy-snoop";

/// The application argument of a supervisor's phone leg.
const SPY_SUPERVISOR: &str = "spy-supervisor";

/// The channel variable whose SIP header asks a phone to answer by itself.
pub const AUTO_ANSWER_VARIABLE: &str = "PJSIP_HEADER(add,Call-Info)";

/// Its value: answer after no delay.
pub const AUTO_ANSWER_VALUE: &str = "answer-after=0";

/// What a desktop or a supervisor asks of a Stasis call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CommandKind {
    /// Take a call ringing this agent from the desktop: the agent's phone
    /// is rung again with the header that makes it answer by itself.
    Answer,
    /// Turn down a call ringing this agent.
    Reject {
        /// Why (shown to supervisors).
        reason: String,
    },
    /// End the call.
    Hangup,
    /// Put the customer on hold (`true`) or take them off.
    Hold(bool),
    /// Mute the agent towards the customer (`true`) or unmute.
    Mute(bool),
    /// Hand the call to another agent (an extension) or queue (a number).
    Transfer {
        /// The extension or queue number.
        target: String,
    },
    /// Give a waiting queue call to an agent (supervisors).
    Assign {
        /// The agent's extension.
        extension: String,
    },
    /// Change a call's priority: `high`, `normal` or `low` (supervisors).
    SetPriority {
        /// The new priority.
        priority: String,
    },
    /// A supervisor listens in on the agent's side of a bridged call: a
    /// snoop on the agent's leg, bridged with the supervisor's phone.
    Spy {
        /// Monitor (listen), whisper (talk to the agent) or barge (talk to both).
        mode: SpyMode,
        /// The supervisor's phone extension (`PJSIP/<extension>` is rung).
        supervisor_extension: String,
        /// The spy session's id (the supervisor action's id).
        spy_id: String,
    },
}

/// A command for one session (a call id or the customer's channel id).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Command {
    /// The session: switchboard's call id (`ari-…`) or the customer's ARI channel id.
    pub session: String,
    /// What to do.
    pub kind: CommandKind,
    /// Who asks.
    pub actor: Principal,
}

/// Why a command was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CommandError {
    /// No such call in the application.
    #[error("no call {0} in the agent bridge")]
    NoSuchCall(String),
    /// No such agent in the directory.
    #[error("no agent at extension {0}")]
    NoSuchAgent(String),
    /// The caller may not do this to this call.
    #[error("{0}")]
    NotAllowed(String),
    /// The call is not in a state that allows it.
    #[error("{0}")]
    WrongState(String),
    /// A bad argument.
    #[error("{0}")]
    InvalidArgument(String),
    /// The PBX refused or failed.
    #[error("the phone system did not do it: {0}")]
    Pbx(#[from] AriError),
    /// The ARI source is not configured or has stopped.
    #[error("the ARI agent bridge is not running (set ARI_URL)")]
    NotRunning,
    /// In a cluster, the node that ingests could not be reached.
    #[error("{0}")]
    Unavailable(String),
}

impl crate::error::ServiceError for CommandError {
    fn error_code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            CommandError::NoSuchCall(_) | CommandError::NoSuchAgent(_) => ErrorCode::NotFound,
            CommandError::NotAllowed(_) => ErrorCode::PermissionDenied,
            CommandError::WrongState(_) => ErrorCode::FailedPrecondition,
            CommandError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            CommandError::NotRunning | CommandError::Unavailable(_) => ErrorCode::Unavailable,
            CommandError::Pbx(pbx) => pbx.error_code(),
        }
    }
}

impl From<CommandError> for crate::error::Error {
    /// The client is told what the PBX's refusal means; ARI's own text (and
    /// a transport error's, which can name `ARI_URL`) goes to the log.
    fn from(error: CommandError) -> Self {
        use crate::error::Error;
        let text = error.to_string();
        match error {
            CommandError::NoSuchCall(_) | CommandError::NoSuchAgent(_) => Error::NotFound(text),
            CommandError::NotAllowed(_) => Error::PermissionDenied(text),
            CommandError::WrongState(_) => Error::FailedPrecondition(text),
            CommandError::InvalidArgument(_) => Error::InvalidArgument(text),
            CommandError::NotRunning | CommandError::Unavailable(_) => Error::Unavailable(text),
            CommandError::Pbx(pbx) => {
                let message = match &pbx {
                    AriError::NotFound(_) => "the phone system no longer has the call",
                    AriError::Conflict(_) => {
                        "the phone system refused: the call is not in a state that allows it"
                    }
                    AriError::Refused(_) => "the phone system refused switchboard's credentials",
                    AriError::BadRequest { .. } => "the phone system refused the request",
                    AriError::Server { .. } => "the phone system failed",
                    AriError::Timeout(_) => "the phone system did not answer in time",
                    AriError::Transport(_) => "the phone system cannot be reached",
                };
                match pbx {
                    AriError::NotFound(_) => Error::NotFound(message.into()),
                    AriError::Conflict(_) => Error::FailedPrecondition(message.into()),
                    other => Error::from_dependency(message, other),
                }
            }
        }
    }
}

/// A command's answer: the call as the ledger has it afterwards (when it still runs).
pub type CommandResult = Result<Option<pb::Call>, CommandError>;

/// Sends commands to the running agent bridge.
#[derive(Debug, Clone)]
pub struct BridgeHandle {
    commands: mpsc::Sender<(Command, oneshot::Sender<CommandResult>)>,
}

/// The agent bridge's end of the command channel. Shared: one bridge at a
/// time reads it (the bridge of this node's current ingest term, in a
/// cluster), holding it while it runs.
pub type CommandInbox =
    std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<(Command, oneshot::Sender<CommandResult>)>>>;

impl BridgeHandle {
    /// A handle and the inbox the bridge reads.
    pub fn new() -> (BridgeHandle, CommandInbox) {
        let (commands, inbox) = mpsc::channel(256);
        (
            BridgeHandle { commands },
            std::sync::Arc::new(tokio::sync::Mutex::new(inbox)),
        )
    }

    /// Sends `command` and waits for its outcome.
    pub async fn send(&self, command: Command) -> CommandResult {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send((command, reply))
            .await
            .map_err(|_| CommandError::NotRunning)?;
        answer.await.map_err(|_| CommandError::NotRunning)?
    }
}

/// A ringing offer to an agent.
#[derive(Debug, Clone)]
struct Offer {
    extension: String,
    /// The agent's leg while it rings; `None` when it was not rung (capacity, failure).
    leg: Option<String>,
}

/// One customer channel in the application.
#[derive(Debug, Clone)]
struct Session {
    call_id: String,
    customer: String,
    customer_name: String,
    customer_number: String,
    customer_state: String,
    target: Target,
    offer: Option<Offer>,
    /// The agent the customer is bridged with, and their leg.
    agent: Option<(String, String)>,
    bridge: Option<String>,
    hangup_cause: Option<i32>,
    /// Who ended it from switchboard's side ([`finish`]), once someone did.
    ended_by: Option<&'static str>,
}

/// What an agent leg belongs to.
#[derive(Debug, Clone)]
struct Leg {
    customer: String,
    extension: String,
    state: String,
}

/// A supervisor listening in: the snoop on the agent's leg and the
/// supervisor's phone, bridged once the phone answers.
#[derive(Debug, Clone)]
struct Spy {
    customer: String,
    supervisor_extension: String,
    snoop: String,
    phone: String,
    bridge: Option<String>,
}

/// The agent bridge's state: sessions by customer channel id, legs by their channel id.
pub struct AgentBridge {
    log: Arc<EventLog>,
    rest: AriRest,
    directory: Arc<AgentDirectory>,
    app: String,
    sessions: HashMap<String, Session>,
    legs: HashMap<String, Leg>,
    /// Spy sessions by id, and their channels (snoop and phone) → id.
    spies: HashMap<String, Spy>,
    spy_channels: HashMap<String, String>,
}

impl AgentBridge {
    /// A bridge with no sessions.
    pub fn new(
        log: Arc<EventLog>,
        rest: AriRest,
        directory: Arc<AgentDirectory>,
        app: &str,
    ) -> Self {
        AgentBridge {
            log,
            rest,
            directory,
            app: app.to_owned(),
            sessions: HashMap::new(),
            legs: HashMap::new(),
            spies: HashMap::new(),
            spy_channels: HashMap::new(),
        }
    }

    fn apply(&self, input: Input, now: Instant) {
        self.log.apply(input, now);
    }

    /// Acts on one event that happened at `now` (the PBX's clock).
    pub async fn on_event(&mut self, event: AriEvent, now: Instant) {
        if let Some(channel) = event.channel()
            && let Some(spy) = self.spy_channels.get(&channel.id).cloned()
        {
            self.on_spy_event(&spy, &event, now).await;
            return;
        }
        match event {
            AriEvent::StasisStart { args, channel, .. } => {
                if matches!(
                    args.first().map(String::as_str),
                    Some(SPY_SNOOP | SPY_SUPERVISOR)
                ) {
                    // A spy channel switchboard no longer knows (a restart, or already ended).
                    let _ = self.rest.hang_up(&channel.id, "normal").await;
                } else if args.first().map(String::as_str) == Some(AGENT_LEG) {
                    self.agent_answered(channel, now).await;
                } else {
                    self.customer_arrived(&args, channel, now).await;
                }
            }
            AriEvent::ChannelStateChange { channel } => self.state_changed(channel, now),
            AriEvent::Dial {
                peer, dialstatus, ..
            } => {
                if matches!(
                    dialstatus.as_str(),
                    "BUSY" | "NOANSWER" | "CHANUNAVAIL" | "CONGESTION" | "CANCEL"
                ) {
                    let declined = dialstatus == "BUSY";
                    self.offer_failed(&peer.id, declined, now).await;
                }
            }
            AriEvent::ChannelEnteredBridge { bridge, .. } => {
                let Some(session) = self
                    .sessions
                    .values()
                    .find(|s| s.bridge.as_deref() == Some(bridge.id.as_str()))
                else {
                    return;
                };
                let Some((extension, leg)) = &session.agent else {
                    return;
                };
                if bridge.channels.contains(&session.customer) && bridge.channels.contains(leg) {
                    self.apply(
                        Input::CallBridged {
                            call_id: session.call_id.clone(),
                            extension: extension.clone(),
                            bridge_id: bridge.id.clone(),
                        },
                        now,
                    );
                }
            }
            AriEvent::EndpointStateChange { endpoint } => {
                for input in self.presence_inputs(&endpoint.name(), endpoint.state.as_deref()) {
                    self.apply(input, now);
                }
            }
            AriEvent::ChannelHangupRequest { cause, channel, .. } => {
                if let Some(session) = self.sessions.get_mut(&channel.id) {
                    session.hangup_cause = cause.or(session.hangup_cause);
                }
            }
            AriEvent::StasisEnd { channel } => {
                if self.sessions.contains_key(&channel.id) {
                    self.customer_left(&channel.id, now).await;
                } else if self.legs.contains_key(&channel.id) {
                    self.agent_leg_ended(&channel.id, now).await;
                }
            }
            AriEvent::ChannelDestroyed { cause, channel, .. } => {
                if self.sessions.contains_key(&channel.id) {
                    // A customer destroyed without StasisEnd: end it all the same.
                    if let Some(session) = self.sessions.get_mut(&channel.id) {
                        session.hangup_cause.get_or_insert(cause);
                    }
                    self.customer_left(&channel.id, now).await;
                } else if self.legs.contains_key(&channel.id) {
                    // A leg destroyed before it answered: the phone declined or did not answer.
                    self.offer_failed(&channel.id, matches!(cause, 17 | 21), now)
                        .await;
                }
            }
            _ => {}
        }
    }
}
