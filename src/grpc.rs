//! The gRPC services (also served as grpc-web): the event stream, the state
//! queries, and the sketched supervisor, call-control, chat and customer
//! services, which answer UNIMPLEMENTED until their issue lands. Reflection and
//! the standard health service need no token; everything else does.

use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use futures::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tower::Layer;

use crate::app::Core;
use crate::ari::bridge::{Command, CommandError, CommandKind};
use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::events::{Filter, kind_of};
use crate::log::StartAt;
use crate::proto::FILE_DESCRIPTOR_SET;
use crate::proto::v1::{
    self as pb, call_control_service_server::CallControlServiceServer,
    chat_service_server::ChatServiceServer, customer_service_server::CustomerServiceServer,
    event::Payload, event_service_server::EventServiceServer,
    state_service_server::StateServiceServer, supervisor_service_server::SupervisorServiceServer,
};
use crate::socket_json::masked;
use crate::time::to_timestamp;

/// Checks the bearer token of every call and attaches the [`Principal`].
#[derive(Clone)]
pub struct Authenticate {
    core: Arc<Core>,
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let credential = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match self.core.auth.authenticate(credential) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Ok(request)
            }
            Err(error) => {
                self.core.metrics.refuse("grpc", error.code_name());
                Err(error.into())
            }
        }
    }
}

/// Like [`Authenticate`], but lets a request without any credential through
/// unauthenticated (for `ChatService.StartConversation`, the widget's first
/// call); a credential that is there must verify.
#[derive(Clone)]
pub struct AuthenticateIfPresent {
    core: Arc<Core>,
}

impl tonic::service::Interceptor for AuthenticateIfPresent {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let present = request
            .metadata()
            .get("authorization")
            .is_some_and(|v| !v.is_empty());
        if present || self.core.auth.is_disabled() {
            Authenticate {
                core: Arc::clone(&self.core),
            }
            .call(request)
        } else {
            Ok(request)
        }
    }
}

/// The verified principal the authenticating interceptor attached to a
/// request. Fails closed: a request without one (a service mounted without
/// the interceptor) is refused, never taken for anyone.
fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Error::Unauthenticated("no verified credential".into()).into())
}

/// `switchboard.v1.EventService`.
pub struct Events {
    core: Arc<Core>,
}

/// The stream type of `Subscribe`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

/// Decrements a gauge when the stream it travels with is dropped.
struct GaugeGuard(prometheus_client::metrics::gauge::Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[tonic::async_trait]
impl pb::event_service_server::EventService for Events {
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let principal = principal(&request)?;
        principal.refuse_customers("subscribe to the event stream")?;
        let request = request.into_inner();
        if let Some(forced) = principal.forced_tenant()
            && !request.tenant.is_empty()
            && request.tenant != forced
        {
            return Err(Error::PermissionDenied(format!(
                "a client token may not subscribe to tenant {}",
                request.tenant
            ))
            .into());
        }
        if request
            .kinds
            .iter()
            .any(|k| pb::EventKind::try_from(*k).is_err())
        {
            return Err(Error::InvalidArgument("unknown event kind in kinds".into()).into());
        }
        let filter = Filter::from_request(&request, principal.forced_tenant());
        let start = StartAt {
            resume_after: request.resume_after,
            epoch: (!request.epoch.is_empty()).then(|| request.epoch.clone()),
            snapshot_first: request.snapshot_first,
        };
        let core = Arc::clone(&self.core);
        let subscription = core.log.subscribe(&start, chrono::Utc::now());
        let mask = principal.masks_phone_numbers();

        let streams = core.metrics.connections("grpc_stream");
        streams.inc();
        core.metrics.subscribers.inc();
        let guards = (
            GaugeGuard(streams),
            GaugeGuard(core.metrics.subscribers.clone()),
            principal
                .forced_tenant()
                .map(|tenant| core.presence.enter(tenant)),
        );
        tracing::debug!(subscriber = %principal.claims.sub, resume_after = start.resume_after, "event stream opened");

        let mut last_sequence = subscription.live_after;
        let epoch = core.log.epoch().to_owned();
        let metrics_core = Arc::clone(&core);
        let live = BroadcastStream::new(subscription.live).map(move |item| match item {
            Ok(event) => {
                last_sequence = event.sequence;
                event
            }
            Err(BroadcastStreamRecvError::Lagged(lost)) => {
                metrics_core.metrics.dropped("grpc", lost);
                let resumed_at = last_sequence + lost + 1;
                last_sequence += lost;
                Arc::new(pb::Event {
                    sequence: last_sequence,
                    epoch: epoch.clone(),
                    time: Some(to_timestamp(chrono::Utc::now())),
                    tenant: String::new(),
                    payload: Some(Payload::EventsDropped(pb::EventsDropped {
                        count: lost,
                        resumed_at,
                    })),
                })
            }
        });
        let shutdown = core.shutdown.clone().cancelled_owned();
        let events = stream::iter(subscription.backlog)
            .chain(live)
            .filter(move |event| {
                let admitted = event
                    .payload
                    .as_ref()
                    .is_some_and(|p| filter.admits(p, &event.tenant));
                futures::future::ready(admitted)
            })
            .map(move |event| {
                let _alive = &guards;
                let head = core.log.head();
                core.metrics
                    .subscriber_lag
                    .observe(head.saturating_sub(event.sequence) as f64);
                if let Some(payload) = &event.payload {
                    core.metrics
                        .delivered("grpc", kind_of(payload).as_str_name());
                }
                let event = if mask {
                    masked(event.as_ref())
                } else {
                    (*event).clone()
                };
                Ok(pb::SubscribeResponse { event: Some(event) })
            })
            .take_until(shutdown);
        Ok(Response::new(Box::pin(events)))
    }
}

