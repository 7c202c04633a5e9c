//! The chat's storage: conversations, messages in the order they were
//! stored (idempotent by the client's message id), assignments, and the
//! settings that outlive a restart (the system mode).

use super::{ConversationRow, MessageRow, Result, Store};
use crate::error::Error;

const CONVERSATION_COLUMNS: &str = "id, tenant, status, channel, customer_name, customer_email, \
     customer_phone, assigned_agent_id, created_at_ms, updated_at_ms";

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, sender_type, sender_id, sender_name, content, created_at_ms, seq";

/// A conversation with the text of its last message (a page's row).
#[derive(Debug, sqlx::FromRow)]
struct ConversationWithLast {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    last_message: String,
}

/// A conversation not closed, and who has it.
#[derive(Debug, sqlx::FromRow)]
struct OpenConversation {
    id: String,
    assigned_agent_id: Option<String>,
}

/// A page of conversations and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    /// Newest activity first, each with the text of its last message (empty when none).
    pub conversations: Vec<(ConversationRow, String)>,
    /// The cursor of the next page (`updated_at_ms:id`), empty at the end.
    pub next: String,
}

impl Store {
    /// Stores a message at the end of its conversation and touches the
    /// conversation. A message whose id is already stored in the same
    /// conversation is a retry: nothing is written and the stored one comes
    /// back with `false`. Fails when the conversation does not exist, or the
    /// id belongs to another conversation's message.
    pub async fn insert_message(&self, row: &MessageRow) -> Result<(MessageRow, bool)> {
        let mut tx = self.pool.begin().await?;
        // Ids are unique within a conversation: the same id again is a retry.
        let existing = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND id = $2"
        ))
        .bind(&row.conversation_id)
        .bind(&row.id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            return Ok((existing, false));
        }
        let touched = sqlx::query("UPDATE conversations SET updated_at_ms = $1 WHERE id = $2")
            .bind(row.created_at_ms)
            .bind(&row.conversation_id)
            .execute(&mut *tx)
            .await?;
        if touched.rows_affected() == 0 {
            return Err(Error::NotFound(format!(
                "conversation {}",
                row.conversation_id
            )));
        }
        let last: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = $1",
        )
        .bind(&row.conversation_id)
        .fetch_one(&mut *tx)
        .await?;
        let mut stored = row.clone();
        stored.seq = last + 1;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, sender_type, sender_id, sender_name, content, created_at_ms, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&stored.id)
        .bind(&stored.conversation_id)
        .bind(&stored.sender_type)
        .bind(&stored.sender_id)
        .bind(&stored.sender_name)
        .bind(&stored.content)
        .bind(stored.created_at_ms)
        .bind(stored.seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((stored, true))
    }

    /// One conversation, if it exists.
    pub async fn conversation(&self, id: &str) -> Result<Option<ConversationRow>> {
        let row = sqlx::query_as::<_, ConversationRow>(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// A conversation's messages in stored order.
    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<MessageRow>> {
        self.messages_after(conversation_id, 0, i64::MAX).await
    }

    /// Up to `limit` messages of a conversation after place `after_seq`, in stored order.
    pub async fn messages_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// A page of conversations, newest activity first: of `status` when
    /// given; for an agent (`Some(agent_id)`), theirs and the unassigned
    /// ones; starting after `cursor` (from the previous page).
    pub async fn conversations_page(
        &self,
        status: Option<&str>,
        agent: Option<&str>,
        cursor: &str,
        limit: i64,
    ) -> Result<ConversationPage> {
        let (before_ms, before_id) = match cursor.split_once(':') {
            Some((ms, id)) => (
                ms.parse::<i64>()
                    .map_err(|_| Error::InvalidArgument("page token is not valid".into()))?,
                id.to_owned(),
            ),
            None if cursor.is_empty() => (i64::MAX, String::new()),
            None => return Err(Error::InvalidArgument("page token is not valid".into())),
        };
        let rows = sqlx::query_as::<_, ConversationWithLast>(&format!(
            "SELECT {CONVERSATION_COLUMNS}, COALESCE((SELECT m.content FROM messages m \
             WHERE m.conversation_id = conversations.id ORDER BY m.seq DESC LIMIT 1), '') \
             AS last_message \
             FROM conversations \
             WHERE ($1 = '' OR status = $1) \
             AND ($2 = '' OR ((assigned_agent_id = $2 OR assigned_agent_id IS NULL) \
                  AND channel <> 'voice_ai')) \
             AND (updated_at_ms < $3 OR (updated_at_ms = $3 AND ($4 = '' OR id < $4))) \
             ORDER BY updated_at_ms DESC, id DESC LIMIT $5"
        ))
        .bind(status.unwrap_or(""))
        .bind(agent.unwrap_or(""))
        .bind(before_ms)
        .bind(&before_id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut conversations: Vec<(ConversationRow, String)> = rows
            .into_iter()
            .map(|row| (row.conversation, row.last_message))
            .collect();
        let next = if conversations.len() as i64 > limit {
            conversations.truncate(limit as usize);
            conversations
                .last()
                .map(|(c, _)| format!("{}:{}", c.updated_at_ms, c.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ConversationPage {
            conversations,
            next,
        })
    }

    /// Stores a conversation, or updates the status and last change of the
    /// one with its id (a voice-AI call seen again).
    pub async fn put_conversation(&self, row: &ConversationRow) -> Result<()> {
        self.write_conversation(
            row,
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at_ms = excluded.updated_at_ms",
        )
        .await
    }

    /// Inserts `row`; `on_conflict` says what a taken id does (empty: fail).
    pub(super) async fn write_conversation(
        &self,
        row: &ConversationRow,
        on_conflict: &str,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO conversations ({CONVERSATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10){on_conflict}"
        ))
        .bind(&row.id)
        .bind(&row.tenant)
        .bind(&row.status)
        .bind(&row.channel)
        .bind(&row.customer_name)
        .bind(&row.customer_email)
        .bind(&row.customer_phone)
        .bind(row.assigned_agent_id.clone())
        .bind(row.created_at_ms)
        .bind(row.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives a conversation to `agent` (or back to the pool with `None`), with its status.
    pub async fn assign_conversation(
        &self,
        id: &str,
        agent: Option<&str>,
        status: &str,
        at_ms: i64,
    ) -> Result<()> {
        let result = sqlx::query(
            "UPDATE conversations SET assigned_agent_id = $1, status = $2, updated_at_ms = $3 WHERE id = $4",
        )
        .bind(agent.map(str::to_owned))
        .bind(status)
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound(format!("conversation {id}")));
        }
        Ok(())
    }

    /// The chat conversations not closed, (id, assigned agent): those chat
    /// agents carry and may be reassigned (not the voice-AI calls' records,
    /// whose assignee is the provider's agent).
    pub async fn open_conversations(&self) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query_as::<_, OpenConversation>(
            "SELECT id, assigned_agent_id FROM conversations \
             WHERE status <> 'closed' AND channel <> 'voice_ai' ORDER BY created_at_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.id, row.assigned_agent_id))
            .collect())
    }

    /// A stored setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// Stores a setting.
    pub async fn put_setting(&self, name: &str, value: &str, at_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (name, value, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(name)
        .bind(value)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
