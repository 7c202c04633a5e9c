//! Hot paths of every event: the log append (ledger + numbering + fan-out),
//! the Socket.IO routing and JSON encoding, the Socket.IO wire (framing an
//! emission once for its room, reading a client's event), and phone masking.
//!
//!   cargo bench --bench hot_paths

use std::hint::black_box;
use std::sync::Arc;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use switchboard::devtools::sim::pbx::{SimPbx, Workload};
use switchboard::gateway::route;
use switchboard::ledger::model::{CallIds, Direction, EndReason};
use switchboard::ledger::{Input, Ledger};
use switchboard::log::{EventLog, LogSettings};
use switchboard::metrics::Metrics;
use switchboard::proto::v1::{self as pb, event::Payload};
use switchboard::socket_json::{masked, to_json};
use switchboard::socketio::packet::SocketPacket;
use switchboard::socketio::server::event_message;
use switchboard::sources::ami::codec::encode_message;
use switchboard::sources::ami::translate::Translator;
use switchboard::sources::ami::{AmiCodec, AmiFrame};
use switchboard::time::to_timestamp;
use tokio_util::codec::Decoder;

/// mimalloc: the event path allocates many small, short-lived strings and
/// messages, which it serves markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn call(n: u32) -> pb::ActiveCall {
    pb::ActiveCall {
        uniqueid: format!("1770784970.{n}"),
        channel: format!("PJSIP/3001-{n:08}"),
        callerid: "+6421436772".into(),
        destination: "092430770".into(),
        context: "from-external".into(),
        state: "Up".into(),
        start_time: Some(to_timestamp(chrono::Utc::now())),
        answer_time: Some(to_timestamp(chrono::Utc::now())),
        answered: true,
        duration: 5,
        agent: Some("3001".into()),
        disposition: None,
    }
}

fn started(id: &str) -> Input {
    Input::CallStarted {
        call_id: id.into(),
        ids: CallIds {
            ami_uniqueid: id.into(),
            ..CallIds::default()
        },
        direction: Direction::Inbound,
        customer_number: "254712345678".into(),
        caller_name: "Customer".into(),
        destination: "8000".into(),
        context: "from-external".into(),
        channel_state: "Ring".into(),
        queue: None,
        tenant: String::new(),
    }
}

fn log_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append_call_life");
    for subscribers in [0_usize, 100] {
        group.bench_function(format!("{subscribers}_subscribers"), |b| {
            let log = EventLog::new(
                Ledger::new("auto"),
                LogSettings::default(),
                Arc::new(Metrics::new()),
            );
            let _receivers: Vec<_> = (0..subscribers).map(|_| log.subscribe_live()).collect();
            let mut n = 0_u64;
            b.iter(|| {
                n += 1;
                let id = n.to_string();
                let now = chrono::Utc::now();
                black_box(log.apply(started(&id), now));
                black_box(log.apply(
                    Input::CallEnded {
                        call_id: id,
                        reason: EndReason::Completed,
                    },
                    now,
                ));
            });
        });
    }
    group.finish();
}

fn socket_encoding(c: &mut Criterion) {
    let list = pb::ActiveCallList {
        calls: (0..50).map(call).collect(),
    };
    c.bench_function("socket_json_calls_active_50", |b| {
        b.iter(|| black_box(to_json(&list)))
    });
    let event = pb::Event {
        sequence: 1,
        epoch: "e".into(),
        time: None,
        tenant: "acme".into(),
        payload: Some(Payload::CallNew(call(1))),
    };
    c.bench_function("gateway_route_call_new_with_tenant_copy", |b| {
        b.iter(|| black_box(route(&event)))
    });
    c.bench_function("mask_calls_active_50", |b| {
        b.iter_batched(
            || list.clone(),
            |l| black_box(masked(&l)),
            BatchSize::SmallInput,
        )
    });
}

/// The Socket.IO wire: an emission is framed once per room (its payload
/// already JSON); a client's event is read with its name, arguments and ack id.
fn socketio_wire(c: &mut Criterion) {
    let payload = serde_json::to_string(&to_json(&call(1))).expect("json");
    c.bench_function("socketio_frame_call_new", |b| {
        b.iter(|| black_box(event_message("call:new", black_box(&payload))))
    });
    let client_event =
        r#"27["supervisor:monitor",{"agentExtension":"1001","callUniqueId":"1700000000.1"}]"#;
    c.bench_function("socketio_decode_client_event", |b| {
        b.iter(|| {
            let packet = SocketPacket::decode(black_box(client_event)).expect("a packet");
            black_box(packet.event().expect("an event").args.len())
        })
    });
}