/// `switchboard.v1.StateService`.
pub struct StateQueries {
    core: Arc<Core>,
}

#[tonic::async_trait]
impl pb::state_service_server::StateService for StateQueries {
    async fn get_system_state(
        &self,
        request: Request<pb::GetSystemStateRequest>,
    ) -> Result<Response<pb::GetSystemStateResponse>, Status> {
        let principal = principal(&request)?;
        principal.refuse_customers("read the system state")?;
        let request = request.into_inner();
        let tenant = principal
            .forced_tenant()
            .map(str::to_owned)
            .or_else(|| (!request.tenant.is_empty()).then_some(request.tenant));
        let now = chrono::Utc::now();
        let response = self.core.log.read(|ledger, sequence| {
            let snapshot = ledger.snapshot(now);
            let keep = |t: &str| tenant.as_deref().is_none_or(|wanted| wanted == t);
            pb::GetSystemStateResponse {
                calls: snapshot
                    .calls
                    .into_iter()
                    .filter(|c| keep(&c.tenant))
                    .collect(),
                agents: snapshot
                    .agents
                    .into_iter()
                    .filter(|a| keep(&a.tenant))
                    .collect(),
                queues: snapshot
                    .queues
                    .into_iter()
                    .filter(|q| keep(&q.tenant))
                    .collect(),
                now: Some(to_timestamp(now)),
                sequence,
                epoch: self.core.log.epoch().to_owned(),
                system_mode: snapshot.system_mode,
            }
        });
        let response = if principal.masks_phone_numbers() {
            masked(&response)
        } else {
            response
        };
        Ok(Response::new(response))
    }

    async fn get_system_stats(
        &self,
        request: Request<pb::GetSystemStatsRequest>,
    ) -> Result<Response<pb::GetSystemStatsResponse>, Status> {
        let principal = principal(&request)?;
        principal.refuse_customers("read the system figures")?;
        let core = &self.core;
        let stats = core.stats.sample(
            &core.log,
            &core.metrics,
            &core.presence,
            chrono::Utc::now(),
            principal.forced_tenant(),
        );
        Ok(Response::new(pb::GetSystemStatsResponse {
            stats: Some(stats),
        }))
    }

    async fn set_system_mode(
        &self,
        request: Request<pb::SetSystemModeRequest>,
    ) -> Result<Response<pb::SetSystemModeResponse>, Status> {
        let principal = principal(&request)?;
        let mode = request.into_inner().mode.trim().to_owned();
        let sequence = crate::chat::set_system_mode(&self.core, &principal, &mode).await?;
        tracing::info!(%mode, sequence, "system mode set");
        Ok(Response::new(pb::SetSystemModeResponse { mode, sequence }))
    }
}

