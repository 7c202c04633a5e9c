//! The AMI client against a scripted AMI peer on loopback: login (plain, MD5,
//! refused), event-list actions, keep-alive, garbage and oversized frames,
//! timeouts and reconnection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use switchboard::sources::ami::client::md5_key;
use switchboard::sources::ami::client::{AmiError, AmiNotice, AmiSettings, spawn};
use switchboard::sources::ami::codec::{AmiCodec, AmiFrame, SkipReason, encode_pairs as reply};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// How the scripted peer behaves.
#[derive(Clone, Default)]
struct Peer {
    refuse_login: bool,
    mute_pings: bool,
    /// Raw bytes written right after a successful login.
    after_login: Vec<u8>,
}

const SECRET: &str = "watcherpw";
const CHALLENGE: &str = "145769581";

/// Starts the peer; returns its address and a count of accepted connections.
async fn start(peer: Peer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let peer = peer.clone();
            tokio::spawn(async move {
                stream
                    .write_all(b"Asterisk Call Manager/11.0.0\r\n")
                    .await
                    .unwrap();
                let mut actions = Framed::new(stream, AmiCodec::without_greeting(64 * 1024));
                while let Some(Ok(AmiFrame::Message(action))) = actions.next().await {
                    let id = action.action_id().unwrap_or_default().to_owned();
                    let out = match action.get("Action").unwrap_or_default() {
                        "Challenge" => reply(&[
                            ("Response", "Success"),
                            ("ActionID", &id),
                            ("Challenge", CHALLENGE),
                        ]),
                        "Login" => {
                            let expected = md5_key(CHALLENGE, SECRET);
                            let accepted = !peer.refuse_login
                                && (action.get("Secret") == Some(SECRET)
                                    || action.get("Key") == Some(expected.as_str()));
                            if accepted {
                                let mut out = reply(&[
                                    ("Response", "Success"),
                                    ("ActionID", &id),
                                    ("Message", "Authentication accepted"),
                                ]);
                                out.extend_from_slice(&peer.after_login);
                                out
                            } else {
                                reply(&[
                                    ("Response", "Error"),
                                    ("ActionID", &id),
                                    ("Message", "Authentication failed"),
                                ])
                            }
                        }
                        "Ping" if peer.mute_pings => continue,
                        "Ping" => {
                            reply(&[("Response", "Success"), ("ActionID", &id), ("Ping", "Pong")])
                        }
                        "CoreShowChannels" => {
                            let mut out = reply(&[
                                ("Response", "Success"),
                                ("ActionID", &id),
                                ("EventList", "start"),
                                ("Message", "Channels will follow"),
                            ]);
                            for channel in ["PJSIP/3001-00000024", "PJSIP/trunk-00000025"] {
                                out.extend_from_slice(&reply(&[
                                    ("Event", "CoreShowChannel"),
                                    ("ActionID", &id),
                                    ("Channel", channel),
                                ]));
                            }
                            out.extend_from_slice(&reply(&[
                                ("Event", "Newchannel"),
                                ("Channel", "PJSIP/3002-1"),
                                ("Uniqueid", "9.9"),
                            ]));
                            out.extend_from_slice(&reply(&[
                                ("Event", "CoreShowChannelsComplete"),
                                ("ActionID", &id),
                                ("EventList", "Complete"),
                                ("ListItems", "2"),
                            ]));
                            out
                        }
                        "Ignored" | "Logoff" => continue,
                        other => reply(&[
                            ("Response", "Error"),
                            ("ActionID", &id),
                            ("Message", &format!("Invalid/unknown command: {other}")),
                        ]),
                    };
                    // Raw bytes straight to the socket: the peer never uses the Framed sink.
                    if actions.get_mut().write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, connections)
}

fn settings(address: &str) -> AmiSettings {
    let mut settings = AmiSettings::new(address, "watcher", SECRET);
    settings.action_timeout = Duration::from_millis(500);
    settings.ping_interval = Duration::from_millis(200);
    settings.backoff_min = Duration::from_millis(100);
    settings.backoff_max = Duration::from_millis(400);
    settings.max_frame = 4096;
    settings
}

async fn notice(notices: &mut mpsc::Receiver<AmiNotice>) -> AmiNotice {
    tokio::time::timeout(Duration::from_secs(5), notices.recv())
        .await
        .expect("a notice in time")
        .expect("client running")
}

#[tokio::test]
async fn logs_in_and_collects_an_event_list_while_other_events_flow() {
    let (address, _) = start(Peer::default()).await;
    let (sender, mut notices) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let (ami, _task) = spawn(settings(&address), sender, stop.clone());
    assert!(
        matches!(notice(&mut notices).await, AmiNotice::Connected { greeting, .. } if greeting == "Asterisk Call Manager/11.0.0")
    );
    let reply = ami.send("CoreShowChannels", &[]).await.expect("answered");
    assert!(reply.is_success());
    let channels: Vec<&str> = reply
        .events
        .iter()
        .filter_map(|e| e.get("Channel"))
        .collect();
    assert_eq!(channels, ["PJSIP/3001-00000024", "PJSIP/trunk-00000025"]);
    let AmiNotice::Event(event) = notice(&mut notices).await else {
        panic!("the unsolicited event")
    };
    assert_eq!(event.get("Uniqueid"), Some("9.9"));
    let refused = ami.send("NoSuchAction", &[]).await.expect("answered");
    assert!(!refused.is_success());
    assert_eq!(
        ami.send("Ignored", &[]).await,
        Err(AmiError::Timeout("Ignored".into()))
    );
    let injected = ami
        .send("Originate", &[("Channel", "PJSIP/1\r\nAction: Logoff")])
        .await;
    assert!(
        matches!(injected, Err(AmiError::Invalid(_))),
        "{injected:?}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        ami.send("CoreShowChannels", &[]).await.is_ok(),
        "pings kept it alive"
    );
    stop.cancel();
}

#[tokio::test]
async fn logs_in_with_the_md5_challenge() {
    let (address, _) = start(Peer::default()).await;
    let (sender, mut notices) = mpsc::channel(64);
    let mut settings = settings(&address);
    settings.md5 = true;
    let (_ami, _task) = spawn(settings, sender, CancellationToken::new());
    assert!(matches!(
        notice(&mut notices).await,
        AmiNotice::Connected { .. }
    ));
}

#[tokio::test]
async fn a_refused_login_is_reported_and_retried_with_growing_delays() {
    let (address, connections) = start(Peer {
        refuse_login: true,
        ..Peer::default()
    })
    .await;
    let (sender, mut notices) = mpsc::channel(64);
    let (ami, _task) = spawn(settings(&address), sender, CancellationToken::new());
    let mut delays = Vec::new();
    for _ in 0..3 {
        match notice(&mut notices).await {
            AmiNotice::LoginFailed { message, retry_in } => {
                assert_eq!(message, "Authentication failed");
                delays.push(retry_in);
            }
            other => panic!("expected a failed login, got {other:?}"),
        }
    }
    assert!(delays[2] > delays[0], "backs off: {delays:?}");
    assert!(
        connections.load(Ordering::SeqCst) <= 4,
        "does not hammer the PBX"
    );
    assert_eq!(
        ami.send("Ping", &[]).await,
        Err(AmiError::NotConnected),
        "fails at once while down"
    );
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_declared_dead_and_reconnected() {
    let (address, connections) = start(Peer {
        mute_pings: true,
        ..Peer::default()
    })
    .await;
    let (sender, mut notices) = mpsc::channel(64);
    let (_ami, _task) = spawn(settings(&address), sender, CancellationToken::new());
    assert!(matches!(
        notice(&mut notices).await,
        AmiNotice::Connected { .. }
    ));
    let started = tokio::time::Instant::now();
    let AmiNotice::Disconnected { reason, .. } = notice(&mut notices).await else {
        panic!("declared dead")
    };
    assert!(reason.contains("Ping"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "within the bound"
    );
    assert!(
        matches!(notice(&mut notices).await, AmiNotice::Connected { .. }),
        "reconnected"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn garbage_and_oversized_frames_are_skipped_and_the_connection_survives() {
    let mut after_login = b"this is not AMI\r\nEvent: Broken\r\n\r\n".to_vec();
    after_login.extend_from_slice(b"Event: Huge\r\n");
    after_login.extend_from_slice(format!("Data: {}\r\n\r\n", "x".repeat(10_000)).as_bytes());
    after_login.extend_from_slice(b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n");
    let (address, connections) = start(Peer {
        after_login,
        ..Peer::default()
    })
    .await;
    let (sender, mut notices) = mpsc::channel(64);
    let (ami, _task) = spawn(settings(&address), sender, CancellationToken::new());
    assert!(matches!(
        notice(&mut notices).await,
        AmiNotice::Connected { .. }
    ));
    assert!(matches!(
        notice(&mut notices).await,
        AmiNotice::Skipped {
            reason: SkipReason::Malformed,
            ..
        }
    ));
    assert!(matches!(
        notice(&mut notices).await,
        AmiNotice::Skipped {
            reason: SkipReason::Oversized,
            ..
        }
    ));
    let AmiNotice::Event(hangup) = notice(&mut notices).await else {
        panic!("the stream went on")
    };
    assert_eq!(hangup.get("Uniqueid"), Some("1.1"));
    assert!(ami.send("CoreShowChannels", &[]).await.is_ok());
    assert_eq!(connections.load(Ordering::SeqCst), 1, "never reconnected");
}
