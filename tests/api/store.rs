//! The store layer's suite, run against SQLite and against Postgres.
//! Postgres comes from `TEST_DATABASE_URL` (`make test` starts a private
//! instance with `.ci/services`); each test makes and drops its own database.

use switchboard::store::{CallRecordRow, ConversationRow, MessageRow, Store};

use crate::helpers::Postgres;

fn call(id: &str, ended_at_ms: i64) -> CallRecordRow {
    CallRecordRow {
        call_id: id.into(),
        tenant: String::new(),
        direction: "inbound".into(),
        customer_number: "+6421436772".into(),
        caller_name: "Customer".into(),
        destination: "092430770".into(),
        agent_extension: Some("3001".into()),
        queue: None,
        ami_uniqueid: id.into(),
        channel: "PJSIP/3001-00000024".into(),
        started_at_ms: ended_at_ms - 5000,
        answered_at_ms: Some(ended_at_ms - 3000),
        ended_at_ms,
        disposition: "ANSWERED".into(),
        linkedid: id.into(),
        end_reason: "completed".into(),
        answered_by: "3001".into(),
        hold_seconds: 1,
        talk_seconds: 2,
        transfers: r#"[{"kind":"blind","transferer":"3001","target":"3002"}]"#.into(),
        merged_call_ids: "[]".into(),
    }
}

async fn suite(store: Store) {
    // Call records: idempotent on the call id, newest first.
    assert!(
        store
            .insert_call_record(&call("1770784970.56", 2_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_call_record(&call("1770784970.56", 2_000))
            .await
            .unwrap()
    );
    let mut unanswered = call("1770784970.57", 3_000);
    unanswered.answered_at_ms = None;
    unanswered.agent_extension = None;
    unanswered.disposition = "NO ANSWER".into();
    store.insert_call_record(&unanswered).await.unwrap();
    let recent = store.recent_call_records(10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(
        recent[0], unanswered,
        "round-trips every column, NULLs included"
    );
    assert_eq!(recent[1], call("1770784970.56", 2_000));
    assert_eq!(store.recent_call_records(1).await.unwrap().len(), 1);

    // A call still up at a stop is an open record, completed when it ends later.
    let mut open = call("1770784970.58", 4_000);
    open.end_reason = "open".into();
    open.disposition = "OPEN".into();
    open.talk_seconds = 0;
    assert!(store.insert_call_record(&open).await.unwrap());
    let finished = call("1770784970.58", 9_000);
    assert!(store.insert_call_record(&finished).await.unwrap());
    assert!(
        !store.insert_call_record(&open).await.unwrap(),
        "a finished record is never reopened"
    );
    let recent = store.recent_call_records(1).await.unwrap();
    assert_eq!(recent, [finished]);

    // Agent sessions: closing closes only the open ones of that extension.
    store
        .open_agent_session("s1", "3001", "agent-1", 100)
        .await
        .unwrap();
    store
        .open_agent_session("s2", "3002", "agent-2", 100)
        .await
        .unwrap();
    assert_eq!(store.close_agent_sessions("3001", 200).await.unwrap(), 1);
    assert_eq!(store.close_agent_sessions("3001", 300).await.unwrap(), 0);
    store
        .open_agent_session("s1", "3001", "agent-1", 100)
        .await
        .unwrap();
    let sessions = store.agent_sessions("3001").await.unwrap();
    assert_eq!(sessions.len(), 1, "opening a session twice keeps one");
    assert_eq!(sessions[0].logged_out_ms, Some(200));

    // Pauses: one open pause per agent and queue; resuming closes that queue's.
    assert!(
        store
            .open_agent_pause("3001", "sales", "lunch", 100)
            .await
            .unwrap()
    );
    assert!(
        !store
            .open_agent_pause("3001", "sales", "lunch", 150)
            .await
            .unwrap(),
        "already paused in sales"
    );
    assert!(
        store
            .open_agent_pause("3001", "support", "", 160)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .close_agent_pauses("3001", Some("sales"), 200)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.close_agent_pauses("3001", None, 300).await.unwrap(),
        1
    );
    let pauses = store.agent_pauses("3001").await.unwrap();
    assert_eq!(pauses.len(), 2);
    assert_eq!(
        (pauses[0].queue.as_str(), pauses[0].reason.as_str()),
        ("sales", "lunch")
    );
    assert_eq!(pauses[0].resumed_at_ms, Some(200));
    assert_eq!(pauses[1].resumed_at_ms, Some(300));

    // Conversations and messages: messages need their conversation.
    let conversation = ConversationRow {
        id: "conv-789".into(),
        tenant: "acme".into(),
        status: "open".into(),
        channel: "chat".into(),
        customer_name: "Ann".into(),
        customer_email: "ann@example.com".into(),
        customer_phone: String::new(),
        assigned_agent_id: None,
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
    };
    store.insert_conversation(&conversation).await.unwrap();
    assert!(
        store.insert_conversation(&conversation).await.is_err(),
        "ids are unique"
    );
    let message = |id: &str, at: i64| MessageRow {
        id: id.into(),
        conversation_id: "conv-789".into(),
        sender_type: "customer".into(),
        sender_id: String::new(),
        sender_name: "Ann".into(),
        content: format!("hello {id}"),
        created_at_ms: at,
        seq: 0,
    };
    let (first, stored) = store.insert_message(&message("m2", 1_200)).await.unwrap();
    assert!(stored);
    assert_eq!(first.seq, 1);
    store.insert_message(&message("m1", 1_100)).await.unwrap();
    // A retry with the same id is recognised and stored once.
    let (again, stored) = store.insert_message(&message("m2", 1_250)).await.unwrap();
    assert!(!stored);
    assert_eq!((again.seq, again.created_at_ms), (1, 1_200));
    let ids: Vec<(String, i64)> = store
        .messages("conv-789")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.seq))
        .collect();
    assert_eq!(
        ids,
        [("m2".to_owned(), 1), ("m1".to_owned(), 2)],
        "in the order stored"
    );
    assert_eq!(
        store
            .conversation("conv-789")
            .await
            .unwrap()
            .unwrap()
            .updated_at_ms,
        1_100
    );
    let mut orphan = message("m3", 1_300);
    orphan.conversation_id = "nope".into();
    let error = store.insert_message(&orphan).await.unwrap_err();
    assert_eq!(error.code_name(), "not_found");
    assert!(store.conversation("nope").await.unwrap().is_none());

    // Webhook receipts: a second delivery of the same id is recognised.
    assert!(
        store
            .record_webhook_receipt("retell", "call_1:call_ended", 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_webhook_receipt("retell", "call_1:call_ended", 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_webhook_receipt("twilio", "call_1:call_ended", 2)
            .await
            .unwrap()
    );
    store.close().await;
}

#[tokio::test]
async fn the_store_suite_passes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    suite(Store::connect(&url).await.expect("sqlite store")).await;
    // Migrations are idempotent: opening the same file again works and keeps the data.
    let again = Store::connect(&url).await.expect("reopen");
    assert_eq!(again.recent_call_records(10).await.unwrap().len(), 3);
}

#[tokio::test]
async fn the_store_suite_passes_on_postgres() {
    let (database, url) = Postgres::create().await;
    suite(Store::connect(&url).await.expect("postgres store")).await;
    let again = Store::connect(&url).await.expect("reconnect");
    assert_eq!(again.recent_call_records(10).await.unwrap().len(), 3);
    again.close().await;
    database.drop_database().await;
}
