//! `switchboard.v1.CallControlService`: commands on the agent bridge's
//! calls, handed to the call-control service.

use tonic::{Request, Response, Status};

use super::principal;
use crate::commands::calls::{CallControl, CallRequest};
use crate::proto::v1 as pb;

/// `switchboard.v1.CallControlService`: commands to the ARI agent bridge.
pub struct Calls {
    control: CallControl,
}

impl Calls {
    /// The service over `control`.
    pub fn new(control: CallControl) -> Self {
        Calls { control }
    }

    /// Hands `request`, as the command `command` makes of it, to call
    /// control on behalf of the request's principal.
    async fn handle<T>(
        &self,
        request: Request<T>,
        command: impl FnOnce(T) -> CallRequest,
    ) -> Result<Option<pb::Call>, Status> {
        let actor = principal(&request)?;
        let command = command(request.into_inner());
        self.control
            .handle(actor, command)
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
        let call = self.handle(request, CallRequest::Answer).await?;
        Ok(Response::new(pb::AnswerCallResponse { call }))
    }

    async fn reject_call(
        &self,
        request: Request<pb::RejectCallRequest>,
    ) -> Result<Response<pb::RejectCallResponse>, Status> {
        let call = self.handle(request, CallRequest::Reject).await?;
        Ok(Response::new(pb::RejectCallResponse { call }))
    }

    async fn hangup_call(
        &self,
        request: Request<pb::HangupCallRequest>,
    ) -> Result<Response<pb::HangupCallResponse>, Status> {
        let call = self.handle(request, CallRequest::Hangup).await?;
        Ok(Response::new(pb::HangupCallResponse { call }))
    }

    async fn transfer_call(
        &self,
        request: Request<pb::TransferCallRequest>,
    ) -> Result<Response<pb::TransferCallResponse>, Status> {
        let call = self.handle(request, CallRequest::Transfer).await?;
        Ok(Response::new(pb::TransferCallResponse {
            transfer: None,
            call,
        }))
    }

    async fn assign_queue_call(
        &self,
        request: Request<pb::AssignQueueCallRequest>,
    ) -> Result<Response<pb::AssignQueueCallResponse>, Status> {
        let call = self.handle(request, CallRequest::Assign).await?;
        Ok(Response::new(pb::AssignQueueCallResponse { call }))
    }

    async fn hold_call(
        &self,
        request: Request<pb::HoldCallRequest>,
    ) -> Result<Response<pb::HoldCallResponse>, Status> {
        let call = self.handle(request, CallRequest::Hold).await?;
        Ok(Response::new(pb::HoldCallResponse { call }))
    }

    async fn mute_call(
        &self,
        request: Request<pb::MuteCallRequest>,
    ) -> Result<Response<pb::MuteCallResponse>, Status> {
        let call = self.handle(request, CallRequest::Mute).await?;
        Ok(Response::new(pb::MuteCallResponse { call }))
    }

    async fn set_call_priority(
        &self,
        request: Request<pb::SetCallPriorityRequest>,
    ) -> Result<Response<pb::SetCallPriorityResponse>, Status> {
        let call = self.handle(request, CallRequest::SetPriority).await?;
        Ok(Response::new(pb::SetCallPriorityResponse { call }))
    }
}
