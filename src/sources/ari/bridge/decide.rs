//! The agent bridge's decisions that need no PBX: who may command a call
//! and whether its state allows the command, where a customer's call is
//! headed, what an agent's answer does, how a withdrawn offer goes on, how a
//! call ends (what it tells, what is left to clear), and which agents a
//! phone's presence signs in or out. Pure functions of what the bridge
//! knows, tested here without the simulator; the shell
//! ([`super::commands`], [`super::calls`]) carries them out with the REST
//! calls they name.

use crate::auth::{Principal, Role};
use crate::directory::AgentEntry;
use crate::ledger::Input;
use crate::ledger::finish;

use super::{CommandError, CommandKind, Leg, Offer, Session};
use crate::ledger::model::{EndReason, LeaveReason};
use crate::sources::ari::model::Channel;

/// Where a session's caller is headed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// An agent's extension.
    Agent,
    /// A queue, by number.
    Queue(String),
}

/// Where the caller of a channel that entered the application with `args`
/// is headed: `agent,…` an agent, `queue,<number>` that queue (the dialled
/// extension when no number is given); with neither, the dialled
/// extension's agent when there is one (`is_agent`), else the queue of
/// that number.
pub(super) fn target_of(
    args: &[String],
    channel: &Channel,
    is_agent: impl Fn(&str) -> bool,
) -> Target {
    match args.first().map(String::as_str) {
        Some("agent") => Target::Agent,
        Some("queue") => Target::Queue(
            args.get(1)
                .cloned()
                .unwrap_or_else(|| channel.dialplan.exten.clone()),
        ),
        _ if is_agent(&channel.dialplan.exten) => Target::Agent,
        _ => Target::Queue(channel.dialplan.exten.clone()),
    }
}

/// The agent's extension a direct call is for: `agent,<extension>`, else the dialled extension.
pub(super) fn agent_argument(args: &[String], channel: &Channel) -> String {
    match args {
        [kind, extension, ..] if kind == "agent" => extension.clone(),
        _ => channel.dialplan.exten.clone(),
    }
}

/// The Q.850 causes that mean the line was lost rather than hung up.
pub(super) fn lost_line(cause: Option<i32>) -> bool {
    matches!(cause, Some(27 | 38 | 41 | 42 | 47))
}

/// The agents of `agents` whose phone is `endpoint`, signed in when it is
/// `online` and out when `offline`; nothing for `unknown`.
pub(super) fn presence_inputs(
    agents: Vec<AgentEntry>,
    endpoint: &str,
    state: Option<&str>,
) -> Vec<Input> {
    let online = match state {
        Some("online") => true,
        Some("offline") => false,
        _ => return Vec::new(),
    };
    agents
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

/// What a command needs to know of its call.
#[derive(Debug, Clone, Default)]
pub(super) struct CallView {
    /// The agent whose phone rings with it.
    pub offered_to: Option<String>,
    /// The agent it is bridged with.
    pub bridged_with: Option<String>,
    /// The queue it waits in, for a queue call.
    pub queue: Option<String>,
}

/// Who is commanding a call, as far as the call is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authority {
    /// A supervisor or an admin.
    pub staff: bool,
    /// The call rings or is connected at the actor's own extension.
    pub is_mine: bool,
    /// The actor's extension (empty when the token names none).
    pub own_extension: String,
}

impl Authority {
    /// Who ends the call when this actor hangs it up: a supervisor on
    /// someone else's call, else the agent.
    pub fn hangup_by(&self) -> &'static str {
        if self.staff && !self.is_mine {
            finish::SUPERVISOR_HANGUP
        } else {
            finish::AGENT_HANGUP
        }
    }
}

