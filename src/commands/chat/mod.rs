//! Chat between the customer widget and the agent dashboards (seed 001):
//! conversations and messages, stored first and emitted after; assignment to
//! the online agent with the fewest open conversations; reassignment when an
//! agent goes offline; the persisted system mode. The HTTP API, the gRPC
//! `ChatService` and the Socket.IO events all call these functions.

mod desk;
pub mod presence;
mod requests;

pub use desk::{ChatDesk, PresenceNews};

use std::time::Duration;

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::auth::{Principal, Role, unix_now};
use crate::error::Error;
use crate::log::EventLog;
use crate::proto::v1::{self as pb, event::Payload};
use crate::store::Store;
use crate::store::{ConversationRow, MessageRow};
use crate::time::{Instant, from_millis, to_timestamp};

/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// How long a customer's token is valid.
pub const CUSTOMER_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// The setting that keeps the system mode across restarts.
pub const SYSTEM_MODE_SETTING: &str = "system_mode";

/// The chat service: what the HTTP API, the gRPC `ChatService` and the
/// Socket.IO chat events call. It owns the chat desk and what it needs to
/// store and publish.
pub struct Chat {
    log: Arc<EventLog>,
    store: Store,
    auth: Authenticator,
    desk: ChatDesk,
}

impl Chat {
    /// The chat over `store`, publishing to `log`, minting customers' tokens with `auth`.
    pub fn new(log: Arc<EventLog>, store: Store, auth: Authenticator, desk: ChatDesk) -> Self {
        Chat {
            log,
            store,
            auth,
            desk,
        }
    }

    /// The desk: who is online.
    pub fn desk(&self) -> &ChatDesk {
        &self.desk
    }
}

pub use crate::store::VOICE_AI_CHANNEL;

/// Conversations anyone (no token) may start from one address per minute.
pub const ANONYMOUS_STARTS_PER_MINUTE: u32 = 10;

/// Anonymous starts per address, counted per minute.
#[derive(Debug, Default)]
struct StartLimiter {
    window_start: Option<std::time::Instant>,
    counts: std::collections::HashMap<std::net::IpAddr, u32>,
}

impl StartLimiter {
    fn admit(&mut self, address: std::net::IpAddr, now: std::time::Instant) -> Result<(), Error> {
        let window = Duration::from_secs(60);
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= window {
            // A new minute: every address starts afresh (and the map stays small).
            self.window_start = Some(now);
            self.counts.clear();
        }
        let count = self.counts.entry(address).or_default();
        if *count >= ANONYMOUS_STARTS_PER_MINUTE {
            let start = self.window_start.unwrap_or(now);
            let retry = window.saturating_sub(now.duration_since(start)).as_secs() + 1;
            return Err(Error::ResourceExhausted(format!(
                "too many conversations started from this address; retry in {retry} s"
            )));
        }
        *count += 1;
        Ok(())
    }
}

/// The longest customer name, e-mail and phone a conversation takes, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// See [`MAX_NAME_CHARS`].
pub const MAX_EMAIL_CHARS: usize = 254;
/// See [`MAX_NAME_CHARS`].
pub const MAX_PHONE_CHARS: usize = 32;

/// Checks every field of a conversation start against its bound, before
/// anything is stored: a clear refusal naming the field.
pub fn check_start(request: &StartRequest) -> Result<(), Error> {
    let too_long = |field: &str, value: &str, max: usize| {
        (value.trim().chars().count() > max)
            .then(|| Error::InvalidArgument(format!("{field} has more than {max} characters")))
    };
    if let Some(error) = too_long("customerName", &request.customer_name, MAX_NAME_CHARS)
        .or_else(|| too_long("customerEmail", &request.customer_email, MAX_EMAIL_CHARS))
        .or_else(|| too_long("customerPhone", &request.customer_phone, MAX_PHONE_CHARS))
        .or_else(|| too_long("firstMessage", &request.first_message, MAX_MESSAGE_CHARS))
    {
        return Err(error);
    }
    let phone = request.customer_phone.trim();
    if !phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
    {
        return Err(Error::InvalidArgument(
            "customerPhone takes digits, spaces and + - ( ) . only".into(),
        ));
    }
    Ok(())
}

