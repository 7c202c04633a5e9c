//! `switchboard.v1.CallControlService`: commands on the agent bridge's
//! calls, handed to the call-control service.

use tonic::{Request, Response, Status};

use super::principal;
use crate::commands::calls::CallControl;
use crate::proto::v1 as pb;
use crate::sources::ari::bridge::CommandKind;

/// `switchboard.v1.CallControlService`: commands to the ARI agent bridge.
pub struct Calls {
    control: CallControl,
}

impl Calls {
    /// The service over `control`.
    pub fn new(control: CallControl) -> Self {
        Calls { control }
    }

    /// Sends `kind` for `session` on behalf of the request's principal.
    async fn command<T>(
        &self,
        request: &Request<T>,
        session: String,
        kind: CommandKind,
    ) -> Result<Option<pb::Call>, Status> {
        let actor = principal(request)?;
        self.control
            .command(actor, session, kind)
            .await
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::call_control_service_server::CallControlService for Calls {
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