/// Whether `actor` may command the call `session` at all: staff any call,
/// an agent one ringing or connected at their extension, nobody else.
pub(super) fn authority(
    actor: &Principal,
    session: &str,
    call: &CallView,
) -> Result<Authority, CommandError> {
    let role = actor.role();
    let staff = matches!(role, Role::Supervisor | Role::Admin);
    let own_extension = actor.claims.extension.clone().unwrap_or_default();
    let is_mine = !own_extension.is_empty()
        && (call.offered_to.as_deref() == Some(&own_extension)
            || call.bridged_with.as_deref() == Some(&own_extension));
    if staff || (role == Role::Agent && is_mine) {
        return Ok(Authority {
            staff,
            is_mine,
            own_extension,
        });
    }
    Err(CommandError::NotAllowed(if role == Role::Agent {
        format!("call {session} is not ringing or connected at your extension")
    } else {
        format!("role {} may not control calls", role.as_str())
    }))
}

/// What the bridge knows of the agents, for the checks.
pub(super) trait Agents {
    /// Whether the directory has an agent at `extension`.
    fn known(&self, extension: &str) -> bool;
    /// Whether the agent at `extension` can take one more call.
    fn has_room(&self, extension: &str) -> bool;
}

/// Whether the call's state allows `kind` by an actor with `authority`:
/// every refusal the command can meet before the PBX is asked, in the
/// order the shell met them.
pub(super) fn check(
    kind: &CommandKind,
    authority: &Authority,
    call: &CallView,
    agents: &impl Agents,
) -> Result<(), CommandError> {
    let staff_only = |what: &str| {
        if authority.staff {
            Ok(())
        } else {
            Err(CommandError::NotAllowed(format!("only supervisors {what}")))
        }
    };
    match kind {
        CommandKind::Answer => {
            let Some(extension) = &call.offered_to else {
                return Err(CommandError::WrongState(
                    "the call is not ringing an agent".into(),
                ));
            };
            if !agents.has_room(extension) {
                return Err(CommandError::WrongState(format!(
                    "agent {extension} is at capacity"
                )));
            }
            if !agents.known(extension) {
                return Err(CommandError::NoSuchAgent(extension.clone()));
            }
            Ok(())
        }
        CommandKind::Reject { .. } => match call.offered_to {
            Some(_) => Ok(()),
            None => Err(CommandError::WrongState(
                "only a ringing call can be rejected".into(),
            )),
        },
        CommandKind::Hangup => Ok(()),
        CommandKind::Hold(_) => match call.bridged_with {
            Some(_) => Ok(()),
            None => Err(CommandError::WrongState(
                "only a connected call can be held".into(),
            )),
        },
        CommandKind::Mute(_) => match call.bridged_with {
            Some(_) => Ok(()),
            None => Err(CommandError::WrongState(
                "only a connected call can be muted".into(),
            )),
        },
        CommandKind::Transfer { target } => {
            let target = target.trim();
            if target.is_empty() {
                return Err(CommandError::InvalidArgument(
                    "a transfer needs a target".into(),
                ));
            }
            let current = call.bridged_with.as_ref().or(call.offered_to.as_ref());
            if current.map(String::as_str) == Some(target) {
                return Err(CommandError::InvalidArgument(format!(
                    "the call is already with {target}"
                )));
            }
            Ok(())
        }
        CommandKind::Assign { extension } => {
            staff_only("assign queue calls")?;
            if call.queue.is_none() {
                return Err(CommandError::WrongState(
                    "the call is not a queue call".into(),
                ));
            }
            if call.offered_to.is_some() || call.bridged_with.is_some() {
                return Err(CommandError::WrongState(
                    "the call is already with an agent".into(),
                ));
            }
            if !agents.known(extension) {
                return Err(CommandError::NoSuchAgent(extension.clone()));
            }
            Ok(())
        }
        CommandKind::Spy { .. } => staff_only("listen in"),
        CommandKind::SetPriority { priority } => {
            staff_only("change priorities")?;
            if !matches!(priority.as_str(), "high" | "normal" | "low") {
                return Err(CommandError::InvalidArgument(format!(
                    "priority {priority:?} is not high, normal or low"
                )));
            }
            Ok(())
        }
    }
}

