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

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::model::{AriEvent, Channel};
use super::rest::{AriError, AriRest};
use crate::auth::{Principal, Role};
use crate::directory::AgentDirectory;
use crate::ledger::model::{
    CallIds, Direction, EndReason, LeaveReason, SpyMode, Transfer, TransferKind,
};
use crate::ledger::{Input, finish};
use crate::log::EventLog;
use crate::proto::v1 as pb;
use crate::time::Instant;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone)]
pub struct Command {
    /// The session: switchboard's call id (`ari-…`) or the customer's ARI channel id.
    pub session: String,
    /// What to do.
    pub kind: CommandKind,
    /// Who asks.
    pub actor: Principal,
}

/// Why a command was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

impl crate::error::ServiceError for CommandError {
    fn error_code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            CommandError::NoSuchCall(_) | CommandError::NoSuchAgent(_) => ErrorCode::NotFound,
            CommandError::NotAllowed(_) => ErrorCode::PermissionDenied,
            CommandError::WrongState(_) => ErrorCode::FailedPrecondition,
            CommandError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            CommandError::NotRunning => ErrorCode::Unavailable,
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
            CommandError::NotRunning => Error::Unavailable(text),
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

/// The agent bridge's end of the command channel.
pub type CommandInbox = mpsc::Receiver<(Command, oneshot::Sender<CommandResult>)>;

impl BridgeHandle {
    /// A handle and the inbox the bridge reads.
    pub fn new() -> (BridgeHandle, CommandInbox) {
        let (commands, inbox) = mpsc::channel(256);
        (BridgeHandle { commands }, inbox)
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

/// Where a session's caller is headed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// An agent's extension.
    Agent,
    /// A queue, by number.
    Queue(String),
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

/// The Q.850 causes that mean the line was lost rather than hung up.
fn lost_line(cause: Option<i32>) -> bool {
    matches!(cause, Some(27 | 38 | 41 | 42 | 47))
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

    /// A customer's channel entered the application.
    async fn customer_arrived(&mut self, args: &[String], channel: Channel, now: Instant) {
        if self.sessions.contains_key(&channel.id) {
            return;
        }
        let session = self.adopt(args, &channel, now);
        let customer = session.customer.clone();
        let target = session.target.clone();
        self.sessions.insert(customer.clone(), session);
        if channel.state != "Up"
            && let Err(error) = self.rest.ring(&customer).await
        {
            tracing::debug!(%error, channel = %customer, "ari: could not indicate ringing");
        }
        match target {
            Target::Agent => {
                let extension = agent_argument(args, &channel);
                if self.directory.get(&extension).is_none() {
                    tracing::warn!(%extension, channel = %customer, "ari: call for an unknown agent; hanging up");
                    self.end_from_here(&customer, finish::REJECTED, "unallocated")
                        .await;
                    return;
                }
                self.offer(&customer, &extension, now).await;
            }
            Target::Queue(_) => {}
        }
    }

    /// Records a customer channel found in the application as a session
    /// (and a call, and a queue place when it waits in one).
    fn adopt(&mut self, args: &[String], channel: &Channel, now: Instant) -> Session {
        let target = match args.first().map(String::as_str) {
            Some("agent") => Target::Agent,
            Some("queue") => Target::Queue(
                args.get(1)
                    .cloned()
                    .unwrap_or_else(|| channel.dialplan.exten.clone()),
            ),
            _ if self.directory.get(&channel.dialplan.exten).is_some() => Target::Agent,
            _ => Target::Queue(channel.dialplan.exten.clone()),
        };
        let call_id = format!("{CALL_ID_PREFIX}{}", channel.id);
        let queue = match &target {
            Target::Queue(number) => Some(number.clone()),
            Target::Agent => None,
        };
        self.apply(
            Input::CallStarted {
                call_id: call_id.clone(),
                ids: CallIds {
                    channel: channel.name.clone(),
                    ari_channel_id: channel.id.clone(),
                    ..CallIds::default()
                },
                direction: Direction::Inbound,
                customer_number: channel.caller.number.clone(),
                caller_name: channel.caller.name.clone(),
                destination: channel.dialplan.exten.clone(),
                context: channel.dialplan.context.clone(),
                channel_state: channel.state.clone(),
                queue: queue.clone(),
                tenant: String::new(),
            },
            now,
        );
        if let Some(queue) = queue {
            self.join_queue(&call_id, &queue, channel, now);
        }
        Session {
            call_id,
            customer: channel.id.clone(),
            customer_name: channel.name.clone(),
            customer_number: channel.caller.number.clone(),
            customer_state: channel.state.clone(),
            target,
            offer: None,
            agent: None,
            bridge: None,
            hangup_cause: None,
            ended_by: None,
        }
    }

    fn join_queue(&self, call_id: &str, queue: &str, channel: &Channel, now: Instant) {
        self.apply(
            Input::QueueCallerJoined {
                queue: queue.to_owned(),
                call_id: call_id.to_owned(),
                channel: channel.name.clone(),
                caller_number: channel.caller.number.clone(),
                caller_name: channel.caller.name.clone(),
            },
            now,
        );
    }

    /// Offers the customer's call to the agent at `extension`: rings their
    /// endpoint when they can take one more call, and says so either way.
    async fn offer(&mut self, customer: &str, extension: &str, now: Instant) {
        let Some(entry) = self.directory.get(extension) else {
            return;
        };
        let Some(session) = self.sessions.get(customer) else {
            return;
        };
        let call_id = session.call_id.clone();
        let number = session.customer_number.clone();
        let can_take = self.log.read(|ledger, _| {
            ledger
                .agents
                .get(extension)
                .is_some_and(|a| a.can_take_call())
        });
        let leg = if can_take {
            self.ring_agent(customer, &entry.endpoint(), extension, &number, &[])
                .await
        } else {
            None
        };
        if let Some(session) = self.sessions.get_mut(customer) {
            session.offer = Some(Offer {
                extension: extension.to_owned(),
                leg,
            });
        }
        self.apply(
            Input::CallOffered {
                call_id,
                extension: extension.to_owned(),
            },
            now,
        );
    }

    /// Originates the agent's endpoint for `customer`; the leg's id, or
    /// `None` when the PBX refused (logged).
    async fn ring_agent(
        &mut self,
        customer: &str,
        endpoint: &str,
        extension: &str,
        caller_number: &str,
        variables: &[(&str, &str)],
    ) -> Option<String> {
        let args = format!("{AGENT_LEG},{customer}");
        match self
            .rest
            .originate(
                endpoint,
                &self.app,
                &args,
                caller_number,
                RING_SECONDS,
                variables,
            )
            .await
        {
            Ok(leg) => {
                self.legs.insert(
                    leg.id.clone(),
                    Leg {
                        customer: customer.to_owned(),
                        extension: extension.to_owned(),
                        state: leg.state.clone(),
                    },
                );
                Some(leg.id)
            }
            Err(error) => {
                tracing::warn!(%error, %endpoint, "ari: could not ring the agent's phone");
                None
            }
        }
    }

    /// An agent's leg entered the application: the phone answered. Bridge it with its customer.
    async fn agent_answered(&mut self, leg: Channel, now: Instant) {
        let Some(info) = self.legs.get(&leg.id).cloned() else {
            // A leg of a call switchboard no longer knows (a restart): nobody waits for it.
            let _ = self.rest.hang_up(&leg.id, "normal").await;
            return;
        };
        let Some(session) = self.sessions.get(&info.customer) else {
            self.drop_leg(&leg.id).await;
            return;
        };
        let offered_here = session
            .offer
            .as_ref()
            .is_some_and(|o| o.extension == info.extension && o.leg.as_deref() == Some(&leg.id));
        if !offered_here {
            self.drop_leg(&leg.id).await;
            return;
        }
        let customer = info.customer.clone();
        let call_id = session.call_id.clone();
        let customer_up = session.customer_state == "Up";
        let bridge = match session.bridge.clone() {
            Some(bridge) => bridge,
            None => match self
                .rest
                .create_bridge(&format!("switchboard-{call_id}"))
                .await
            {
                Ok(bridge) => bridge.id,
                Err(error) => {
                    tracing::warn!(%error, %call_id, "ari: could not create the bridge");
                    self.drop_leg(&leg.id).await;
                    self.withdraw(&customer, None, now).await;
                    return;
                }
            },
        };
        if let Some(session) = self.sessions.get_mut(&customer) {
            session.bridge = Some(bridge.clone());
            session.offer = None;
            session.agent = Some((info.extension.clone(), leg.id.clone()));
        }
        if !customer_up && let Err(error) = self.rest.answer(&customer).await {
            tracing::debug!(%error, %call_id, "ari: answering the customer");
        }
        for channel in [&customer, &leg.id] {
            if let Err(error) = self.rest.add_channel(&bridge, channel).await {
                tracing::warn!(%error, %call_id, %channel, "ari: could not add a channel to the bridge");
                if channel == &customer {
                    // The customer is gone: their StasisEnd ends the call.
                    return;
                }
                self.agent_leg_ended(&leg.id, now).await;
                return;
            }
        }
    }

    /// A ringing leg ended unanswered: declined on the phone (`declined`) or not answered.
    async fn offer_failed(&mut self, leg: &str, declined: bool, now: Instant) {
        let Some(info) = self.legs.remove(leg) else {
            return;
        };
        let current = self.sessions.get(&info.customer).is_some_and(|s| {
            s.offer
                .as_ref()
                .is_some_and(|o| o.leg.as_deref() == Some(leg))
        });
        if !current {
            return;
        }
        let reason = declined.then(|| "declined on the phone".to_owned());
        self.withdraw(&info.customer, reason, now).await;
    }

    /// Withdraws the session's offer (rejected with `reason`, or lapsed), then
    /// sends a direct call away busy and puts a queue call back in its queue.
    async fn withdraw(&mut self, customer: &str, reason: Option<String>, now: Instant) {
        let Some(session) = self.sessions.get_mut(customer) else {
            return;
        };
        let Some(offer) = session.offer.take() else {
            return;
        };
        let call_id = session.call_id.clone();
        let target = session.target.clone();
        let rejected = reason.is_some();
        if let Some(leg) = &offer.leg {
            self.drop_leg(leg).await;
        }
        self.apply(
            Input::CallOfferWithdrawn {
                call_id: call_id.clone(),
                extension: offer.extension,
                rejected: reason,
            },
            now,
        );
        match target {
            Target::Agent if rejected => {
                self.end_from_here(customer, finish::REJECTED, "busy").await;
            }
            Target::Agent => {
                self.end_from_here(customer, finish::NO_ANSWER, "no_answer")
                    .await;
            }
            Target::Queue(queue) => {
                let channel = self.customer_channel(customer);
                self.join_queue(&call_id, &queue, &channel, now);
            }
        }
    }

    /// The customer as a channel model, for inputs that want its name and number.
    fn customer_channel(&self, customer: &str) -> Channel {
        let mut channel = Channel {
            id: customer.to_owned(),
            ..Channel::default()
        };
        if let Some(session) = self.sessions.get(customer) {
            channel.name.clone_from(&session.customer_name);
            channel.caller.number.clone_from(&session.customer_number);
        }
        channel
    }

    /// Forgets a leg and hangs it up.
    async fn drop_leg(&mut self, leg: &str) {
        self.legs.remove(leg);
        match self.rest.hang_up(leg, "normal").await {
            Ok(()) | Err(AriError::NotFound(_)) => {}
            Err(error) => tracing::warn!(%error, %leg, "ari: could not hang up an agent leg"),
        }
    }

    /// Hangs the customer up from switchboard's side; their `StasisEnd` ends the session.
    async fn end_from_here(&mut self, customer: &str, by: &'static str, reason: &str) {
        if let Some(session) = self.sessions.get_mut(customer) {
            session.ended_by.get_or_insert(by);
        }
        match self.rest.hang_up(customer, reason).await {
            Ok(()) => {}
            Err(AriError::NotFound(_)) => {
                // Already gone: end the session now rather than wait for an event that passed.
                self.customer_left(customer, chrono::Utc::now()).await;
            }
            Err(error) => {
                tracing::warn!(%error, %customer, "ari: could not hang up the customer");
            }
        }
    }

    fn state_changed(&mut self, channel: Channel, now: Instant) {
        let (call_id, previous) = if let Some(session) = self.sessions.get_mut(&channel.id) {
            let previous = std::mem::replace(&mut session.customer_state, channel.state.clone());
            (session.call_id.clone(), previous)
        } else if let Some(leg) = self.legs.get_mut(&channel.id) {
            let previous = std::mem::replace(&mut leg.state, channel.state.clone());
            let Some(session) = self.sessions.get(&leg.customer) else {
                return;
            };
            (session.call_id.clone(), previous)
        } else {
            return;
        };
        if previous == channel.state {
            return;
        }
        self.apply(
            Input::ChannelStateChanged {
                call_id,
                channel: channel.name,
                state: channel.state,
                previous_state: previous,
            },
            now,
        );
    }

    /// A supervisor's phone answered (bridge it with the snoop), or a spy
    /// channel went away (the spy session ends).
    async fn on_spy_event(&mut self, spy_id: &str, event: &AriEvent, now: Instant) {
        match event {
            AriEvent::StasisStart { channel, .. } => {
                let Some(spy) = self.spies.get(spy_id).cloned() else {
                    return;
                };
                if channel.id != spy.phone || spy.bridge.is_some() {
                    return;
                }
                let bridge = match self
                    .rest
                    .create_bridge(&format!("switchboard-spy-{spy_id}"))
                    .await
                {
                    Ok(bridge) => bridge.id,
                    Err(error) => {
                        tracing::warn!(%error, spy = %spy_id, "ari: could not create the spy bridge");
                        self.end_spy(spy_id, now).await;
                        return;
                    }
                };
                if let Some(live) = self.spies.get_mut(spy_id) {
                    live.bridge = Some(bridge.clone());
                }
                for channel in [&spy.snoop, &spy.phone] {
                    if let Err(error) = self.rest.add_channel(&bridge, channel).await {
                        tracing::warn!(%error, spy = %spy_id, "ari: could not join the spy bridge");
                        self.end_spy(spy_id, now).await;
                        return;
                    }
                }
            }
            AriEvent::StasisEnd { .. } | AriEvent::ChannelDestroyed { .. } => {
                self.end_spy(spy_id, now).await;
            }
            AriEvent::Dial { dialstatus, .. }
                if matches!(
                    dialstatus.as_str(),
                    "BUSY" | "NOANSWER" | "CHANUNAVAIL" | "CONGESTION" | "CANCEL"
                ) =>
            {
                self.end_spy(spy_id, now).await;
            }
            _ => {}
        }
    }

    /// Ends a spy session: its channels hung up, its bridge destroyed, the ledger told.
    async fn end_spy(&mut self, spy_id: &str, now: Instant) {
        let Some(spy) = self.spies.remove(spy_id) else {
            return;
        };
        for channel in [&spy.snoop, &spy.phone] {
            self.spy_channels.remove(channel);
            match self.rest.hang_up(channel, "normal").await {
                Ok(()) | Err(AriError::NotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(%error, %channel, "ari: could not hang up a spy channel")
                }
            }
        }
        if let Some(bridge) = &spy.bridge {
            let _ = self.rest.destroy_bridge(bridge).await;
        }
        self.apply(
            Input::SpyEnded {
                supervisor_extension: spy.supervisor_extension,
            },
            now,
        );
    }

    /// Starts a spy session on the agent's leg of `customer`'s call.
    async fn start_spy(
        &mut self,
        customer: &str,
        mode: SpyMode,
        supervisor_extension: &str,
        spy_id: &str,
    ) -> Result<(), CommandError> {
        let Some((_, agent_leg)) = self.sessions[customer].agent.clone() else {
            return Err(CommandError::WrongState(
                "the agent is not connected on this call yet".into(),
            ));
        };
        if supervisor_extension.trim().is_empty() {
            return Err(CommandError::InvalidArgument(
                "no supervisor phone to ring".into(),
            ));
        }
        let (spy, whisper) = match mode {
            SpyMode::Monitor => ("both", "none"),
            SpyMode::Whisper => ("both", "out"),
            SpyMode::Barge => ("both", "both"),
        };
        let snoop = self
            .rest
            .snoop(
                &agent_leg,
                spy,
                whisper,
                &self.app,
                &format!("{SPY_SNOOP},{spy_id}"),
            )
            .await?;
        let phone = match self
            .rest
            .originate(
                &format!("PJSIP/{supervisor_extension}"),
                &self.app,
                &format!("{SPY_SUPERVISOR},{spy_id}"),
                &format!("Supervisor <{supervisor_extension}>"),
                RING_SECONDS,
                &[],
            )
            .await
        {
            Ok(phone) => phone,
            Err(error) => {
                let _ = self.rest.hang_up(&snoop.id, "normal").await;
                return Err(error.into());
            }
        };
        self.spy_channels
            .insert(snoop.id.clone(), spy_id.to_owned());
        self.spy_channels
            .insert(phone.id.clone(), spy_id.to_owned());
        self.spies.insert(
            spy_id.to_owned(),
            Spy {
                customer: customer.to_owned(),
                supervisor_extension: supervisor_extension.to_owned(),
                snoop: snoop.id,
                phone: phone.id,
                bridge: None,
            },
        );
        Ok(())
    }

    /// The customer left the application: the call ends.
    async fn customer_left(&mut self, customer: &str, now: Instant) {
        let Some(session) = self.sessions.remove(customer) else {
            return;
        };
        let spies: Vec<String> = self
            .spies
            .iter()
            .filter(|(_, spy)| spy.customer == customer)
            .map(|(id, _)| id.clone())
            .collect();
        for spy in spies {
            self.end_spy(&spy, now).await;
        }
        let call_id = session.call_id.clone();
        match session.ended_by {
            Some(by) => self.apply(
                Input::CallHungUp {
                    call_id: call_id.clone(),
                    by,
                },
                now,
            ),
            None => {
                if let (Target::Queue(queue), None) = (&session.target, &session.agent) {
                    self.apply(
                        Input::QueueCallerAbandoned {
                            queue: queue.clone(),
                            call_id: call_id.clone(),
                        },
                        now,
                    );
                }
                let reason = if lost_line(session.hangup_cause) {
                    LeaveReason::NetworkIssue
                } else {
                    LeaveReason::CustomerDisconnected
                };
                self.apply(
                    Input::CustomerLeft {
                        call_id: call_id.clone(),
                        reason,
                    },
                    now,
                );
            }
        }
        let legs: Vec<String> = session
            .offer
            .iter()
            .filter_map(|o| o.leg.clone())
            .chain(session.agent.iter().map(|(_, leg)| leg.clone()))
            .collect();
        for leg in legs {
            self.drop_leg(&leg).await;
        }
        if let Some(bridge) = &session.bridge {
            match self.rest.destroy_bridge(bridge).await {
                Ok(()) | Err(AriError::NotFound(_)) => {}
                Err(error) => tracing::warn!(%error, %bridge, "ari: could not destroy a bridge"),
            }
        }
        let reason = if session.agent.is_some() {
            EndReason::Completed
        } else if session.ended_by == Some(finish::REJECTED) {
            EndReason::Rejected
        } else if session.ended_by == Some(finish::NO_ANSWER) {
            EndReason::NoAnswer
        } else if session.ended_by.is_some() {
            EndReason::Completed
        } else {
            EndReason::Abandoned
        };
        self.apply(Input::CallEnded { call_id, reason }, now);
    }

    /// An agent's leg left the application. When it was bridged, the agent
    /// ended the call: `call_ended_normally`, and the customer is hung up.
    async fn agent_leg_ended(&mut self, leg: &str, now: Instant) {
        let Some(info) = self.legs.remove(leg) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&info.customer) else {
            return;
        };
        if session.agent.as_ref().map(|(_, l)| l.as_str()) != Some(leg) {
            return;
        }
        session.ended_by.get_or_insert(finish::AGENT_HANGUP);
        let call_id = session.call_id.clone();
        self.apply(
            Input::CallHungUp {
                call_id,
                by: finish::AGENT_HANGUP,
            },
            now,
        );
        let customer = info.customer.clone();
        self.end_from_here(&customer, finish::AGENT_HANGUP, "normal")
            .await;
    }

    /// Carries out a command at `now`.
    pub async fn on_command(&mut self, command: Command, now: Instant) -> CommandResult {
        let customer = self.find(&command.session)?;
        let actor = &command.actor;
        let role = actor.role();
        let staff = matches!(role, Role::Supervisor | Role::Admin);
        let session = &self.sessions[&customer];
        let own_extension = actor.claims.extension.clone().unwrap_or_default();
        let offered_to = session.offer.as_ref().map(|o| o.extension.clone());
        let bridged_with = session.agent.as_ref().map(|(e, _)| e.clone());
        let is_mine = !own_extension.is_empty()
            && (offered_to.as_deref() == Some(&own_extension)
                || bridged_with.as_deref() == Some(&own_extension));
        if !(staff || (role == Role::Agent && is_mine)) {
            return Err(CommandError::NotAllowed(if role == Role::Agent {
                format!(
                    "call {} is not ringing or connected at your extension",
                    command.session
                )
            } else {
                format!("role {} may not control calls", role.as_str())
            }));
        }
        match command.kind {
            CommandKind::Answer => {
                let Some(extension) = offered_to else {
                    return Err(CommandError::WrongState(
                        "the call is not ringing an agent".into(),
                    ));
                };
                let can_answer = self.log.read(|ledger, _| {
                    ledger
                        .agents
                        .get(&extension)
                        .is_some_and(|a| (a.call_ids.len() as u32) < a.max_calls)
                });
                if !can_answer {
                    return Err(CommandError::WrongState(format!(
                        "agent {extension} is at capacity"
                    )));
                }
                let entry = self
                    .directory
                    .get(&extension)
                    .ok_or_else(|| CommandError::NoSuchAgent(extension.clone()))?;
                let session = &self.sessions[&customer];
                let number = session.customer_number.clone();
                if let Some(leg) = session.offer.as_ref().and_then(|o| o.leg.clone()) {
                    self.drop_leg(&leg).await;
                }
                let leg = self
                    .ring_agent(
                        &customer,
                        &entry.endpoint(),
                        &extension,
                        &number,
                        &[(AUTO_ANSWER_VARIABLE, AUTO_ANSWER_VALUE)],
                    )
                    .await;
                if let Some(offer) = self
                    .sessions
                    .get_mut(&customer)
                    .and_then(|s| s.offer.as_mut())
                {
                    offer.leg.clone_from(&leg);
                }
                if leg.is_none() {
                    return Err(CommandError::WrongState(format!(
                        "agent {extension}'s phone could not be reached"
                    )));
                }
            }
            CommandKind::Reject { reason } => {
                if offered_to.is_none() {
                    return Err(CommandError::WrongState(
                        "only a ringing call can be rejected".into(),
                    ));
                }
                let reason = if reason.trim().is_empty() {
                    "rejected by the agent".to_owned()
                } else {
                    reason
                };
                self.withdraw(&customer, Some(reason), now).await;
            }
            CommandKind::Hangup => {
                let by = if staff && !is_mine {
                    finish::SUPERVISOR_HANGUP
                } else {
                    finish::AGENT_HANGUP
                };
                let agent_leg = self.sessions[&customer]
                    .agent
                    .as_ref()
                    .map(|(_, leg)| leg.clone());
                match agent_leg {
                    // The agent's side ends it: as if the agent's phone hung up.
                    Some(leg) if by == finish::AGENT_HANGUP => {
                        self.agent_leg_ended(&leg, now).await;
                    }
                    _ => self.end_from_here(&customer, by, "normal").await,
                }
            }
            CommandKind::Hold(on) => {
                if bridged_with.is_none() {
                    return Err(CommandError::WrongState(
                        "only a connected call can be held".into(),
                    ));
                }
                self.rest.hold(&customer, on).await?;
                let call_id = self.sessions[&customer].call_id.clone();
                self.apply(Input::CallHeld { call_id, held: on }, now);
            }
            CommandKind::Mute(on) => {
                let Some((_, leg)) = self.sessions[&customer].agent.clone() else {
                    return Err(CommandError::WrongState(
                        "only a connected call can be muted".into(),
                    ));
                };
                self.rest.mute(&leg, on).await?;
            }
            CommandKind::Transfer { target } => {
                self.transfer(&customer, target.trim(), &own_extension, now)
                    .await?;
            }
            CommandKind::Assign { extension } => {
                if !staff {
                    return Err(CommandError::NotAllowed(
                        "only supervisors assign queue calls".into(),
                    ));
                }
                let session = &self.sessions[&customer];
                let Target::Queue(queue) = session.target.clone() else {
                    return Err(CommandError::WrongState(
                        "the call is not a queue call".into(),
                    ));
                };
                if session.offer.is_some() || session.agent.is_some() {
                    return Err(CommandError::WrongState(
                        "the call is already with an agent".into(),
                    ));
                }
                if self.directory.get(&extension).is_none() {
                    return Err(CommandError::NoSuchAgent(extension));
                }
                let call_id = session.call_id.clone();
                self.apply(Input::QueueCallerLeft { queue, call_id }, now);
                self.offer(&customer, &extension, now).await;
            }
            CommandKind::Spy {
                mode,
                supervisor_extension,
                spy_id,
            } => {
                if !staff {
                    return Err(CommandError::NotAllowed(
                        "only supervisors listen in".into(),
                    ));
                }
                self.start_spy(&customer, mode, &supervisor_extension, &spy_id)
                    .await?;
            }
            CommandKind::SetPriority { priority } => {
                if !staff {
                    return Err(CommandError::NotAllowed(
                        "only supervisors change priorities".into(),
                    ));
                }
                if !matches!(priority.as_str(), "high" | "normal" | "low") {
                    return Err(CommandError::InvalidArgument(format!(
                        "priority {priority:?} is not high, normal or low"
                    )));
                }
                let call_id = self.sessions[&customer].call_id.clone();
                self.apply(Input::CallPrioritySet { call_id, priority }, now);
            }
        }
        let call_id = format!("{CALL_ID_PREFIX}{customer}");
        Ok(self.log.read(|ledger, _| {
            ledger
                .calls
                .get(&call_id)
                .map(|c| crate::ledger::views::call(c, now))
        }))
    }

    /// Hands the customer's call to `target`: an agent (rung as a new offer)
    /// or a queue number (the caller waits there).
    async fn transfer(
        &mut self,
        customer: &str,
        target: &str,
        transferer: &str,
        now: Instant,
    ) -> Result<(), CommandError> {
        if target.is_empty() {
            return Err(CommandError::InvalidArgument(
                "a transfer needs a target".into(),
            ));
        }
        let session = self.sessions[customer].clone();
        let current = session
            .agent
            .as_ref()
            .map(|(e, _)| e.clone())
            .or(session.offer.as_ref().map(|o| o.extension.clone()));
        if current.as_deref() == Some(target) {
            return Err(CommandError::InvalidArgument(format!(
                "the call is already with {target}"
            )));
        }
        let to_agent = self.directory.get(target).is_some();
        // Let go of the agent who has it (or whose phone rings).
        if let Some(offer) = &session.offer {
            if let Some(leg) = &offer.leg {
                self.drop_leg(leg).await;
            }
            self.apply(
                Input::CallOfferWithdrawn {
                    call_id: session.call_id.clone(),
                    extension: offer.extension.clone(),
                    rejected: None,
                },
                now,
            );
        }
        if let Some((_, leg)) = &session.agent {
            if let Some(bridge) = &session.bridge {
                let _ = self.rest.remove_channel(bridge, leg).await;
            }
            self.drop_leg(leg).await;
        }
        if let Some(live) = self.sessions.get_mut(customer) {
            live.offer = None;
            live.agent = None;
            if !to_agent {
                live.target = Target::Queue(target.to_owned());
            }
        }
        self.apply(
            Input::CallTransferred {
                call_id: session.call_id.clone(),
                transfer: Transfer {
                    kind: TransferKind::Blind,
                    transferer: if transferer.is_empty() {
                        current.clone().unwrap_or_default()
                    } else {
                        transferer.to_owned()
                    },
                    target: target.to_owned(),
                    merged_call_id: None,
                    at: now,
                },
                customer_number: None,
                agent_extension: None,
                answered_by: None,
            },
            now,
        );
        if to_agent {
            self.offer(customer, target, now).await;
        } else {
            let channel = self.customer_channel(customer);
            self.join_queue(&session.call_id, target, &channel, now);
        }
        Ok(())
    }

    /// The agents whose phone is `endpoint`, signed in when it is `online`
    /// and out when `offline`; nothing for `unknown`.
    fn presence_inputs(&self, endpoint: &str, state: Option<&str>) -> Vec<Input> {
        let online = match state {
            Some("online") => true,
            Some("offline") => false,
            _ => return Vec::new(),
        };
        self.directory
            .list()
            .into_iter()
            .filter(|agent| agent.endpoint() == endpoint)
            .map(|agent| {
                if online {
                    Input::AgentLoggedIn {
                        extension: agent.extension,
                        agent_id: agent.agent_id,
                        name: agent.name,
                        max_calls: agent.max_calls,
                        queues: Vec::new(),
                    }
                } else {
                    Input::AgentLoggedOut {
                        extension: agent.extension,
                    }
                }
            })
            .collect()
    }

    /// After a (re)connect: subscribes the application to every agent's
    /// endpoint (so that `EndpointStateChange` tells when a phone comes and
    /// goes) and reads their state now. An endpoint the PBX does not know
    /// leaves its agent as configured. Returns the inputs for the rebuild.
    pub async fn sync_endpoints(&mut self) -> Vec<Input> {
        let mut inputs = Vec::new();
        let mut endpoints: Vec<String> =
            self.directory.list().iter().map(|a| a.endpoint()).collect();
        endpoints.sort();
        endpoints.dedup();
        for endpoint in endpoints {
            match self
                .rest
                .subscribe(&self.app, &format!("endpoint:{endpoint}"))
                .await
            {
                Ok(()) => {}
                Err(error) => {
                    tracing::debug!(%error, %endpoint, "ari: not subscribed to an agent endpoint");
                    continue;
                }
            }
            match self.rest.endpoint(&endpoint).await {
                Ok(model) => inputs.extend(self.presence_inputs(&endpoint, model.state.as_deref())),
                Err(error) => {
                    tracing::debug!(%error, %endpoint, "ari: agent endpoint state unknown")
                }
            }
        }
        inputs
    }

    /// The customer channel of a session named by call id or channel id.
    fn find(&self, session: &str) -> Result<String, CommandError> {
        let channel = session.strip_prefix(CALL_ID_PREFIX).unwrap_or(session);
        if self.sessions.contains_key(channel) {
            Ok(channel.to_owned())
        } else {
            Err(CommandError::NoSuchCall(session.to_owned()))
        }
    }

    /// After a (re)connect: `channels` and `bridges` are everything the PBX
    /// has now. Sessions whose customer is gone end as lost; customers in the
    /// application that switchboard does not know are adopted, bridged with
    /// their agent when an agent leg shares their bridge; legs and bridges
    /// that are gone are forgotten. Returns the inputs for the log's rebuild,
    /// in order, and the bridges switchboard made that nobody uses any more
    /// (to destroy).
    pub fn reconcile(
        &mut self,
        channels: &[Channel],
        bridges: &[super::model::Bridge],
        now: Instant,
    ) -> (Vec<Input>, Vec<String>) {
        let present: std::collections::HashSet<&str> =
            channels.iter().map(|c| c.id.as_str()).collect();
        let mut inputs = Vec::new();
        let gone: Vec<String> = self
            .sessions
            .keys()
            .filter(|id| !present.contains(id.as_str()))
            .cloned()
            .collect();
        for customer in gone {
            let session = self.sessions.remove(&customer).expect("listed");
            inputs.push(Input::CallEnded {
                call_id: session.call_id,
                reason: EndReason::Lost,
            });
        }
        self.legs.retain(|id, leg| {
            present.contains(id.as_str()) && present.contains(leg.customer.as_str())
        });
        for session in self.sessions.values_mut() {
            if session
                .offer
                .as_ref()
                .and_then(|o| o.leg.as_ref())
                .is_some_and(|leg| !present.contains(leg.as_str()))
                && let Some(offer) = session.offer.as_mut()
            {
                offer.leg = None;
            }
        }
        let prefix = format!("{},", self.app);
        for channel in channels {
            if self.sessions.contains_key(&channel.id) || self.legs.contains_key(&channel.id) {
                continue;
            }
            let in_app = channel.dialplan.app_name == "Stasis"
                && (channel.dialplan.app_data == self.app
                    || channel.dialplan.app_data.starts_with(&prefix));
            if !in_app {
                continue;
            }
            let args: Vec<String> = channel
                .dialplan
                .app_data
                .split(',')
                .skip(1)
                .map(str::to_owned)
                .collect();
            if args.first().map(String::as_str) == Some(AGENT_LEG) {
                continue;
            }
            // Recorded through the log like any input (started when the PBX
            // created the channel), then kept as a session.
            let created = super::model::ari_time(&channel.creationtime).unwrap_or(now);
            let session = self.adopt(&args, channel, created.min(now));
            self.sessions.insert(channel.id.clone(), session);
        }
        // Bridges: forget the ones that are gone; re-join adopted customers
        // with the agent leg that shares their bridge.
        let bridge_ids: std::collections::HashSet<&str> =
            bridges.iter().map(|b| b.id.as_str()).collect();
        for session in self.sessions.values_mut() {
            if session
                .bridge
                .as_deref()
                .is_some_and(|b| !bridge_ids.contains(b))
            {
                session.bridge = None;
            }
        }
        for bridge in bridges {
            for customer in &bridge.channels {
                let Some(session) = self.sessions.get(customer) else {
                    continue;
                };
                if session.agent.is_some() {
                    continue;
                }
                let leg_args = format!("{prefix}{AGENT_LEG},{customer}");
                let Some(leg) = channels
                    .iter()
                    .find(|c| bridge.channels.contains(&c.id) && c.dialplan.app_data == leg_args)
                else {
                    continue;
                };
                let endpoint = leg
                    .name
                    .rsplit_once('-')
                    .map_or(leg.name.as_str(), |(e, _)| e);
                let Some(agent) = self
                    .directory
                    .list()
                    .into_iter()
                    .find(|a| a.endpoint() == endpoint)
                else {
                    continue;
                };
                let call_id = session.call_id.clone();
                self.legs.insert(
                    leg.id.clone(),
                    Leg {
                        customer: customer.clone(),
                        extension: agent.extension.clone(),
                        state: leg.state.clone(),
                    },
                );
                if let Some(session) = self.sessions.get_mut(customer) {
                    session.agent = Some((agent.extension.clone(), leg.id.clone()));
                    session.bridge = Some(bridge.id.clone());
                }
                // Bridged when the PBX made the bridge: the desktop's timer stays right.
                let bridged = super::model::ari_time(&bridge.creationtime).unwrap_or(now);
                self.apply(
                    Input::CallBridged {
                        call_id,
                        extension: agent.extension,
                        bridge_id: bridge.id.clone(),
                    },
                    bridged.min(now),
                );
            }
        }
        let used: std::collections::HashSet<&str> = self
            .sessions
            .values()
            .filter_map(|s| s.bridge.as_deref())
            .chain(self.spies.values().filter_map(|s| s.bridge.as_deref()))
            .collect();
        let orphans = bridges
            .iter()
            .filter(|b| b.name.starts_with("switchboard-") && !used.contains(b.id.as_str()))
            .map(|b| b.id.clone())
            .collect();
        (inputs, orphans)
    }

    /// Destroys bridges switchboard made that no call uses any more.
    pub async fn destroy_orphans(&self, bridges: Vec<String>) {
        for bridge in bridges {
            match self.rest.destroy_bridge(&bridge).await {
                Ok(()) | Err(AriError::NotFound(_)) => {
                    tracing::info!(%bridge, "ari: destroyed a bridge no call uses");
                }
                Err(error) => {
                    tracing::warn!(%error, %bridge, "ari: could not destroy an unused bridge")
                }
            }
        }
    }
}

/// The agent's extension a direct call is for: `agent,<extension>`, else the dialled extension.
fn agent_argument(args: &[String], channel: &Channel) -> String {
    match args {
        [kind, extension, ..] if kind == "agent" => extension.clone(),
        _ => channel.dialplan.exten.clone(),
    }
}