/// `switchboard.v1.SupervisorService`: monitor, whisper and barge over AMI.
pub struct Supervisor {
    core: Arc<Core>,
}

impl Supervisor {
    async fn spy(
        &self,
        principal: &crate::auth::Principal,
        order: crate::supervisor::SpyOrder,
    ) -> Result<pb::SupervisorAction, Status> {
        crate::supervisor::spy(&self.core, principal, order)
            .await
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::supervisor_service_server::SupervisorService for Supervisor {
    async fn monitor(
        &self,
        request: Request<pb::MonitorRequest>,
    ) -> Result<Response<pb::MonitorResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let order = crate::supervisor::SpyOrder {
            mode: crate::ledger::model::SpyMode::Monitor,
            agent_extension: request.agent_extension,
            call_unique_id: request.call_unique_id,
            supervisor_extension: request.supervisor_extension,
        };
        let action = self.spy(&principal, order).await?;
        Ok(Response::new(pb::MonitorResponse {
            action: Some(action),
        }))
    }

    async fn whisper(
        &self,
        request: Request<pb::WhisperRequest>,
    ) -> Result<Response<pb::WhisperResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let order = crate::supervisor::SpyOrder {
            mode: crate::ledger::model::SpyMode::Whisper,
            agent_extension: request.agent_extension,
            call_unique_id: String::new(),
            supervisor_extension: request.supervisor_extension,
        };
        let action = self.spy(&principal, order).await?;
        Ok(Response::new(pb::WhisperResponse {
            action: Some(action),
        }))
    }

    async fn barge(
        &self,
        request: Request<pb::BargeRequest>,
    ) -> Result<Response<pb::BargeResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let order = crate::supervisor::SpyOrder {
            mode: crate::ledger::model::SpyMode::Barge,
            agent_extension: request.agent_extension,
            call_unique_id: String::new(),
            supervisor_extension: request.supervisor_extension,
        };
        let action = self.spy(&principal, order).await?;
        Ok(Response::new(pb::BargeResponse {
            action: Some(action),
        }))
    }
}

/// `switchboard.v1.CallControlService`: commands to the ARI agent bridge.
pub struct CallControl {
    core: Arc<Core>,
}

impl CallControl {
    /// Sends `kind` for `session` on behalf of the request's principal.
    async fn command<T>(
        &self,
        request: &Request<T>,
        session: String,
        kind: CommandKind,
    ) -> Result<Option<pb::Call>, Status> {
        let actor = principal(request)?;
        let Some(bridge) = &self.core.agent_bridge else {
            return Err(Error::from(CommandError::NotRunning).into());
        };
        if session.trim().is_empty() {
            return Err(Error::InvalidArgument("session_id is required".into()).into());
        }
        bridge
            .send(Command {
                session,
                kind,
                actor,
            })
            .await
            .map_err(|e| Error::from(e).into())
    }
}

#[tonic::async_trait]
impl pb::call_control_service_server::CallControlService for CallControl {
    async fn answer_call(
        &self,
        request: Request<pb::AnswerCallRequest>,
    ) -> Result<Response<pb::AnswerCallResponse>, Status> {
        let session = request.get_ref().session_id.clone();
        let call = self.command(&request, session, CommandKind::Answer).await?;
        Ok(Response::new(pb::AnswerCallResponse { call }))
    }

    async fn reject_call(
        &self,
        request: Request<pb::RejectCallRequest>,
    ) -> Result<Response<pb::RejectCallResponse>, Status> {
        let pb::RejectCallRequest { session_id, reason } = request.get_ref().clone();
        let call = self
            .command(&request, session_id, CommandKind::Reject { reason })
            .await?;
        Ok(Response::new(pb::RejectCallResponse { call }))
    }

    async fn hangup_call(
        &self,
        request: Request<pb::HangupCallRequest>,
    ) -> Result<Response<pb::HangupCallResponse>, Status> {
        let session = request.get_ref().session_id.clone();
        let call = self.command(&request, session, CommandKind::Hangup).await?;
        Ok(Response::new(pb::HangupCallResponse { call }))
    }

