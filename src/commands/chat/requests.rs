//! The chat's commands as the surfaces hand them in: each rpc's request
//! (the HTTP API decodes its JSON into the same), with the caller, to the
//! rpc's response.

use super::*;

/// The chat's commands as every surface hands them in: the rpc's request,
/// the caller, the rpc's response. The HTTP API decodes its JSON into the
/// same requests.
impl Chat {
    /// `StartConversation` / `POST /api/conversations`.
    pub async fn start_conversation(
        &self,
        caller: Option<&Principal>,
        peer: Option<std::net::IpAddr>,
        request: pb::StartConversationRequest,
    ) -> Result<pb::StartConversationResponse, Error> {
        let (conversation, customer_token) =
            self.start(StartRequest::of(request, caller, peer)).await?;
        Ok(pb::StartConversationResponse {
            conversation: Some(conversation),
            customer_token,
        })
    }

    /// `SendMessage` / `POST /api/conversations/{id}/messages`.
    pub async fn send_message(
        &self,
        principal: &Principal,
        request: pb::SendMessageRequest,
    ) -> Result<pb::SendMessageResponse, Error> {
        let message = self
            .send(
                principal,
                &request.conversation_id,
                &request.content,
                Some(&request.message_id),
            )
            .await?;
        Ok(pb::SendMessageResponse {
            message: Some(message),
        })
    }

    /// `ListConversations` / `GET /api/conversations`.
    pub async fn list_conversations(
        &self,
        principal: &Principal,
        request: pb::ListConversationsRequest,
    ) -> Result<pb::ListConversationsResponse, Error> {
        let (conversations, next_page_token) = self
            .list(
                principal,
                request.status(),
                request.page_size,
                &request.page_token,
            )
            .await?;
        Ok(pb::ListConversationsResponse {
            conversations,
            next_page_token,
        })
    }

    /// `GetConversation` / `GET /api/conversations/{id}`.
    pub async fn get_conversation(
        &self,
        principal: &Principal,
        request: pb::GetConversationRequest,
    ) -> Result<pb::GetConversationResponse, Error> {
        let (conversation, messages, next_after) = self
            .history(
                principal,
                &request.conversation_id,
                request.after,
                request.limit,
            )
            .await?;
        Ok(pb::GetConversationResponse {
            conversation: Some(conversation),
            messages,
            next_after,
        })
    }

    /// `ReassignConversations` / `POST /api/conversations/reassign`.
    pub async fn reassign_conversations(
        &self,
        principal: &Principal,
        request: pb::ReassignConversationsRequest,
    ) -> Result<pb::ReassignConversationsResponse, Error> {
        let reassignments = self
            .reassign(principal, request.reassignments, &request.reason)
            .await?;
        Ok(pb::ReassignConversationsResponse { reassignments })
    }

    /// `SetSystemMode` / `PUT /api/system-mode`.
    pub async fn set_mode(
        &self,
        principal: &Principal,
        request: pb::SetSystemModeRequest,
    ) -> Result<pb::SetSystemModeResponse, Error> {
        let mode = request.mode.trim().to_owned();
        let sequence = self.set_system_mode(principal, &mode).await?;
        tracing::info!(%mode, sequence, "system mode set");
        Ok(pb::SetSystemModeResponse { mode, sequence })
    }
}