/// What the widget sends to start a conversation.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// The customer's name.
    pub customer_name: String,
    /// The customer's e-mail.
    pub customer_email: String,
    /// The customer's phone.
    pub customer_phone: String,
    /// A first message, if any.
    pub first_message: String,
    /// The tenant.
    pub tenant: String,
    /// For a start without a token, the address it came from (such starts
    /// are limited per address).
    pub anonymous_from: Option<std::net::IpAddr>,
}

impl StartRequest {
    /// The start `request` asks for, by `caller` (a staff or client token
    /// may come along, a tenant's widget), else anonymously from `peer`
    /// (such starts are limited per address).
    pub fn of(
        request: pb::StartConversationRequest,
        caller: Option<&Principal>,
        peer: Option<std::net::IpAddr>,
    ) -> StartRequest {
        StartRequest {
            customer_name: request.customer_name,
            customer_email: request.customer_email,
            customer_phone: request.customer_phone,
            first_message: request.first_message,
            tenant: caller
                .and_then(Principal::forced_tenant)
                .unwrap_or_default()
                .to_owned(),
            anonymous_from: if caller.is_some() { None } else { peer },
        }
    }
}

/// The chat agent id of a principal: the token's subject.
fn agent_id(principal: &Principal) -> &str {
    &principal.claims.sub
}

fn status_name(status: pb::ConversationStatus) -> &'static str {
    match status {
        pb::ConversationStatus::Assigned => "assigned",
        pb::ConversationStatus::Closed => "closed",
        _ => "open",
    }
}

fn status_of(name: &str) -> pb::ConversationStatus {
    match name {
        "assigned" => pb::ConversationStatus::Assigned,
        "closed" => pb::ConversationStatus::Closed,
        "open" => pb::ConversationStatus::Open,
        _ => pb::ConversationStatus::Unspecified,
    }
}

fn sender_of(name: &str) -> pb::SenderType {
    match name {
        "agent" => pb::SenderType::Agent,
        "assistant" => pb::SenderType::Assistant,
        "system" => pb::SenderType::System,
        "customer" => pb::SenderType::Customer,
        _ => pb::SenderType::Unspecified,
    }
}

/// The contract's conversation.
pub fn conversation(row: &ConversationRow, last_message: &str) -> pb::Conversation {
    pb::Conversation {
        id: row.id.clone(),
        status: status_of(&row.status) as i32,
        customer_name: row.customer_name.clone(),
        customer_email: row.customer_email.clone(),
        customer_phone: row.customer_phone.clone(),
        assigned_agent_id: row.assigned_agent_id.clone().unwrap_or_default(),
        channel: row.channel.clone(),
        tenant: row.tenant.clone(),
        created_at: Some(to_timestamp(from_millis(row.created_at_ms))),
        updated_at: Some(to_timestamp(from_millis(row.updated_at_ms))),
        last_message: last_message.to_owned(),
    }
}

/// The contract's message (`messageData`).
pub fn message(row: &MessageRow) -> pb::ChatMessage {
    pb::ChatMessage {
        id: row.id.clone(),
        conversation_id: row.conversation_id.clone(),
        sender_type: sender_of(&row.sender_type) as i32,
        sender_id: row.sender_id.clone(),
        sender_name: row.sender_name.clone(),
        content: row.content.clone(),
        timestamp: Some(to_timestamp(from_millis(row.created_at_ms))),
    }
}

/// The agent of `loads` with the fewest open conversations (ties: the lowest
/// id), counted one more for what it is about to get.
fn take_least_loaded(loads: &mut [(String, usize)]) -> Option<String> {
    let least = loads
        .iter_mut()
        .min_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)))?;
    least.1 += 1;
    Some(least.0.clone())
}

/// Checks that `principal` may see and write to `row`: a customer their own
/// conversation, an agent theirs or an unassigned one, staff any.
fn may_use(principal: &Principal, row: &ConversationRow) -> Result<(), Error> {
    let allowed = match principal.role() {
        Role::Customer => principal.customer_conversation() == Some(row.id.as_str()),
        // A voice-AI conversation's assignee is the provider's agent, whose
        // ids are not chat agents' ids: no chat agent's token reaches it.
        Role::Agent => {
            row.channel != VOICE_AI_CHANNEL
                && row
                    .assigned_agent_id
                    .as_deref()
                    .is_none_or(|a| a == agent_id(principal))
        }
        Role::Supervisor | Role::Admin => true,
        Role::Client => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "conversation {} is not yours",
            row.id
        )))
    }
}