    async fn transfer_call(
        &self,
        request: Request<pb::TransferCallRequest>,
    ) -> Result<Response<pb::TransferCallResponse>, Status> {
        let pb::TransferCallRequest {
            session_id, target, ..
        } = request.get_ref().clone();
        let call = self
            .command(&request, session_id, CommandKind::Transfer { target })
            .await?;
        Ok(Response::new(pb::TransferCallResponse {
            transfer: None,
            call,
        }))
    }

    async fn assign_queue_call(
        &self,
        request: Request<pb::AssignQueueCallRequest>,
    ) -> Result<Response<pb::AssignQueueCallResponse>, Status> {
        let pb::AssignQueueCallRequest {
            session_id,
            extension,
        } = request.get_ref().clone();
        let call = self
            .command(&request, session_id, CommandKind::Assign { extension })
            .await?;
        Ok(Response::new(pb::AssignQueueCallResponse { call }))
    }

    async fn hold_call(
        &self,
        request: Request<pb::HoldCallRequest>,
    ) -> Result<Response<pb::HoldCallResponse>, Status> {
        let pb::HoldCallRequest { session_id, on } = request.get_ref().clone();
        let call = self
            .command(&request, session_id, CommandKind::Hold(on))
            .await?;
        Ok(Response::new(pb::HoldCallResponse { call }))
    }

    async fn mute_call(
        &self,
        request: Request<pb::MuteCallRequest>,
    ) -> Result<Response<pb::MuteCallResponse>, Status> {
        let pb::MuteCallRequest { session_id, on } = request.get_ref().clone();
        let call = self
            .command(&request, session_id, CommandKind::Mute(on))
            .await?;
        Ok(Response::new(pb::MuteCallResponse { call }))
    }

    async fn set_call_priority(
        &self,
        request: Request<pb::SetCallPriorityRequest>,
    ) -> Result<Response<pb::SetCallPriorityResponse>, Status> {
        let pb::SetCallPriorityRequest {
            session_id,
            priority,
        } = request.get_ref().clone();
        let call = self
            .command(&request, session_id, CommandKind::SetPriority { priority })
            .await?;
        Ok(Response::new(pb::SetCallPriorityResponse { call }))
    }
}

/// `switchboard.v1.AgentService`: the agent directory.
pub struct Agents {
    core: Arc<Core>,
}

/// The contract's form of a directory entry.
fn directory_entry(entry: crate::directory::AgentEntry) -> pb::AgentDirectoryEntry {
    pb::AgentDirectoryEntry {
        endpoint: entry.endpoint(),
        agent_id: entry.agent_id,
        extension: entry.extension,
        name: entry.name,
        max_calls: entry.max_calls,
    }
}

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for Agents {
    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        principal(&request)?.require(&[Role::Supervisor, Role::Admin], "list the agents")?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: self
                .core
                .directory
                .list()
                .into_iter()
                .map(directory_entry)
                .collect(),
        }))
    }

    async fn put_agent(
        &self,
        request: Request<pb::PutAgentRequest>,
    ) -> Result<Response<pb::PutAgentResponse>, Status> {
        principal(&request)?.require(&[Role::Admin], "change the agent directory")?;
        let agent = request
            .into_inner()
            .agent
            .ok_or_else(|| Error::InvalidArgument("agent is required".into()))?;
        let entry = crate::directory::AgentEntry {
            agent_id: agent.agent_id,
            extension: agent.extension,
            name: agent.name,
            max_calls: agent.max_calls.max(1),
            endpoint: (!agent.endpoint.trim().is_empty()).then(|| agent.endpoint.trim().to_owned()),
        };
        let entry = self
            .core
            .directory
            .put(entry)
            .map_err(|e| Error::InvalidArgument(e.0))?;
        let now = chrono::Utc::now();
        self.core
            .store
            .put_agent(&entry, now.timestamp_millis())
            .await?;
        self.core.log.apply(
            crate::ledger::Input::AgentConfigured {
                agent_id: entry.agent_id.clone(),
                extension: entry.extension.clone(),
                name: entry.name.clone(),
                max_calls: entry.max_calls,
            },
            now,
        );
        let extension = entry.extension.clone();
        let state = self.core.log.read(|ledger, _| {
            ledger
                .agents
                .get(&extension)
                .map(crate::ledger::views::agent)
        });
        Ok(Response::new(pb::PutAgentResponse {
            agent: Some(directory_entry(entry)),
            state,
        }))
    }
}

