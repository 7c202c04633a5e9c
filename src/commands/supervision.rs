//! Supervisor actions: monitor, whisper and barge (seed 002). Each is an AMI
//! `Originate` of the supervisor's own phone into `spy-monitor`,
//! `spy-whisper` or `spy-barge`, whose dialplan runs `ChanSpy` on the agent
//! (`q`, `qw`, `qB`). The same function serves Socket.IO and gRPC; every
//! outcome is published as `supervisor_action`, an accepted one opens a spy
//! session in the ledger, and all of them go to the audit table.

use crate::sources::ami::client::AmiError;
use std::sync::Arc;

use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::ledger::model::{Input, SpyMode, SpySession};
use crate::log::EventLog;
use crate::proto::v1 as pb;
use crate::sources::ami::client::AmiHandle;
use crate::sources::ari::bridge::BridgeHandle;
use crate::store::{Store, SupervisorActionRow};
use crate::time::to_timestamp;

/// The supervision service: checks a supervisor's order and carries it out
/// on the PBX (an AMI `Originate`, or the ARI agent bridge's snoop).
pub struct Supervision {
    log: Arc<EventLog>,
    store: Store,
    ami: Option<AmiHandle>,
    bridge: Option<BridgeHandle>,
    default_extension: Option<String>,
}

impl Supervision {
    /// Supervision over the PBX connections configured (`ami`, `bridge`);
    /// `default_extension` rings when a supervisor's token names no phone.
    pub fn new(
        log: Arc<EventLog>,
        store: Store,
        ami: Option<AmiHandle>,
        bridge: Option<BridgeHandle>,
        default_extension: Option<String>,
    ) -> Self {
        Supervision {
            log,
            store,
            ami,
            bridge,
            default_extension,
        }
    }
}

/// What a supervisor asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpyOrder {
    /// Monitor, whisper or barge.
    pub mode: SpyMode,
    /// The agent.
    pub agent_extension: String,
    /// The call's AMI Uniqueid, when named (monitor).
    pub call_unique_id: String,
    /// The supervisor's phone, when named; else the token's, else the configured one.
    pub supervisor_extension: String,
}

impl SpyOrder {
    /// The order a `supervisor:monitor`, `:whisper` or `:barge` event's
    /// request gives in `mode`.
    pub fn of(mode: SpyMode, request: pb::SpyRequest) -> SpyOrder {
        SpyOrder {
            mode,
            agent_extension: request.agent_extension,
            call_unique_id: request.call_unique_id,
            supervisor_extension: request.supervisor_extension,
        }
    }
}

/// The dialplan context of a mode.
pub fn context(mode: SpyMode) -> &'static str {
    match mode {
        SpyMode::Monitor => "spy-monitor",
        SpyMode::Whisper => "spy-whisper",
        SpyMode::Barge => "spy-barge",
    }
}

impl Supervision {
    /// The AMI way: an `Originate` of the supervisor's phone into the `spy-*` context (ChanSpy).
    async fn originate_spy(
        &self,
        order: &SpyOrder,
        agent_extension: &str,
        supervisor_extension: &str,
        action_id: &str,
    ) -> Result<(), Error> {
        let Some(ami) = &self.ami else {
            return Err(Error::Unavailable(
                "the AMI source is not configured (AMI_HOST)".into(),
            ));
        };
        let channel = format!("PJSIP/{supervisor_extension}");
        let caller_id = format!("Supervisor <{supervisor_extension}>");
        let answer = ami
            .send(
                "Originate",
                &[
                    ("Channel", &channel),
                    ("Context", context(order.mode)),
                    ("Exten", agent_extension),
                    ("Priority", "1"),
                    ("CallerID", &caller_id),
                    ("Timeout", "30000"),
                    ("Async", "true"),
                    ("Variable", &format!("SWITCHBOARD_SPY={action_id}")),
                ],
            )
            .await;
        match answer {
            Ok(reply) if reply.is_success() => Ok(()),
            Ok(reply) => Err(Error::FailedPrecondition(format!(
                "the PBX refused the originate: {}",
                reply.response.get("Message").unwrap_or("no reason given")
            ))),
            // A field the PBX could not take (a line break in it) is the
            // request's fault, not a PBX outage.
            Err(AmiError::Invalid(reason)) => Err(Error::InvalidArgument(format!(
                "the supervisor's phone or the call cannot be dialled: {reason}"
            ))),
            Err(error) => Err(Error::from_dependency(
                "the phone system did not answer",
                error,
            )),
        }
    }

