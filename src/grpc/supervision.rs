//! `switchboard.v1.SupervisorService`: monitor, whisper and barge, handed
//! to the supervision service.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::principal;
use crate::commands::supervision::{SpyOrder, Supervision};
use crate::ledger::model::SpyMode;
use crate::proto::v1 as pb;

/// `switchboard.v1.SupervisorService`: monitor, whisper and barge over AMI.
pub struct Supervisor {
    supervision: Arc<Supervision>,
}

impl Supervisor {
    /// The service over `supervision`.
    pub fn new(supervision: Arc<Supervision>) -> Self {
        Supervisor { supervision }
    }

    async fn spy(
        &self,
        principal: &crate::auth::Principal,
        order: SpyOrder,
    ) -> Result<pb::SupervisorAction, Status> {
        self.supervision
            .spy(principal, order)
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
        let order = SpyOrder {
            mode: SpyMode::Monitor,
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
        let order = SpyOrder {
            mode: SpyMode::Whisper,
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
        let order = SpyOrder {
            mode: SpyMode::Barge,
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
