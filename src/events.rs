//! What an event is about: its kind, and the agents, queues and conversation
//! it concerns. Subscribers filter on these.

use crate::proto::v1::{EventKind, StateSnapshot, SubscribeRequest, event::Payload};

/// The `EventKind` of a payload (the enum value named after the oneof field).
pub fn kind_of(payload: &Payload) -> EventKind {
    match payload {
        Payload::CallIncoming(_) => EventKind::CallIncoming,
        Payload::CallBridged(_) => EventKind::CallBridged,
        Payload::CustomerLeftBridge(_) => EventKind::CustomerLeftBridge,
        Payload::CallEndedNormally(_) => EventKind::CallEndedNormally,
        Payload::AgentRejectedCall(_) => EventKind::AgentRejectedCall,
        Payload::CallStateChanged(_) => EventKind::CallStateChanged,
        Payload::StasisCallEnded(_) => EventKind::StasisCallEnded,
        Payload::AgentStatusUpdated(_) => EventKind::AgentStatusUpdated,
        Payload::SystemStats(_) => EventKind::SystemStats,
        Payload::IncomingQueueCall(_) => EventKind::IncomingQueueCall,
        Payload::SourceStatus(_) => EventKind::SourceStatus,
        Payload::CallNew(_) => EventKind::CallNew,
        Payload::CallAnswered(_) => EventKind::CallAnswered,
        Payload::CallHangup(_) => EventKind::CallHangup,
        Payload::CallsActive(_) => EventKind::CallsActive,
        Payload::AgentLogin(_) => EventKind::AgentLogin,
        Payload::AgentLogout(_) => EventKind::AgentLogout,
        Payload::AgentsStatus(_) => EventKind::AgentsStatus,
        Payload::QueueCallerJoined(_) => EventKind::QueueCallerJoined,
        Payload::QueuesStats(_) => EventKind::QueuesStats,
        Payload::SupervisorAction(_) => EventKind::SupervisorAction,
        Payload::CallUpdated(_) => EventKind::CallUpdated,
        Payload::SpySession(_) => EventKind::SpySession,
        Payload::AgentSession(_) => EventKind::AgentSession,
        Payload::NewConversation(_) => EventKind::NewConversation,
        Payload::NewMessage(_) => EventKind::NewMessage,
        Payload::ConnectedAgentsUpdate(_) => EventKind::ConnectedAgentsUpdate,
        Payload::SystemModeUpdate(_) => EventKind::SystemModeUpdate,
        Payload::TicketsReassigned(_) => EventKind::TicketsReassigned,
        Payload::CustomerTypingStatus(_) => EventKind::CustomerTypingStatus,
        Payload::AgentTypingStatus(_) => EventKind::AgentTypingStatus,
        Payload::VoiceCallStarted(_) => EventKind::VoiceCallStarted,
        Payload::VoiceCallEnded(_) => EventKind::VoiceCallEnded,
        Payload::TransferUpdate(_) => EventKind::TransferUpdate,
        Payload::Resync(_) => EventKind::Resync,
        Payload::EventsDropped(_) => EventKind::EventsDropped,
    }
}

/// The agents, queue and conversation an event concerns.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Agent extensions named by the event.
    pub extensions: Vec<&'a str>,
    /// Queues named by the event.
    pub queues: Vec<&'a str>,
    /// The conversation, when the event is about one.
    pub conversation: Option<&'a str>,
}