/// `switchboard.v1.ChatService`: the widget's and the dashboards' chat.
pub struct Chat {
    core: Arc<Core>,
}

#[tonic::async_trait]
impl pb::chat_service_server::ChatService for Chat {
    async fn start_conversation(
        &self,
        request: Request<pb::StartConversationRequest>,
    ) -> Result<Response<pb::StartConversationResponse>, Status> {
        let principal = request.extensions().get::<Principal>();
        // Anyone may start a conversation, a limited number per address.
        let anonymous_from = match principal {
            Some(_) => None,
            None => request
                .extensions()
                .get::<crate::connections::PeerAddress>()
                .map(|peer| peer.0.ip()),
        };
        let tenant = principal
            .and_then(|p| p.forced_tenant().map(str::to_owned))
            .unwrap_or_default();
        let request = request.into_inner();
        let (conversation, token) = crate::chat::start(
            &self.core,
            crate::chat::StartRequest {
                customer_name: request.customer_name,
                customer_email: request.customer_email,
                customer_phone: request.customer_phone,
                first_message: request.first_message,
                tenant,
                anonymous_from,
            },
        )
        .await?;
        Ok(Response::new(pb::StartConversationResponse {
            conversation: Some(conversation),
            customer_token: token,
        }))
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let message = crate::chat::send(
            &self.core,
            &principal,
            &request.conversation_id,
            &request.content,
            Some(&request.message_id),
        )
        .await?;
        Ok(Response::new(pb::SendMessageResponse {
            message: Some(message),
        }))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let (conversations, next_page_token) = crate::chat::list(
            &self.core,
            &principal,
            request.status(),
            request.page_size,
            &request.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations,
            next_page_token,
        }))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::GetConversationResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let (conversation, messages, next_after) = crate::chat::history(
            &self.core,
            &principal,
            &request.conversation_id,
            request.after,
            request.limit,
        )
        .await?;
        Ok(Response::new(pb::GetConversationResponse {
            conversation: Some(conversation),
            messages,
            next_after,
        }))
    }

    async fn reassign_conversations(
        &self,
        request: Request<pb::ReassignConversationsRequest>,
    ) -> Result<Response<pb::ReassignConversationsResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let reassignments = crate::chat::reassign(
            &self.core,
            &principal,
            request.reassignments,
            &request.reason,
        )
        .await?;
        Ok(Response::new(pb::ReassignConversationsResponse {
            reassignments,
        }))
    }
}

/// `switchboard.v1.CustomerService`: the customer-profile cache of seed 004.
pub struct Customers {
    core: Arc<Core>,
}

#[tonic::async_trait]
impl pb::customer_service_server::CustomerService for Customers {
    async fn get_customer_profile(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<Response<pb::GetCustomerProfileResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let extension = match principal.role() {
            Role::Agent => {
                let own = principal.claims.extension.clone().unwrap_or_default();
                if !request.extension.is_empty() && request.extension != own {
                    return Err(Error::PermissionDenied(
                        "an agent reads only their own extension's customer".into(),
                    )
                    .into());
                }
                own
            }
            Role::Supervisor | Role::Admin => request.extension,
            _ => {
                return Err(Error::PermissionDenied(
                    "only agents and supervisors read customer profiles".into(),
                )
                .into());
            }
        };
        let found = self
            .core
            .profiles
            .get(&extension, &request.call_sid, &request.call_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("no customer profile for extension {extension}"))
            })?;
        Ok(Response::new(pb::GetCustomerProfileResponse {
            profile: Some(found.1.to_proto()),
        }))
    }

    async fn put_customer_profile(
        &self,
        request: Request<pb::PutCustomerProfileRequest>,
    ) -> Result<Response<pb::PutCustomerProfileResponse>, Status> {
        principal(&request)?
            .require(&[Role::Supervisor, Role::Admin], "cache customer profiles")?;
        let request = request.into_inner();
        let mut profile = request
            .profile
            .ok_or_else(|| Error::InvalidArgument("profile is required".into()))?;
        profile.cached_at = Some(to_timestamp(chrono::Utc::now()));
        let ttl = match request.ttl_seconds {
            0 => crate::profiles::DEFAULT_TTL,
            seconds => std::time::Duration::from_secs(u64::from(seconds)),
        };
        let keys = self
            .core
            .profiles
            .put(&crate::profiles::StoredProfile::from_proto(&profile), ttl)
            .await?;
        Ok(Response::new(pb::PutCustomerProfileResponse { keys }))
    }

    async fn request_transfer(
        &self,
        request: Request<pb::RequestTransferRequest>,
    ) -> Result<Response<pb::RequestTransferResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let (transfer, cache_keys) = crate::transfers::request(
            &self.core,
            &principal,
            crate::transfers::TransferRequest {
                extension: request.extension,
                profile: request.profile.unwrap_or_default(),
                customer_call_sid: request.customer_call_sid,
                call_id: request.call_id,
                ttl_seconds: request.ttl_seconds,
            },
        )
        .await?;
        Ok(Response::new(pb::RequestTransferResponse {
            transfer: Some(transfer),
            cache_keys,
        }))
    }
}