    /// Carries out `order` for `principal`: checks, then the `Originate` (AMI)
    /// or the snoop (a call of the ARI agent bridge).
    /// Answers the action as accepted, or a clear error: not a supervisor, no
    /// such agent, agent not on a call, no supervisor phone, AMI down, PBX refusal.
    pub async fn spy(
        &self,
        principal: &Principal,
        order: SpyOrder,
    ) -> Result<pb::SupervisorAction, Error> {
        principal.require(
            &[Role::Supervisor, Role::Admin],
            "monitor, whisper or barge",
        )?;
        let agent_extension = order.agent_extension.trim().to_owned();
        if agent_extension.is_empty() {
            return Err(Error::InvalidArgument("agentExtension is required".into()));
        }
        let supervisor_extension = [
            Some(order.supervisor_extension.trim().to_owned()).filter(|e| !e.is_empty()),
            principal.claims.extension.clone(),
            self.default_extension.clone(),
        ]
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| {
            Error::InvalidArgument(
                "no supervisor phone: put an extension in the token, pass supervisorExtension, or set SUPERVISOR_EXTENSION".into(),
            )
        })?;
        let call_id = self.log.read(|ledger, _| {
            let agent = ledger
                .agents
                .get(&agent_extension)
                .filter(|a| a.logged_in)
                .ok_or_else(|| {
                    Error::NotFound(format!("no agent {agent_extension} is logged in"))
                })?;
            if agent.call_ids.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "agent {agent_extension} is not on a call"
                )));
            }
            let wanted = order.call_unique_id.trim();
            if wanted.is_empty() {
                return Ok(agent.call_ids[0].clone());
            }
            agent
                .call_ids
                .iter()
                .find(|id| {
                    ledger
                        .calls
                        .get(*id)
                        .is_some_and(|c| c.uniqueid() == wanted || c.call_id == wanted)
                })
                .cloned()
                .ok_or_else(|| {
                    Error::NotFound(format!("agent {agent_extension} is not on call {wanted}"))
                })
        })?;
        let action_id = uuid::Uuid::new_v4().simple().to_string();
        let now = chrono::Utc::now();
        let outcome = match &self.bridge {
            // A call of the ARI agent bridge: a snoop on the agent's leg, bridged with the supervisor's phone.
            Some(bridge) if call_id.starts_with(crate::sources::ari::bridge::CALL_ID_PREFIX) => {
                bridge
                    .send(crate::sources::ari::bridge::Command {
                        session: call_id.clone(),
                        kind: crate::sources::ari::bridge::CommandKind::Spy {
                            mode: order.mode,
                            supervisor_extension: supervisor_extension.clone(),
                            spy_id: action_id.clone(),
                        },
                        actor: principal.clone(),
                    })
                    .await
                    .map(drop)
                    .map_err(Error::from)
            }
            _ => {
                self.originate_spy(&order, &agent_extension, &supervisor_extension, &action_id)
                    .await
            }
        };
        let mode = crate::ledger::views::spy_mode(order.mode);
        let action = pb::SupervisorAction {
            action_id: action_id.clone(),
            supervisor: principal.claims.sub.clone(),
            supervisor_extension: supervisor_extension.clone(),
            mode: mode as i32,
            agent_extension: agent_extension.clone(),
            call_unique_id: order.call_unique_id.clone(),
            status: if outcome.is_ok() {
                pb::SupervisorActionStatus::Accepted
            } else {
                pb::SupervisorActionStatus::Failed
            } as i32,
            message: outcome
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
            timestamp: Some(to_timestamp(now)),
        };
        self.log.publish(
            pb::event::Payload::SupervisorAction(action.clone()),
            String::new(),
            now,
        );
        if outcome.is_ok() {
            self.log.apply(
                Input::SpyStarted {
                    session: SpySession {
                        session_id: action_id.clone(),
                        supervisor: principal.claims.sub.clone(),
                        supervisor_extension: supervisor_extension.clone(),
                        mode: order.mode,
                        agent_extension: agent_extension.clone(),
                        call_id: call_id.clone(),
                        since: now,
                    },
                },
                now,
            );
        }
        let audit = SupervisorActionRow {
            action_id,
            supervisor: principal.claims.sub.clone(),
            supervisor_extension,
            mode: context(order.mode)
                .trim_start_matches(crate::sources::ami::translate::SPY_CONTEXT_PREFIX)
                .into(),
            agent_extension,
            call_id,
            status: if outcome.is_ok() {
                "accepted"
            } else {
                "failed"
            }
            .into(),
            message: action.message.clone(),
            at_ms: now.timestamp_millis(),
        };
        if let Err(error) = self.store.insert_supervisor_action(&audit).await {
            tracing::error!(%error, action = %audit.action_id, "cannot store the supervisor action audit record");
        }
        tracing::info!(
            supervisor = %audit.supervisor,
            mode = %audit.mode,
            agent = %audit.agent_extension,
            status = %audit.status,
            "supervisor action"
        );
        outcome.map(|()| action)
    }
}