/// Decodes a real Asterisk 22 capture (read in place from ../shared/fixtures).
fn ami_decode(c: &mut Criterion) {
    let fixtures = std::env::var("SWITCHBOARD_FIXTURES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures").to_owned());
    let path = format!("{fixtures}/ami/asterisk-22/queue_call.ami");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (check out beside ../shared or set SWITCHBOARD_FIXTURES)")
    });
    let count = {
        let mut codec = AmiCodec::default();
        let mut buffer = BytesMut::from(&bytes[..]);
        std::iter::from_fn(|| codec.decode(&mut buffer).ok().flatten())
            .filter(|f| matches!(f, AmiFrame::Message(_)))
            .count()
    };
    let mut group = c.benchmark_group("ami_decode");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("queue_call_capture", |b| {
        b.iter_batched(
            || BytesMut::from(&bytes[..]),
            |mut buffer| {
                let mut codec = AmiCodec::default();
                while let Some(frame) = codec.decode(&mut buffer).expect("decodes") {
                    black_box(frame);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The whole AMI ingest path on one core: wire bytes of a simulated hour of
/// a 20-agent, 4-queue call center → frames → ledger inputs → the log
/// (ledger apply, numbering, publication). Throughput is AMI events.
fn ami_ingest(c: &mut Criterion) {
    let mut pbx = SimPbx::new(Workload {
        agents: 20,
        queues: 4,
        calls_per_minute: 30.0,
        seed: 3,
        // The queue calls only, as the figures in the README were measured.
        other_calls_per_minute: 0.0,
        ..Workload::default()
    });
    let mut wire = BytesMut::new();
    let mut count = 0_u64;
    for _ in 0..36_000 {
        for message in pbx.tick(0.1) {
            encode_message(&message, &mut wire);
            count += 1;
        }
    }
    let mut group = c.benchmark_group("ami_ingest");
    group.throughput(Throughput::Elements(count));
    group.sample_size(20);
    group.bench_function("decode", |b| {
        on_one_core(
            b,
            || wire.clone(),
            |mut buffer| {
                let mut codec = AmiCodec::without_greeting(64 * 1024);
                while let Some(frame) = codec.decode(&mut buffer).expect("decodes") {
                    black_box(frame);
                }
            },
        )
    });
    group.bench_function("decode_translate", |b| {
        on_one_core(
            b,
            || wire.clone(),
            |mut buffer| {
                let mut codec = AmiCodec::without_greeting(64 * 1024);
                let mut translator = Translator::new();
                let mut inputs = Vec::new();
                while let Some(frame) = codec.decode(&mut buffer).expect("decodes") {
                    if let AmiFrame::Message(message) = frame {
                        translator.translate(&message, &mut inputs);
                        black_box(inputs.drain(..).count());
                    }
                }
            },
        )
    });
    // As the AMI source applies events: one batch's inputs together, its
    // whole lists once. One event per batch when all is quiet; 64 when
    // events queue up.
    for batch in [1_usize, 64] {
        group.bench_function(format!("decode_translate_apply_batches_of_{batch}"), |b| {
            ingest(b, &wire, batch)
        });
    }
    group.finish();

    // The same path over what a real Asterisk 22 sends for a queue call and
    // a plain call, back to back: besides the call events, the VarSet,
    // Newexten, DeviceStateChange, Cdr, ... a watcher reads and ignores.
    let repetitions = 400;
    let (wire, count) = asterisk_22_stream(repetitions);
    // Each repetition is a fresh set of calls to the ledger, not replays it ignores.
    let (ended, started) = call_lives(&wire);
    assert!(
        started >= 2 * repetitions && ended == started,
        "{started} calls started and {ended} ended over {repetitions} repetitions"
    );
    let mut group = c.benchmark_group("ami_ingest_asterisk_22");
    group.throughput(Throughput::Elements(count));
    group.sample_size(20);
    for batch in [1_usize, 64] {
        group.bench_function(format!("decode_translate_apply_batches_of_{batch}"), |b| {
            ingest(b, &wire, batch)
        });
    }
    group.finish();
}

/// The messages of the Asterisk 22 captures of `../shared/fixtures/ami/`
/// (or `$SWITCHBOARD_FIXTURES/ami/`), repeated `times` over, re-framed as one
/// stream; and how many messages it holds.
fn asterisk_22_stream(times: usize) -> (BytesMut, u64) {
    let root = std::env::var_os("SWITCHBOARD_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
        });
    let mut messages = Vec::new();
    for capture in ["queue_call.ami", "simple_call.ami"] {
        let path = root.join("ami/asterisk-22").join(capture);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set SWITCHBOARD_FIXTURES)", path.display()));
        let mut buffer = BytesMut::from(&bytes[..]);
        let mut codec = AmiCodec::default();
        while let Some(frame) = codec.decode_eof(&mut buffer).expect("decodes") {
            if let AmiFrame::Message(message) = frame {
                messages.push(message);
            }
        }
    }
    let mut wire = BytesMut::new();
    for _ in 0..times {
        for message in &messages {
            encode_message(message, &mut wire);
        }
    }
    (wire, (messages.len() * times) as u64)
}

/// How many calls `wire` starts and ends, applied as the AMI source would.
fn call_lives(wire: &BytesMut) -> (usize, usize) {
    let log = EventLog::new(
        Ledger::new("auto"),
        LogSettings::default(),
        Arc::new(Metrics::new()),
    );
    let (mut started, mut ended) = (0, 0);
    apply_stream(&log, wire.clone(), 1, |events| {
        for event in events {
            match event.payload {
                Some(Payload::CallNew(_)) => started += 1,
                Some(Payload::CallHangup(_)) => ended += 1,
                _ => {}
            }
        }
    });
    (ended, started)
}

/// Decodes, translates and applies `wire` in batches of `batch` AMI events.
fn ingest(b: &mut criterion::Bencher, wire: &BytesMut, batch: usize) {
    on_one_core(
        b,
        || {
            let log = EventLog::new(
                Ledger::new("auto"),
                LogSettings::default(),
                Arc::new(Metrics::new()),
            );
            (wire.clone(), log)
        },
        |(buffer, log)| {
            apply_stream(&log, buffer, batch, |events| {
                black_box(events);
            });
            log
        },
    )
}

/// Times `routine` over fresh inputs from `setup` by the CPU time this
/// thread spends in it, not by the wall clock. The ingest targets are per
/// core, and on a shared VM the wall clock also runs while the hypervisor
/// gives the core to someone else (steal time), which swung these figures
/// by ±30% from one run to the next. Setting up the input and dropping the
/// output are not timed.
fn on_one_core<I, O>(
    b: &mut criterion::Bencher,
    mut setup: impl FnMut() -> I,
    mut routine: impl FnMut(I) -> O,
) {
    b.iter_custom(|iterations| {
        let mut spent = std::time::Duration::ZERO;
        for _ in 0..iterations {
            let input = setup();
            let started = cpu_time::ThreadTime::now();
            let output = black_box(routine(input));
            spent += started.elapsed();
            drop(output);
        }
        spent
    })
}

/// Decodes `buffer`, translates its messages and applies them to `log` as
/// the AMI source does, `batch` AMI events at a time; `each` gets every
/// batch's events.
///
/// Ledger time advances one microsecond per AMI event: the clock the source
/// would read if the PBX sent the 1 M events/s this bench is held to. The
/// ledger's whole lists go out at most once per `LIST_EVERY` of that time,
/// as they would in production at that rate (one `now` for the whole stream
/// would hold them for all of it and flatter the figure).
fn apply_stream(
    log: &EventLog,
    mut buffer: BytesMut,
    batch: usize,
    mut each: impl FnMut(Vec<Arc<pb::Event>>),
) {
    let mut codec = AmiCodec::without_greeting(64 * 1024);
    let mut translator = Translator::new();
    let mut inputs = Vec::new();
    let mut batched = 0;
    let start = chrono::Utc::now();
    let mut read = 0;
    let now = |read: i64| start + chrono::TimeDelta::microseconds(read);
    while let Some(frame) = codec.decode(&mut buffer).expect("decodes") {
        if let AmiFrame::Message(message) = frame {
            translator.translate(&message, &mut inputs);
            batched += 1;
            read += 1;
            if batched == batch {
                each(log.apply_all(inputs.drain(..), now(read)));
                batched = 0;
            }
        }
    }
    each(log.apply_all(inputs.drain(..), now(read)));
    each(log.flush_lists(now(read) + switchboard::ledger::LIST_EVERY));
}

criterion_group!(
    benches,
    log_append,
    socket_encoding,
    socketio_wire,
    ami_decode,
    ami_ingest
);
criterion_main!(benches);
