//! `switchboard.v1.ChatService`: the widget's and the dashboards' chat,
//! handed to the chat service.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::principal;
use crate::auth::Principal;
use crate::commands::chat::{Chat, StartRequest};
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
        let (conversation, token) = self
            .chat
            .start(StartRequest {
                customer_name: request.customer_name,
                customer_email: request.customer_email,
                customer_phone: request.customer_phone,
                first_message: request.first_message,
                tenant,
                anonymous_from,
            })
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
        let message = self
            .chat
            .send(
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
        let (conversations, next_page_token) = self
            .chat
            .list(
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
        let (conversation, messages, next_after) = self
            .chat
            .history(
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
        let reassignments = self
            .chat
            .reassign(&principal, request.reassignments, &request.reason)
            .await?;
        Ok(Response::new(pb::ReassignConversationsResponse {
            reassignments,
        }))
    }
}