impl Chat {
    /// Open conversations per online agent (zero for those with none), except `except`.
    async fn loads(&self, except: Option<&str>) -> Result<Vec<(String, usize)>, Error> {
        let online = self.desk.presence.lock().online();
        let mut loads: Vec<(String, usize)> = online
            .into_iter()
            .filter(|a| Some(a.as_str()) != except)
            .map(|a| (a, 0))
            .collect();
        if loads.is_empty() {
            return Ok(loads);
        }
        for (_, assigned) in self.store.open_conversations().await? {
            if let Some(load) = loads
                .iter_mut()
                .find(|(agent, _)| Some(agent.as_str()) == assigned.as_deref())
            {
                load.1 += 1;
            }
        }
        Ok(loads)
    }

    /// Starts a conversation for the widget: stored, assigned to the least loaded
    /// online agent (or left open for anyone), announced (`new-conversation`),
    /// and the first message sent. Returns it with the customer's token.
    pub async fn start(&self, request: StartRequest) -> Result<(pb::Conversation, String), Error> {
        check_start(&request)?;
        if let Some(address) = request.anonymous_from {
            self.desk.admit_anonymous_start(address)?;
        }
        let name = request.customer_name.trim();
        let now = chrono::Utc::now();
        let id = format!("conv-{}", uuid::Uuid::new_v4().simple());
        let guard = self.desk.assigning.lock().await;
        let agent = take_least_loaded(&mut self.loads(None).await?);
        let row = ConversationRow {
            id: id.clone(),
            tenant: request.tenant.clone(),
            status: if agent.is_some() { "assigned" } else { "open" }.into(),
            channel: "chat".into(),
            customer_name: name.to_owned(),
            customer_email: request.customer_email.trim().to_owned(),
            customer_phone: request.customer_phone.trim().to_owned(),
            assigned_agent_id: agent,
            created_at_ms: now.timestamp_millis(),
            updated_at_ms: now.timestamp_millis(),
        };
        self.store.insert_conversation(&row).await?;
        drop(guard);
        let token = self
            .auth
            .mint_customer(&id, CUSTOMER_TOKEN_TTL, unix_now())?;
        let view = conversation(&row, "");
        self.log.publish(
            Payload::NewConversation(pb::NewConversation {
                conversation_id: id.clone(),
                conversation: Some(view.clone()),
                timestamp: Some(to_timestamp(now)),
            }),
            row.tenant.clone(),
            now,
        );
        if !request.first_message.trim().is_empty() {
            let customer = self.auth.verify(&token)?;
            self.send(&customer, &id, &request.first_message, None)
                .await?;
        }
        Ok((view, token))
    }

    /// The conversation `id`, if `principal` may use it.
    pub async fn conversation_for(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<ConversationRow, Error> {
        let row = self
            .store
            .conversation(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("conversation {id}")))?;
        may_use(principal, &row)?;
        Ok(row)
    }

