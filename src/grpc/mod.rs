//! The gRPC surface (also served as grpc-web): one file per service, each
//! holding the command or query service it hands requests to. Reflection
//! and the standard health service need no token; everything else does,
//! checked once by an interceptor that attaches the verified [`Principal`].

pub mod agents;
pub mod calls;
pub mod chat;
pub mod customers;
pub mod events;
pub mod state;
pub mod supervision;

use std::sync::Arc;

use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Status};
use tower::Layer;

use crate::auth::{Authenticator, Gatekeeper, Principal};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::proto::FILE_DESCRIPTOR_SET;
use crate::proto::v1::{
    agent_service_server::AgentServiceServer,
    call_control_service_server::CallControlServiceServer, chat_service_server::ChatServiceServer,
    customer_service_server::CustomerServiceServer, event_service_server::EventServiceServer,
    state_service_server::StateServiceServer, supervisor_service_server::SupervisorServiceServer,
};

pub use events::EventStream;

/// Checks the bearer token of every call and attaches the [`Principal`].
#[derive(Clone)]
pub struct Authenticate(Gatekeeper);

impl Authenticate {
    /// Checks tokens with `auth`; counts refusals in `metrics`.
    pub fn new(auth: Authenticator, metrics: Arc<Metrics>) -> Self {
        Authenticate(Gatekeeper::new(auth, metrics, "grpc"))
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let credential = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let principal = self.0.principal(credential)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// Like [`Authenticate`], but lets a request without any credential through
/// unauthenticated (for `ChatService.StartConversation`, the widget's first
/// call); a credential that is there must verify.
#[derive(Clone)]
pub struct AuthenticateIfPresent(Authenticate);

impl tonic::service::Interceptor for AuthenticateIfPresent {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let present = request
            .metadata()
            .get("authorization")
            .is_some_and(|v| !v.is_empty());
        if present || self.0.0.is_disabled() {
            self.0.call(request)
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

/// The services the gRPC surface serves, each built by the caller.
pub struct Services {
    /// Checks every call's token.
    pub authenticate: Authenticate,
    /// `EventService`.
    pub events: events::Events,
    /// `StateService`.
    pub state: state::StateQueries,
    /// `SupervisorService`.
    pub supervisor: supervision::Supervisor,
    /// `CallControlService`.
    pub calls: calls::Calls,
    /// `AgentService`.
    pub agents: agents::Agents,
    /// `ChatService`.
    pub chat: chat::Conversations,
    /// `CustomerService`.
    pub customers: customers::Customers,
}

/// The names the health service reports SERVING for.
const SERVICE_NAMES: [&str; 7] = [
    "switchboard.v1.EventService",
    "switchboard.v1.StateService",
    "switchboard.v1.SupervisorService",
    "switchboard.v1.CallControlService",
    "switchboard.v1.AgentService",
    "switchboard.v1.ChatService",
    "switchboard.v1.CustomerService",
];

/// Every gRPC service, with reflection and health, registered through
/// tonic's [`Routes`] behind grpc-web translation; answers the routes and
/// the health reporter (to report NOT_SERVING at shutdown).
pub fn routes(
    services: Services,
) -> anyhow::Result<(axum::Router, tonic_health::server::HealthReporter)> {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let (health_reporter, health) = tonic_health::server::health_reporter();
    for name in SERVICE_NAMES {
        let reporter = health_reporter.clone();
        tokio::spawn(async move {
            reporter
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        });
    }
    let Services {
        authenticate: auth,
        events,
        state,
        supervisor,
        calls,
        agents,
        chat,
        customers,
    } = services;
    let web = tonic_web::GrpcWebLayer::new();
    let routes = Routes::new(web.layer(reflection_v1))
        .add_service(web.layer(reflection_v1alpha))
        .add_service(web.layer(health))
        .add_service(web.layer(InterceptedService::new(
            EventServiceServer::new(events),
            auth.clone(),
        )))
        .add_service(web.layer(InterceptedService::new(
            StateServiceServer::new(state),
            auth.clone(),
        )))
        .add_service(web.layer(InterceptedService::new(
            SupervisorServiceServer::new(supervisor),
            auth.clone(),
        )))
        .add_service(web.layer(InterceptedService::new(
            CallControlServiceServer::new(calls),
            auth.clone(),
        )))
        .add_service(web.layer(InterceptedService::new(
            AgentServiceServer::new(agents),
            auth.clone(),
        )))
        .add_service(web.layer(InterceptedService::new(
            ChatServiceServer::new(chat),
            AuthenticateIfPresent(auth.clone()),
        )))
        .add_service(web.layer(InterceptedService::new(
            CustomerServiceServer::new(customers),
            auth,
        )));
    Ok((routes.into_axum_router(), health_reporter))
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
