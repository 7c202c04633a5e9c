//! The load command end to end at a small scale: the simulator, the server
//! and Socket.IO and gRPC subscribers in one process. Figures at full scale
//! are in `docs/performance.md`; here every offered call event
//! must be delivered and measured.

use switchboard::devtools::load::{LoadArgs, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_command_measures_every_offered_call_event() {
    let report = run(LoadArgs {
        calls_per_second: 20.0,
        socketio: 5,
        grpc: 2,
        seconds: 3,
        warmup: 3,
        talk_seconds: 1.0,
        // AMI wallboards: the 002 events only.
        seeds: vec!["002".into()],
        nodes: 1,
        redis_url: None,
        database_url: None,
    })
    .await
    .expect("the load runs");
    assert!(report.calls_per_second > 5.0, "{report}");
    // Calls of before the window end inside it (rings last 2–8 s).
    assert!(report.calls_ended_per_second > 0.0, "{report}");
    assert!(
        report.ami_events_per_second > report.calls_per_second,
        "{report}"
    );
    for transport in [&report.socketio, &report.grpc] {
        assert!(transport.offered_per_second > 0.0, "{report}");
        assert_eq!(transport.lost, 0, "{report}");
        assert_eq!(transport.reported_dropped, 0, "{report}");
        assert_eq!(
            transport.delivered_per_second, transport.offered_per_second,
            "{report}"
        );
        let latency = transport.latency;
        assert!(
            latency.p50_ms > 0.0 && latency.p50_ms <= latency.p99_ms,
            "{report}"
        );
        assert!(latency.p99_ms <= latency.max_ms, "{report}");
    }
    assert_eq!(
        (report.socketio.subscribers, report.grpc.subscribers),
        (5, 2)
    );
    // The ingest tap timed the calls' arrival in the log, and missed none.
    let ingest = report.ingest;
    assert!(
        ingest.p50_ms > 0.0 && ingest.p50_ms <= ingest.p99_ms && ingest.p99_ms <= ingest.max_ms,
        "{report}"
    );
    assert_eq!(report.ingest_unseen, 0, "{report}");
    let read: Vec<&str> = report
        .socketio
        .one_subscriber
        .iter()
        .map(|(event, _, _)| event.as_str())
        .collect();
    assert!(read.contains(&"call:new"), "{read:?}");
    for seed_000 in ["system_state", "agent_status_updated", "system_stats"] {
        assert!(
            !read.contains(&seed_000),
            "{seed_000} reached a 002 wallboard: {read:?}"
        );
    }
}

/// `--nodes 2`: two nodes of one cluster on the test Redis and Postgres,
/// the subscribers spread over them; each node delivers every offered call
/// event to each of its subscribers, read back from the log in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_command_spreads_its_subscribers_over_the_nodes_of_a_cluster() {
    let (postgres, database) = crate::helpers::Postgres::create().await;
    let report = run(LoadArgs {
        calls_per_second: 20.0,
        socketio: 6,
        grpc: 2,
        seconds: 3,
        warmup: 4,
        talk_seconds: 1.0,
        seeds: vec!["002".into()],
        nodes: 2,
        redis_url: Some(crate::helpers::test_redis_url()),
        database_url: Some(database),
    })
    .await
    .expect("the load runs on two nodes");
    assert!(report.calls_per_second > 5.0, "{report}");
    assert_eq!(report.socketio_by_node.len(), 2, "{report}");
    for (node, on_node) in report.socketio_by_node.iter().enumerate() {
        assert_eq!(on_node.subscribers, 3, "node {node}: {report}");
        assert!(on_node.offered_per_second > 0.0, "{report}");
        assert_eq!(on_node.lost, 0, "node {node}: {report}");
        assert_eq!(
            on_node.delivered_per_second, on_node.offered_per_second,
            "node {node}: {report}"
        );
    }
    for transport in [&report.socketio, &report.grpc] {
        assert_eq!(transport.lost, 0, "{report}");
        assert_eq!(transport.reported_dropped, 0, "{report}");
    }
    assert_eq!(report.ingest_unseen, 0, "{report}");
    postgres.drop_database().await;
}