/// What an agent's leg answering does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    /// Nobody waits for this leg (the offer moved on, the call ended, or it
    /// is not this session's offer): hang it up.
    Drop,
    /// Bridge the customer with the agent: in the session's bridge, or a
    /// new one; the customer's line is answered first when not up yet.
    Bridge {
        existing: Option<String>,
        answer_customer: bool,
    },
}

/// What the answer of leg `leg_id` (known as `leg`) means for `session`.
pub(super) fn answer(session: Option<&Session>, leg: &Leg, leg_id: &str) -> Answer {
    let Some(session) = session else {
        return Answer::Drop;
    };
    let offered_here = session
        .offer
        .as_ref()
        .is_some_and(|o| o.extension == leg.extension && o.leg.as_deref() == Some(leg_id));
    if !offered_here {
        return Answer::Drop;
    }
    Answer::Bridge {
        existing: session.bridge.clone(),
        answer_customer: session.customer_state != "Up",
    }
}

/// What follows an offer withdrawn from an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterWithdrawal {
    /// A direct call has nobody else: the customer is hung up (`by`, with the
    /// Asterisk hangup reason `reason`).
    EndCustomer {
        by: &'static str,
        reason: &'static str,
    },
    /// A queue call waits in its queue again.
    Requeue(String),
}

/// An offer withdrawn: the leg to hang up, the input that tells it, and
/// what follows.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Withdrawal {
    pub leg: Option<String>,
    pub input: Input,
    pub then: AfterWithdrawal,
}

/// Withdraws `offer` from `session`: `rejected` with a reason (declined on
/// the phone, or by a command), else lapsed.
pub(super) fn withdrawal(session: &Session, offer: Offer, rejected: Option<String>) -> Withdrawal {
    let then = match &session.target {
        Target::Agent if rejected.is_some() => AfterWithdrawal::EndCustomer {
            by: finish::REJECTED,
            reason: "busy",
        },
        Target::Agent => AfterWithdrawal::EndCustomer {
            by: finish::NO_ANSWER,
            reason: "no_answer",
        },
        Target::Queue(queue) => AfterWithdrawal::Requeue(queue.clone()),
    };
    Withdrawal {
        leg: offer.leg,
        input: Input::CallOfferWithdrawn {
            call_id: session.call_id.clone(),
            extension: offer.extension,
            rejected,
        },
        then,
    }
}

/// How a session ends once its customer left the application: the inputs
/// that tell it, in order, what is left to clear at the PBX, and the call's
/// end, told once that is cleared.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ending {
    pub inputs: Vec<Input>,
    pub end: Input,
    /// The agent legs to hang up (the one ringing, the one bridged).
    pub legs: Vec<String>,
    pub bridge: Option<String>,
}