    /// Stores a message, then emits it (`new-message` to agents; `agent-message`
    /// to the conversation for agents' messages). `message_id` makes a retry
    /// idempotent: the same id is stored and emitted once, and the stored
    /// message is returned again.
    pub async fn send(
        &self,
        principal: &Principal,
        conversation_id: &str,
        content: &str,
        message_id: Option<&str>,
    ) -> Result<pb::ChatMessage, Error> {
        let content = content.trim();
        let length = content.chars().count();
        if length == 0 || length > MAX_MESSAGE_CHARS {
            return Err(Error::InvalidArgument(format!(
                "a message has 1 to {MAX_MESSAGE_CHARS} characters"
            )));
        }
        let id = match message_id.map(str::trim).filter(|i| !i.is_empty()) {
            Some(id) if id.len() > 128 => {
                return Err(Error::InvalidArgument("message id too long".into()));
            }
            Some(id) => id.to_owned(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let row = self.conversation_for(principal, conversation_id).await?;
        let now = chrono::Utc::now();
        let (sender_type, sender_id, sender_name) = match principal.role() {
            Role::Customer => ("customer", String::new(), row.customer_name.clone()),
            _ => (
                "agent",
                agent_id(principal).to_owned(),
                principal.claims.sub.clone(),
            ),
        };
        let (stored, inserted) = self
            .store
            .insert_message(&MessageRow {
                id,
                conversation_id: row.id.clone(),
                sender_type: sender_type.into(),
                sender_id,
                sender_name,
                content: content.to_owned(),
                created_at_ms: now.timestamp_millis(),
                seq: 0,
            })
            .await?;
        if !inserted && (stored.content != content || stored.sender_type != sender_type) {
            // A retry sends the same message again; another message under
            // a stored one's id is a client's mistake, not a retry.
            return Err(Error::AlreadyExists(format!(
                "message id {} names another message of this conversation",
                stored.id
            )));
        }
        let view = message(&stored);
        if inserted {
            if principal.role() == Role::Agent {
                if self.desk.presence.lock().touch(agent_id(principal), now) {
                    self.desk.share(PresenceNews::Touched {
                        agent: agent_id(principal).to_owned(),
                        at: now,
                    });
                }
                if row.assigned_agent_id.is_none() {
                    // An agent answering an unassigned conversation takes it.
                    let agent = agent_id(principal).to_owned();
                    self.reassign_one(&row.id, None, Some(agent), "agent_replied", now)
                        .await?;
                }
            }
            self.log
                .publish(Payload::NewMessage(view.clone()), row.tenant.clone(), now);
        }
        Ok(view)
    }

    /// A page of conversations for `principal`: an agent's own and the
    /// unassigned ones, everything for staff.
    pub async fn list(
        &self,
        principal: &Principal,
        status: pb::ConversationStatus,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<pb::Conversation>, String), Error> {
        let agent = match principal.role() {
            Role::Agent => Some(agent_id(principal)),
            Role::Supervisor | Role::Admin => None,
            _ => {
                return Err(Error::PermissionDenied(
                    "only agents and supervisors list conversations".into(),
                ));
            }
        };
        let status = (status != pb::ConversationStatus::Unspecified).then(|| status_name(status));
        let size = i64::from(if page_size == 0 {
            50
        } else {
            page_size.min(500)
        });
        let page = self
            .store
            .conversations_page(status, agent, page_token, size)
            .await?;
        let out = page
            .conversations
            .iter()
            .map(|(row, last)| conversation(row, last))
            .collect();
        Ok((out, page.next))
    }

    /// One conversation and up to `limit` of its messages after place `after`.
    pub async fn history(
        &self,
        principal: &Principal,
        id: &str,
        after: i64,
        limit: u32,
    ) -> Result<(pb::Conversation, Vec<pb::ChatMessage>, i64), Error> {
        let row = self.conversation_for(principal, id).await?;
        let limit = i64::from(if limit == 0 { 100 } else { limit.min(1000) });
        let rows = self.store.messages_after(id, after, limit).await?;
        let next = rows.last().map_or(after, |m| m.seq);
        let last = rows.last().map_or(String::new(), |m| m.content.clone());
        Ok((
            conversation(&row, &last),
            rows.iter().map(message).collect(),
            next,
        ))
    }

    /// Moves one conversation to `to` (or back to the pool) and says so.
    async fn reassign_one(
        &self,
        id: &str,
        from: Option<String>,
        to: Option<String>,
        reason: &str,
        now: Instant,
    ) -> Result<pb::TicketReassignment, Error> {
        let status = if to.is_some() { "assigned" } else { "open" };
        self.store
            .assign_conversation(id, to.as_deref(), status, now.timestamp_millis())
            .await?;
        let moved = pb::TicketReassignment {
            conversation_id: id.to_owned(),
            from_agent_id: from.unwrap_or_default(),
            to_agent_id: to.unwrap_or_default(),
        };
        self.log.publish(
            Payload::TicketsReassigned(pb::TicketsReassigned {
                reassignments: vec![moved.clone()],
                reason: reason.to_owned(),
            }),
            String::new(),
            now,
        );
        Ok(moved)
    }

    /// A supervisor's bulk reassignment: every move applied, then one `tickets-reassigned`.
    pub async fn reassign(
        &self,
        principal: &Principal,
        moves: Vec<pb::TicketReassignment>,
        reason: &str,
    ) -> Result<Vec<pb::TicketReassignment>, Error> {
        principal.require(&[Role::Supervisor, Role::Admin], "reassign conversations")?;
        if moves.is_empty() {
            return Err(Error::InvalidArgument(
                "reassignments must list at least one move".into(),
            ));
        }
        let now = chrono::Utc::now();
        let mut applied = Vec::new();
        for moved in moves {
            let row = self
                .store
                .conversation(&moved.conversation_id)
                .await?
                .ok_or_else(|| {
                    Error::NotFound(format!("conversation {}", moved.conversation_id))
                })?;
            let to = (!moved.to_agent_id.is_empty()).then(|| moved.to_agent_id.clone());
            let status = if to.is_some() { "assigned" } else { "open" };
            self.store
                .assign_conversation(&row.id, to.as_deref(), status, now.timestamp_millis())
                .await?;
            applied.push(pb::TicketReassignment {
                conversation_id: row.id,
                from_agent_id: row.assigned_agent_id.unwrap_or_default(),
                to_agent_id: to.unwrap_or_default(),
            });
        }
        let reason = if reason.trim().is_empty() {
            "bulk_assignment"
        } else {
            reason.trim()
        };
        self.log.publish(
            Payload::TicketsReassigned(pb::TicketsReassigned {
                reassignments: applied.clone(),
                reason: reason.to_owned(),
            }),
            String::new(),
            now,
        );
        Ok(applied)
    }

    /// An agent's dashboard joined room `agents` from `socket`; whether the agent
    /// came online by it (and the new list was announced to the room).
    pub fn agent_joined(&self, agent: &str, name: &str, socket: &str) -> bool {
        let now = chrono::Utc::now();
        let update = {
            let mut presence = self.desk.presence.lock();
            presence
                .join(agent, name, socket, now)
                .then(|| presence.update())
        };
        self.desk.share(PresenceNews::Joined {
            agent: agent.to_owned(),
            name: name.to_owned(),
            socket: socket.to_owned(),
            at: now,
        });
        let Some(update) = update else {
            return false;
        };
        tracing::info!(%agent, "chat agent online");
        self.log
            .publish(Payload::ConnectedAgentsUpdate(update), String::new(), now);
        true
    }

    /// A heartbeat (or other activity) of `agent`; whether the agent is online.
    pub fn agent_active(&self, agent: &str) -> bool {
        let now = chrono::Utc::now();
        let online = self.desk.presence.lock().touch(agent, now);
        if online {
            self.desk.share(PresenceNews::Touched {
                agent: agent.to_owned(),
                at: now,
            });
        }
        online
    }

    /// A socket disconnected: agents whose last socket it was go offline.
    pub async fn socket_left(&self, socket: &str) {
        let gone = self.desk.presence.lock().leave(socket);
        self.desk.share(PresenceNews::Left {
            socket: socket.to_owned(),
        });
        self.went_offline(gone, "agent_disconnected").await;
    }

    /// Takes agents silent past the heartbeat timeout offline. Runs until `stop`.
    pub async fn expire_silent_agents(
        self: std::sync::Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            let timeout = chrono::Duration::from_std(self.desk.heartbeat_timeout)
                .unwrap_or(chrono::Duration::MAX);
            let Some(cutoff) = chrono::Utc::now().checked_sub_signed(timeout) else {
                continue;
            };
            if !self.log.writes() {
                // In a cluster the node that ingests expires silent agents,
                // once, and tells the others.
                continue;
            }
            let gone = self.desk.presence.lock().expire(cutoff);
            if !gone.is_empty() {
                self.desk.share(PresenceNews::Expired {
                    agents: gone.clone(),
                });
            }
            self.went_offline(gone, "heartbeat_timeout").await;
        }
    }

    /// Hands the open conversations of agents who went offline to the least
    /// loaded online agents (or back to the pool), says so, and updates the list.
    async fn went_offline(&self, gone: Vec<String>, reason: &str) {
        if gone.is_empty() {
            return;
        }
        let now = chrono::Utc::now();
        let update = self.desk.presence.lock().update();
        self.log
            .publish(Payload::ConnectedAgentsUpdate(update), String::new(), now);
        let _guard = self.desk.assigning.lock().await;
        let open = match self.store.open_conversations().await {
            Ok(open) => open,
            Err(error) => {
                tracing::error!(%error, "cannot read open conversations to reassign");
                return;
            }
        };
        // The agents still online (the gone ones already left the presence), counted once.
        let mut remaining = match self.loads(None).await {
            Ok(loads) => loads,
            Err(error) => {
                tracing::error!(%error, "cannot count the agents' open conversations");
                Vec::new()
            }
        };
        let mut moves = Vec::new();
        for (id, assigned) in open {
            let Some(from) = assigned.filter(|a| gone.contains(a)) else {
                continue;
            };
            let to = take_least_loaded(&mut remaining);
            let status = if to.is_some() { "assigned" } else { "open" };
            if let Err(error) = self
                .store
                .assign_conversation(&id, to.as_deref(), status, now.timestamp_millis())
                .await
            {
                tracing::error!(%error, conversation = %id, "cannot reassign a conversation");
                continue;
            }
            moves.push(pb::TicketReassignment {
                conversation_id: id,
                from_agent_id: from,
                to_agent_id: to.unwrap_or_default(),
            });
        }
        tracing::info!(agents = ?gone, moved = moves.len(), %reason, "chat agents offline");
        if !moves.is_empty() {
            self.log.publish(
                Payload::TicketsReassigned(pb::TicketsReassigned {
                    reassignments: moves,
                    reason: reason.to_owned(),
                }),
                String::new(),
                now,
            );
        }
    }

    /// Sets and stores the system mode (admins): `system-mode-update` to everyone in `agents`.
    pub async fn set_system_mode(&self, principal: &Principal, mode: &str) -> Result<u64, Error> {
        principal.require(&[Role::Admin], "set the system mode")?;
        let mode = mode.trim();
        if mode.is_empty() || mode.chars().count() > 64 {
            return Err(Error::InvalidArgument(
                "mode must be 1 to 64 characters".into(),
            ));
        }
        let now = chrono::Utc::now();
        self.store
            .put_setting(SYSTEM_MODE_SETTING, mode, now.timestamp_millis())
            .await?;
        let events = self.log.apply(
            crate::ledger::Input::SystemModeSet {
                mode: mode.to_owned(),
            },
            now,
        );
        Ok(events.last().map_or(0, |e| e.sequence))
    }
}

/// What a chat socket reports as it goes: typing, and the system mode it reads.
impl Chat {
    /// The system mode as it stands.
    pub fn system_mode(&self) -> String {
        self.log.read(|ledger, _| ledger.system_mode.clone())
    }

