//! `switchboard.v1.AgentService`: the agent directory, handed to its admin service.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::principal;
use crate::commands::agents::AgentAdmin;
use crate::proto::v1 as pb;

/// `switchboard.v1.AgentService`: the agent directory.
pub struct Agents {
    admin: Arc<AgentAdmin>,
}

impl Agents {
    /// The service over `admin`.
    pub fn new(admin: Arc<AgentAdmin>) -> Self {
        Agents { admin }
    }
}

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for Agents {
    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let agents = self.admin.list(&principal(&request)?)?;
        Ok(Response::new(pb::ListAgentsResponse { agents }))
    }

    async fn put_agent(
        &self,
        request: Request<pb::PutAgentRequest>,
    ) -> Result<Response<pb::PutAgentResponse>, Status> {
        let principal = principal(&request)?;
        let answer = self
            .admin
            .put(&principal, request.into_inner().agent)
            .await?;
        Ok(Response::new(answer))
    }
}