/// What `payload` is about.
pub fn scope_of(payload: &Payload) -> Scope<'_> {
    let mut scope = Scope::default();
    match payload {
        Payload::CallIncoming(e) => scope.extensions.push(&e.extension),
        Payload::CallBridged(e) => scope.extensions.push(&e.extension),
        Payload::CustomerLeftBridge(e) => scope.extensions.push(&e.extension),
        Payload::CallEndedNormally(e) | Payload::StasisCallEnded(e) => {
            scope.extensions.push(&e.extension)
        }
        Payload::AgentRejectedCall(e) => scope.extensions.push(&e.extension),
        Payload::AgentStatusUpdated(e) => scope.extensions.push(&e.extension),
        Payload::IncomingQueueCall(e) => scope.queues.push(&e.queue_number),
        Payload::CallNew(c) | Payload::CallAnswered(c) | Payload::CallHangup(c) => {
            scope.extensions.extend(c.agent.as_deref())
        }
        Payload::CallsActive(list) => scope
            .extensions
            .extend(list.calls.iter().filter_map(|c| c.agent.as_deref())),
        Payload::AgentLogin(a) | Payload::AgentLogout(a) => {
            scope.extensions.push(&a.extension);
            scope.queues.extend(a.queue.as_deref());
        }
        Payload::AgentsStatus(list) => {
            scope
                .extensions
                .extend(list.agents.iter().map(|a| a.extension.as_str()));
            scope
                .queues
                .extend(list.agents.iter().filter_map(|a| a.queue.as_deref()));
        }
        Payload::QueueCallerJoined(e) => scope.queues.push(&e.queue),
        Payload::QueuesStats(list) => scope
            .queues
            .extend(list.queues.iter().map(|q| q.name.as_str())),
        Payload::SupervisorAction(a) => scope.extensions.push(&a.agent_extension),
        Payload::SpySession(s) => scope.extensions.push(&s.agent_extension),
        Payload::AgentSession(a) => {
            scope.extensions.push(&a.extension);
            if !a.queue.is_empty() {
                scope.queues.push(&a.queue);
            }
        }
        Payload::CallUpdated(u) => {
            if let Some(call) = &u.call {
                if !call.agent_extension.is_empty() {
                    scope.extensions.push(&call.agent_extension);
                }
                if !call.queue.is_empty() {
                    scope.queues.push(&call.queue);
                }
            }
        }
        Payload::NewConversation(e) => scope.conversation = Some(&e.conversation_id),
        Payload::NewMessage(m) => scope.conversation = Some(&m.conversation_id),
        Payload::CustomerTypingStatus(e) => scope.conversation = Some(&e.conversation_id),
        Payload::AgentTypingStatus(e) => scope.conversation = Some(&e.conversation_id),
        Payload::TicketsReassigned(e) => {
            scope.conversation = e.reassignments.first().map(|r| r.conversation_id.as_str())
        }
        Payload::TransferUpdate(t) => scope.extensions.push(&t.extension),
        Payload::CallStateChanged(_)
        | Payload::SystemStats(_)
        | Payload::SourceStatus(_)
        | Payload::ConnectedAgentsUpdate(_)
        | Payload::SystemModeUpdate(_)
        | Payload::VoiceCallStarted(_)
        | Payload::VoiceCallEnded(_)
        | Payload::Resync(_)
        | Payload::EventsDropped(_) => {}
    }
    scope
}

/// `snapshot` as a subscriber held to `tenant` may see it: that tenant's
/// calls, agents and queues, the spy sessions on its agents, and none of the
/// house's sources or conversations.
pub fn snapshot_of_tenant(snapshot: &StateSnapshot, tenant: &str) -> StateSnapshot {
    let agents: Vec<_> = snapshot
        .agents
        .iter()
        .filter(|a| a.tenant == tenant)
        .cloned()
        .collect();
    let spy_sessions = snapshot
        .spy_sessions
        .iter()
        .filter(|s| agents.iter().any(|a| a.extension == s.agent_extension))
        .cloned()
        .collect();
    StateSnapshot {
        calls: snapshot
            .calls
            .iter()
            .filter(|c| c.tenant == tenant)
            .cloned()
            .collect(),
        agents,
        queues: snapshot
            .queues
            .iter()
            .filter(|q| q.tenant == tenant)
            .cloned()
            .collect(),
        conversations: Vec::new(),
        system_mode: snapshot.system_mode.clone(),
        spy_sessions,
        sources: Vec::new(),
    }
}

/// A subscriber's filter, checked against every event.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    kinds: Vec<EventKind>,
    agent_extensions: Vec<String>,
    queues: Vec<String>,
    conversation_ids: Vec<String>,
    tenant: Option<String>,
}

impl Filter {
    /// The filter a `SubscribeRequest` asks for, with the tenant forced to `forced_tenant` when set.
    pub fn from_request(request: &SubscribeRequest, forced_tenant: Option<&str>) -> Self {
        let tenant = forced_tenant
            .map(str::to_owned)
            .or_else(|| (!request.tenant.is_empty()).then(|| request.tenant.clone()));
        Filter {
            kinds: request.kinds().collect(),
            agent_extensions: request.agent_extensions.clone(),
            queues: request.queues.clone(),
            conversation_ids: request.conversation_ids.clone(),
            tenant,
        }
    }