    /// `agent-typing` (`by_customer` false, from `dashboard_agent`'s
    /// dashboard) or `customer-typing`: checked (the side's role, a
    /// conversation it may use), then published to the log, which takes it
    /// to the conversation's other side.
    pub async fn typing(
        &self,
        principal: &Principal,
        dashboard_agent: Option<&str>,
        request: pb::TypingRequest,
        by_customer: bool,
    ) -> Result<(), Error> {
        if (principal.role() == Role::Customer) != by_customer {
            return Err(Error::PermissionDenied(format!(
                "{} is for the {}",
                if by_customer {
                    "customer-typing"
                } else {
                    "agent-typing"
                },
                if by_customer {
                    "customer widget"
                } else {
                    "agent dashboard"
                }
            )));
        }
        let conversation = request.conversation_id.trim().to_owned();
        if conversation.is_empty() {
            return Err(Error::InvalidArgument("conversationId is required".into()));
        }
        let tenant = self
            .conversation_for(principal, &conversation)
            .await?
            .tenant;
        let now = chrono::Utc::now();
        let payload = if by_customer {
            Payload::CustomerTypingStatus(pb::CustomerTypingStatus {
                conversation_id: conversation,
                is_typing: request.is_typing,
                timestamp: Some(to_timestamp(now)),
            })
        } else {
            if let Some(agent) = dashboard_agent {
                self.agent_active(agent);
            }
            Payload::AgentTypingStatus(pb::AgentTypingStatus {
                conversation_id: conversation,
                is_typing: request.is_typing,
                timestamp: Some(to_timestamp(now)),
            })
        };
        self.log.publish(payload, tenant, now);
        Ok(())
    }
}
