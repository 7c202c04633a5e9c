//! `switchboard.v1.ChatService`: the widget's and the dashboards' chat,
//! handed to the chat service as the rpcs' requests.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::principal;
use crate::auth::Principal;
use crate::commands::chat::Chat;
use crate::proto::v1 as pb;

/// `switchboard.v1.ChatService`: the widget's and the dashboards' chat.
pub struct Conversations {
    chat: Arc<Chat>,
}

impl Conversations {
    /// The service over `chat`.
    pub fn new(chat: Arc<Chat>) -> Self {
        Conversations { chat }
    }
}

#[tonic::async_trait]
impl pb::chat_service_server::ChatService for Conversations {
    async fn start_conversation(
        &self,
        request: Request<pb::StartConversationRequest>,
    ) -> Result<Response<pb::StartConversationResponse>, Status> {
        // Anyone may start a conversation (no credential: limited per address).
        let caller = request.extensions().get::<Principal>().cloned();
        let peer = request
            .extensions()
            .get::<crate::connections::PeerAddress>()
            .map(|peer| peer.0.ip());
        let answer = self
            .chat
            .start_conversation(caller.as_ref(), peer, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let principal = principal(&request)?;
        let answer = self
            .chat
            .send_message(&principal, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let principal = principal(&request)?;
        let answer = self
            .chat
            .list_conversations(&principal, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::GetConversationResponse>, Status> {
        let principal = principal(&request)?;
        let answer = self
            .chat
            .get_conversation(&principal, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn reassign_conversations(
        &self,
        request: Request<pb::ReassignConversationsRequest>,
    ) -> Result<Response<pb::ReassignConversationsResponse>, Status> {
        let principal = principal(&request)?;
        let answer = self
            .chat
            .reassign_conversations(&principal, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }
}