/// The end of `session`: hung up from switchboard's side (`ended_by`), or
/// by the customer, who abandoned a queue call nobody had taken, or lost
/// the line.
pub(super) fn ending(session: &Session) -> Ending {
    let call_id = &session.call_id;
    let mut inputs = Vec::new();
    match session.ended_by {
        Some(by) => inputs.push(Input::CallHungUp {
            call_id: call_id.clone(),
            by,
        }),
        None => {
            if let (Target::Queue(queue), None) = (&session.target, &session.agent) {
                inputs.push(Input::QueueCallerAbandoned {
                    queue: queue.clone(),
                    call_id: call_id.clone(),
                });
            }
            let reason = if lost_line(session.hangup_cause) {
                LeaveReason::NetworkIssue
            } else {
                LeaveReason::CustomerDisconnected
            };
            inputs.push(Input::CustomerLeft {
                call_id: call_id.clone(),
                reason,
            });
        }
    }
    let reason = if session.agent.is_some() {
        EndReason::Completed
    } else {
        match session.ended_by {
            Some(finish::REJECTED) => EndReason::Rejected,
            Some(finish::NO_ANSWER) => EndReason::NoAnswer,
            Some(_) => EndReason::Completed,
            None => EndReason::Abandoned,
        }
    };
    Ending {
        inputs,
        end: Input::CallEnded {
            call_id: call_id.clone(),
            reason,
        },
        legs: session
            .offer
            .iter()
            .filter_map(|o| o.leg.clone())
            .chain(session.agent.iter().map(|(_, leg)| leg.clone()))
            .collect(),
        bridge: session.bridge.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Claims;

    fn actor(role: Role, extension: Option<&str>) -> Principal {
        Principal {
            claims: Claims {
                sub: "someone".into(),
                role,
                extension: extension.map(str::to_owned),
                client_id: None,
                conversation_id: None,
                exp: u64::MAX,
                iat: 0,
            },
        }
    }

    /// Agents 1001 (room for one more call) and 1002 (at capacity).
    struct TwoAgents;

    impl Agents for TwoAgents {
        fn known(&self, extension: &str) -> bool {
            matches!(extension, "1001" | "1002")
        }
        fn has_room(&self, extension: &str) -> bool {
            extension == "1001"
        }
    }

    fn ringing(extension: &str) -> CallView {
        CallView {
            offered_to: Some(extension.into()),
            ..CallView::default()
        }
    }

    fn bridged(extension: &str) -> CallView {
        CallView {
            bridged_with: Some(extension.into()),
            ..CallView::default()
        }
    }

    fn waiting(queue: &str) -> CallView {
        CallView {
            queue: Some(queue.into()),
            ..CallView::default()
        }
    }

    fn staff() -> Authority {
        authority(
            &actor(Role::Supervisor, None),
            "ari-1",
            &CallView::default(),
        )
        .unwrap()
    }

    #[test]
    fn agents_command_their_own_calls_staff_any_and_nobody_else() {
        let call = ringing("1001");
        let mine = authority(&actor(Role::Agent, Some("1001")), "ari-1", &call).unwrap();
        assert!(mine.is_mine && !mine.staff);
        assert_eq!(mine.hangup_by(), finish::AGENT_HANGUP);
        let theirs = authority(&actor(Role::Agent, Some("1002")), "ari-1", &call).unwrap_err();
        assert_eq!(
            theirs,
            CommandError::NotAllowed(
                "call ari-1 is not ringing or connected at your extension".into()
            )
        );
        let client = authority(&actor(Role::Client, None), "ari-1", &call).unwrap_err();
        assert_eq!(
            client,
            CommandError::NotAllowed("role client may not control calls".into())
        );
        let supervisor = authority(&actor(Role::Supervisor, None), "ari-1", &call).unwrap();
        assert_eq!(supervisor.hangup_by(), finish::SUPERVISOR_HANGUP);
        // A supervisor who is also the agent on the call hangs up as the agent.
        let both = authority(&actor(Role::Admin, Some("1001")), "ari-1", &call).unwrap();
        assert_eq!(both.hangup_by(), finish::AGENT_HANGUP);
    }

    #[test]
    fn a_call_answers_rejects_holds_and_mutes_only_in_the_state_that_allows_it() {
        let staff = staff();
        assert!(check(&CommandKind::Answer, &staff, &ringing("1001"), &TwoAgents).is_ok());
        assert!(matches!(
            check(&CommandKind::Answer, &staff, &bridged("1001"), &TwoAgents),
            Err(CommandError::WrongState(_))
        ));
        assert_eq!(
            check(&CommandKind::Answer, &staff, &ringing("1002"), &TwoAgents),
            Err(CommandError::WrongState("agent 1002 is at capacity".into()))
        );
        let reject = CommandKind::Reject {
            reason: String::new(),
        };
        assert!(check(&reject, &staff, &ringing("1001"), &TwoAgents).is_ok());
        assert!(check(&reject, &staff, &bridged("1001"), &TwoAgents).is_err());
        for kind in [CommandKind::Hold(true), CommandKind::Mute(true)] {
            assert!(check(&kind, &staff, &bridged("1001"), &TwoAgents).is_ok());
            assert!(matches!(
                check(&kind, &staff, &ringing("1001"), &TwoAgents),
                Err(CommandError::WrongState(_))
            ));
        }
        assert!(check(&CommandKind::Hangup, &staff, &waiting("8000"), &TwoAgents).is_ok());
    }

    #[test]
    fn a_transfer_needs_a_target_other_than_who_has_the_call() {
        let staff = staff();
        let to = |target: &str| CommandKind::Transfer {
            target: target.into(),
        };
        assert!(check(&to("1002"), &staff, &bridged("1001"), &TwoAgents).is_ok());
        assert!(check(&to("8000"), &staff, &ringing("1001"), &TwoAgents).is_ok());
        assert_eq!(
            check(&to("  "), &staff, &bridged("1001"), &TwoAgents),
            Err(CommandError::InvalidArgument(
                "a transfer needs a target".into()
            ))
        );
        assert_eq!(
            check(&to(" 1001 "), &staff, &bridged("1001"), &TwoAgents),
            Err(CommandError::InvalidArgument(
                "the call is already with 1001".into()
            ))
        );
    }

    #[test]
    fn only_staff_assign_queue_calls_waiting_for_a_known_agent() {
        let assign = |extension: &str| CommandKind::Assign {
            extension: extension.into(),
        };
        let agent =
            authority(&actor(Role::Agent, Some("1001")), "ari-1", &ringing("1001")).unwrap();
        assert_eq!(
            check(&assign("1001"), &agent, &waiting("8000"), &TwoAgents),
            Err(CommandError::NotAllowed(
                "only supervisors assign queue calls".into()
            ))
        );
        let staff = staff();
        assert!(check(&assign("1001"), &staff, &waiting("8000"), &TwoAgents).is_ok());
        assert_eq!(
            check(&assign("1001"), &staff, &CallView::default(), &TwoAgents),
            Err(CommandError::WrongState(
                "the call is not a queue call".into()
            ))
        );
        let mut taken = waiting("8000");
        taken.offered_to = Some("1002".into());
        assert_eq!(
            check(&assign("1001"), &staff, &taken, &TwoAgents),
            Err(CommandError::WrongState(
                "the call is already with an agent".into()
            ))
        );
        assert_eq!(
            check(&assign("1009"), &staff, &waiting("8000"), &TwoAgents),
            Err(CommandError::NoSuchAgent("1009".into()))
        );
    }

    #[test]
    fn priorities_and_listening_in_are_for_staff_and_priorities_are_three() {
        let agent =
            authority(&actor(Role::Agent, Some("1001")), "ari-1", &bridged("1001")).unwrap();
        let priority = |p: &str| CommandKind::SetPriority { priority: p.into() };
        assert!(matches!(
            check(&priority("high"), &agent, &waiting("8000"), &TwoAgents),
            Err(CommandError::NotAllowed(_))
        ));
        let staff = staff();
        for p in ["high", "normal", "low"] {
            assert!(check(&priority(p), &staff, &waiting("8000"), &TwoAgents).is_ok());
        }
        assert!(matches!(
            check(&priority("urgent"), &staff, &waiting("8000"), &TwoAgents),
            Err(CommandError::InvalidArgument(_))
        ));
        let spy = CommandKind::Spy {
            mode: crate::ledger::model::SpyMode::Barge,
            supervisor_extension: "2001".into(),
            spy_id: "s1".into(),
        };
        assert!(check(&spy, &staff, &bridged("1001"), &TwoAgents).is_ok());
        assert_eq!(
            check(&spy, &agent, &bridged("1001"), &TwoAgents),
            Err(CommandError::NotAllowed(
                "only supervisors listen in".into()
            ))
        );
    }

    #[test]
    fn a_call_goes_to_the_agent_or_queue_its_arguments_or_extension_name() {
        let mut channel = Channel {
            id: "c1".into(),
            name: "PJSIP/trunk-1".into(),
            ..Channel::default()
        };
        channel.dialplan.exten = "1001".into();
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let is_agent = |e: &str| e == "1001";
        assert_eq!(
            target_of(&args(&["agent", "1002"]), &channel, is_agent),
            Target::Agent
        );
        assert_eq!(agent_argument(&args(&["agent", "1002"]), &channel), "1002");
        assert_eq!(agent_argument(&args(&[]), &channel), "1001");
        assert_eq!(
            target_of(&args(&["queue", "8000"]), &channel, is_agent),
            Target::Queue("8000".into())
        );
        assert_eq!(target_of(&args(&[]), &channel, is_agent), Target::Agent);
        channel.dialplan.exten = "8001".into();
        assert_eq!(
            target_of(&args(&[]), &channel, is_agent),
            Target::Queue("8001".into())
        );
        assert_eq!(
            target_of(&args(&["queue"]), &channel, is_agent),
            Target::Queue("8001".into())
        );
    }

    #[test]
    fn a_phone_coming_and_going_signs_its_agents_in_and_out() {
        let agent = |extension: &str, endpoint: Option<&str>| AgentEntry {
            agent_id: extension.into(),
            extension: extension.into(),
            name: format!("Agent {extension}"),
            max_calls: 2,
            endpoint: endpoint.map(str::to_owned),
        };
        let agents = || vec![agent("1001", None), agent("1002", Some("PJSIP/desk"))];
        let online = presence_inputs(agents(), "PJSIP/1001", Some("online"));
        assert!(matches!(
            online.as_slice(),
            [Input::AgentLoggedIn { extension, max_calls: 2, .. }] if extension == "1001"
        ));
        let offline = presence_inputs(agents(), "PJSIP/desk", Some("offline"));
        assert!(matches!(
            offline.as_slice(),
            [Input::AgentLoggedOut { extension }] if extension == "1002"
        ));
        assert!(presence_inputs(agents(), "PJSIP/1001", Some("unknown")).is_empty());
        assert!(lost_line(Some(38)) && !lost_line(Some(16)) && !lost_line(None));
    }

    fn session(target: Target) -> Session {
        Session {
            call_id: "ari-c1".into(),
            customer: "c1".into(),
            customer_name: "PJSIP/trunk-1".into(),
            customer_number: "254700000001".into(),
            customer_state: "Ring".into(),
            target,
            offer: None,
            agent: None,
            bridge: None,
            hangup_cause: None,
            ended_by: None,
        }
    }

    fn offered(target: Target) -> Session {
        Session {
            offer: Some(Offer {
                extension: "1001".into(),
                leg: Some("leg-1".into()),
            }),
            ..session(target)
        }
    }

    fn leg(extension: &str) -> Leg {
        Leg {
            customer: "c1".into(),
            extension: extension.into(),
            state: "Ringing".into(),
        }
    }

    #[test]
    fn only_the_leg_offered_is_bridged_and_a_ringing_customer_is_answered_first() {
        let session = offered(Target::Agent);
        assert_eq!(
            answer(Some(&session), &leg("1001"), "leg-1"),
            Answer::Bridge {
                existing: None,
                answer_customer: true
            }
        );
        assert_eq!(answer(Some(&session), &leg("1001"), "leg-2"), Answer::Drop);
        assert_eq!(answer(Some(&session), &leg("1002"), "leg-1"), Answer::Drop);
        assert_eq!(answer(None, &leg("1001"), "leg-1"), Answer::Drop);
        let up = Session {
            customer_state: "Up".into(),
            bridge: Some("b1".into()),
            ..offered(Target::Queue("8000".into()))
        };
        assert_eq!(
            answer(Some(&up), &leg("1001"), "leg-1"),
            Answer::Bridge {
                existing: Some("b1".into()),
                answer_customer: false
            }
        );
    }

    #[test]
    fn a_withdrawn_direct_call_ends_busy_or_unanswered_and_a_queue_call_waits_again() {
        let offer = || Offer {
            extension: "1001".into(),
            leg: Some("leg-1".into()),
        };
        let declined = withdrawal(
            &session(Target::Agent),
            offer(),
            Some("declined on the phone".into()),
        );
        assert_eq!(declined.leg.as_deref(), Some("leg-1"));
        assert_eq!(
            declined.then,
            AfterWithdrawal::EndCustomer {
                by: finish::REJECTED,
                reason: "busy"
            }
        );
        assert!(matches!(
            declined.input,
            Input::CallOfferWithdrawn { ref rejected, .. } if rejected.is_some()
        ));
        assert_eq!(
            withdrawal(&session(Target::Agent), offer(), None).then,
            AfterWithdrawal::EndCustomer {
                by: finish::NO_ANSWER,
                reason: "no_answer"
            }
        );
        assert_eq!(
            withdrawal(&session(Target::Queue("8000".into())), offer(), None).then,
            AfterWithdrawal::Requeue("8000".into())
        );
    }

    fn end_reason(ending: &Ending) -> EndReason {
        match &ending.end {
            Input::CallEnded { reason, .. } => *reason,
            other => panic!("the call ends: {other:?}"),
        }
    }

    #[test]
    fn a_queue_caller_nobody_took_abandoned_and_a_lost_line_says_so() {
        let waiting = Session {
            hangup_cause: Some(27),
            ..offered(Target::Queue("8000".into()))
        };
        let ending = ending(&waiting);
        assert!(matches!(
            ending.inputs[0],
            Input::QueueCallerAbandoned { ref queue, .. } if queue == "8000"
        ));
        assert!(matches!(
            ending.inputs[1],
            Input::CustomerLeft {
                reason: LeaveReason::NetworkIssue,
                ..
            }
        ));
        assert_eq!(end_reason(&ending), EndReason::Abandoned);
        assert_eq!(ending.legs, ["leg-1"], "the ringing leg is hung up");
    }

    #[test]
    fn a_bridged_call_completes_and_its_leg_and_bridge_are_cleared() {
        let bridged = Session {
            agent: Some(("1001".into(), "leg-1".into())),
            bridge: Some("b1".into()),
            ended_by: Some(finish::AGENT_HANGUP),
            ..session(Target::Agent)
        };
        let ending = ending(&bridged);
        assert!(matches!(
            ending.inputs[0],
            Input::CallHungUp { by, .. } if by == finish::AGENT_HANGUP
        ));
        assert_eq!(end_reason(&ending), EndReason::Completed);
        assert_eq!(ending.legs, ["leg-1"]);
        assert_eq!(ending.bridge.as_deref(), Some("b1"));
    }

    #[test]
    fn a_call_ended_from_here_before_an_answer_keeps_why() {
        let rejected = Session {
            ended_by: Some(finish::REJECTED),
            ..session(Target::Agent)
        };
        assert_eq!(end_reason(&ending(&rejected)), EndReason::Rejected);
        let unanswered = Session {
            ended_by: Some(finish::NO_ANSWER),
            ..session(Target::Agent)
        };
        assert_eq!(end_reason(&ending(&unanswered)), EndReason::NoAnswer);
        let customer_gone = session(Target::Agent);
        let ending = ending(&customer_gone);
        assert!(matches!(
            ending.inputs[0],
            Input::CustomerLeft {
                reason: LeaveReason::CustomerDisconnected,
                ..
            }
        ));
        assert_eq!(end_reason(&ending), EndReason::Abandoned);
    }
}
