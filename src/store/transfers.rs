//! The transfers to human agents in progress, by their agent leg's Call SID
//! (`transfers_in_progress`), shared by every node on one database.

use super::Store;
use crate::error::Result;

/// A transfer in progress.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TransferRow {
    /// The agent leg's Twilio Call SID.
    pub agent_leg_sid: String,
    /// The transfer's id.
    pub transfer_id: String,
    /// The agent's extension.
    pub extension: String,
    /// The customer's call id (its Twilio Call SID).
    pub call_id: String,
    /// The conference the two legs meet in.
    pub conference: String,
    /// When it started, in epoch milliseconds.
    pub started_at_ms: i64,
}

impl Store {
    /// Stores a transfer that started (again: a retry with the same agent leg replaces it).
    pub async fn record_transfer(&self, transfer: &TransferRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO transfers_in_progress \
             (agent_leg_sid, transfer_id, extension, call_id, conference, started_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (agent_leg_sid) DO UPDATE SET transfer_id = excluded.transfer_id, \
             extension = excluded.extension, call_id = excluded.call_id, \
             conference = excluded.conference, started_at_ms = excluded.started_at_ms",
        )
        .bind(&transfer.agent_leg_sid)
        .bind(&transfer.transfer_id)
        .bind(&transfer.extension)
        .bind(&transfer.call_id)
        .bind(&transfer.conference)
        .bind(transfer.started_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The transfer in progress whose agent leg is `agent_leg_sid`.
    pub async fn transfer(&self, agent_leg_sid: &str) -> Result<Option<TransferRow>> {
        let row = sqlx::query_as::<_, TransferRow>(
            "SELECT agent_leg_sid, transfer_id, extension, call_id, conference, started_at_ms \
             FROM transfers_in_progress WHERE agent_leg_sid = $1",
        )
        .bind(agent_leg_sid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Takes the transfer whose agent leg is `agent_leg_sid` out of those in
    /// progress; `None` when it is not one (or another node took it).
    pub async fn finish_transfer(&self, agent_leg_sid: &str) -> Result<Option<TransferRow>> {
        let row = sqlx::query_as::<_, TransferRow>(
            "DELETE FROM transfers_in_progress WHERE agent_leg_sid = $1 \
             RETURNING agent_leg_sid, transfer_id, extension, call_id, conference, started_at_ms",
        )
        .bind(agent_leg_sid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }
}