/// Adds `service` at its gRPC path, behind grpc-web translation.
fn add<S, B>(router: Router, service: S) -> Router
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    let path = format!("/{}/{{*rest}}", S::NAME);
    let service = tower::ServiceExt::map_response(service, |response: http::Response<B>| {
        response.map(tonic::body::Body::new)
    });
    router.route_service(&path, tonic_web::GrpcWebLayer::new().layer(service))
}

/// Every gRPC service, with reflection and health, as an axum router.
pub fn router(core: Arc<Core>) -> anyhow::Result<Router> {
    let auth = Authenticate {
        core: Arc::clone(&core),
    };
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let (health_reporter, health) = tonic_health::server::health_reporter();
    for name in [
        "switchboard.v1.EventService",
        "switchboard.v1.StateService",
        "switchboard.v1.SupervisorService",
        "switchboard.v1.CallControlService",
        "switchboard.v1.AgentService",
        "switchboard.v1.ChatService",
        "switchboard.v1.CustomerService",
    ] {
        let reporter = health_reporter.clone();
        tokio::spawn(async move {
            reporter
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        });
    }
    core.set_health_reporter(health_reporter);

    let mut router = Router::new();
    router = add(router, reflection_v1);
    router = add(router, reflection_v1alpha);
    router = add(router, health);
    router = add(
        router,
        InterceptedService::new(
            EventServiceServer::new(Events {
                core: Arc::clone(&core),
            }),
            auth.clone(),
        ),
    );
    router = add(
        router,
        InterceptedService::new(
            StateServiceServer::new(StateQueries {
                core: Arc::clone(&core),
            }),
            auth.clone(),
        ),
    );
    router = add(
        router,
        InterceptedService::new(
            SupervisorServiceServer::new(Supervisor {
                core: Arc::clone(&core),
            }),
            auth.clone(),
        ),
    );
    router = add(
        router,
        InterceptedService::new(
            CallControlServiceServer::new(CallControl {
                core: Arc::clone(&core),
            }),
            auth.clone(),
        ),
    );
    router = add(
        router,
        InterceptedService::new(
            pb::agent_service_server::AgentServiceServer::new(Agents {
                core: Arc::clone(&core),
            }),
            auth.clone(),
        ),
    );
    router = add(
        router,
        InterceptedService::new(
            ChatServiceServer::new(Chat {
                core: Arc::clone(&core),
            }),
            AuthenticateIfPresent {
                core: Arc::clone(&core),
            },
        ),
    );
    router = add(
        router,
        InterceptedService::new(
            CustomerServiceServer::new(Customers {
                core: Arc::clone(&core),
            }),
            auth,
        ),
    );
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_a_verified_principal_is_refused() {
        let bare = Request::new(());
        assert_eq!(
            principal(&bare).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let mut verified = Request::new(());
        verified
            .extensions_mut()
            .insert(Principal::anonymous_admin());
        assert!(principal(&verified).is_ok());
    }
}