    /// The tenant this filter holds its subscriber to, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Whether a subscriber with this filter gets the event. Stream-control events
    /// (`Resync`, `EventsDropped`) always pass.
    pub fn admits(&self, payload: &Payload, tenant: &str) -> bool {
        let kind = kind_of(payload);
        if matches!(kind, EventKind::Resync | EventKind::EventsDropped) {
            return true;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&kind) {
            return false;
        }
        match &self.tenant {
            Some(wanted) if wanted != tenant => return false,
            // A tenant's own `system_stats` go to that tenant's subscribers; staff get the house-wide ones.
            None if kind == EventKind::SystemStats && !tenant.is_empty() => return false,
            _ => {}
        }
        let scope = scope_of(payload);
        let any_in = |wanted: &[String], have: &[&str]| {
            wanted.is_empty() || have.iter().any(|h| wanted.iter().any(|w| w == h))
        };
        any_in(&self.agent_extensions, &scope.extensions)
            && any_in(&self.queues, &scope.queues)
            && (self.conversation_ids.is_empty()
                || scope
                    .conversation
                    .is_some_and(|c| self.conversation_ids.iter().any(|w| w == c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::DESCRIPTOR_POOL;
    use crate::proto::v1 as pb;

    #[test]
    fn every_payload_field_has_the_event_kind_of_the_same_name() {
        let event = DESCRIPTOR_POOL
            .get_message_by_name("switchboard.v1.Event")
            .unwrap();
        let kinds = DESCRIPTOR_POOL
            .get_enum_by_name("switchboard.v1.EventKind")
            .unwrap();
        let oneof = event.oneofs().find(|o| o.name() == "payload").unwrap();
        let fields: Vec<_> = oneof.fields().collect();
        assert_eq!(fields.len() + 1, kinds.values().len());
        for field in fields {
            let name = format!("EVENT_KIND_{}", field.name().to_uppercase());
            let value = kinds
                .get_value_by_name(&name)
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(value.number() as u32, field.number(), "{name}");
        }
    }

    #[test]
    fn queue_and_conversation_filters_leave_out_events_about_neither() {
        let by_queue = Filter::from_request(
            &SubscribeRequest {
                queues: vec!["sales".into()],
                ..Default::default()
            },
            None,
        );
        let joined = |queue: &str| {
            Payload::QueueCallerJoined(pb::QueueCallerJoined {
                queue: queue.into(),
                ..Default::default()
            })
        };
        assert!(by_queue.admits(&joined("sales"), ""));
        assert!(!by_queue.admits(&joined("support"), ""));
        assert!(!by_queue.admits(&Payload::SystemModeUpdate(Default::default()), ""));

        let by_conversation = Filter::from_request(
            &SubscribeRequest {
                conversation_ids: vec!["conv-456".into()],
                ..Default::default()
            },
            None,
        );
        let message = |conversation: &str| {
            Payload::NewMessage(pb::ChatMessage {
                conversation_id: conversation.into(),
                ..Default::default()
            })
        };
        assert!(by_conversation.admits(&message("conv-456"), ""));
        assert!(!by_conversation.admits(&message("conv-789"), ""));
        assert!(!by_conversation.admits(&joined("sales"), ""));
    }

    #[test]
    fn filters_combine_kind_extension_and_tenant() {
        let request = SubscribeRequest {
            kinds: vec![EventKind::AgentLogin as i32],
            agent_extensions: vec!["1001".into()],
            ..Default::default()
        };
        let filter = Filter::from_request(&request, None);
        let login = |ext: &str| {
            Payload::AgentLogin(pb::WallboardAgent {
                extension: ext.into(),
                ..Default::default()
            })
        };
        assert!(filter.admits(&login("1001"), ""));
        assert!(!filter.admits(&login("1002"), ""));
        assert!(!filter.admits(&Payload::SystemModeUpdate(Default::default()), ""));
        let tenant_only = Filter::from_request(&SubscribeRequest::default(), Some("acme"));
        assert!(tenant_only.admits(&login("1"), "acme"));
        assert!(!tenant_only.admits(&login("1"), ""));
        assert!(tenant_only.admits(&Payload::EventsDropped(Default::default()), "other"));
        let stats = Payload::SystemStats(Default::default());
        let staff = Filter::from_request(&SubscribeRequest::default(), None);
        assert!(staff.admits(&stats, ""), "staff get the house-wide figures");
        assert!(!staff.admits(&stats, "acme"), "not every tenant's copy");
        assert!(tenant_only.admits(&stats, "acme"));
        assert!(
            !tenant_only.admits(&stats, ""),
            "a tenant never sees house-wide figures"
        );
    }
}
