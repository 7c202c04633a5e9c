//! The simulator's ARI side driven by switchboard's own ARI clients: a
//! customer call enters the application, is answered and bridged, and
//! hangs up. Every event it emits decodes and carries what `events.json`
//! requires; the REST refusals have Asterisk's statuses.

use std::time::Duration;

use switchboard::sources::ari::events::{AriEventSettings, AriNotice, run};
use switchboard::sources::ari::model::AriEvent;
use switchboard::sources::ari::rest::{AriError, AriRest};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ari_models::assert_follows_swagger;

async fn next_event(notices: &mut mpsc::Receiver<AriNotice>) -> AriEvent {
    loop {
        let notice = tokio::time::timeout(Duration::from_secs(5), notices.recv())
            .await
            .expect("an event in time")
            .expect("the client runs");
        match notice {
            AriNotice::Event(message) => {
                // What the Swagger requires is there, for the event and its objects.
                assert_follows_swagger(&message);
                return message.event;
            }
            AriNotice::Connected => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_customer_call_is_answered_bridged_and_hung_up_with_real_events() {
    let stop = CancellationToken::new();
    let sim = crate::agent_bridge::start_sim(&stop).await;
    let (tx, mut notices) = mpsc::channel(64);
    tokio::spawn(run(
        AriEventSettings {
            base: sim.url(),
            app: "callcenter".into(),
            username: "switchboard".into(),
            password: "secret".into(),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
        },
        tx,
        stop.clone(),
    ));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), notices.recv())
            .await
            .unwrap(),
        Some(AriNotice::Connected)
    );
    let ari = AriRest::new(&sim.url(), "switchboard", "secret", Duration::from_secs(2));

    let customer = sim.customer_calls("5550004", "Customer Four", "7000", &["inbound"]);
    let AriEvent::StasisStart { args, channel, .. } = next_event(&mut notices).await else {
        panic!("StasisStart first");
    };
    assert_eq!(
        (args, channel.id.as_str(), channel.state.as_str()),
        (vec!["inbound".to_owned()], customer.as_str(), "Ring")
    );
    assert_eq!(channel.caller.number, "5550004");

    ari.answer(&customer).await.unwrap();
    let AriEvent::ChannelStateChange { channel } = next_event(&mut notices).await else {
        panic!("answered");
    };
    assert_eq!(channel.state, "Up");

    let bridge = ari.create_bridge("cc-bridge-1").await.unwrap();
    assert!(matches!(
        next_event(&mut notices).await,
        AriEvent::BridgeCreated { .. }
    ));
    ari.add_channel(&bridge.id, &customer).await.unwrap();
    let AriEvent::ChannelEnteredBridge {
        bridge: entered, ..
    } = next_event(&mut notices).await
    else {
        panic!("entered the bridge");
    };
    assert_eq!(entered.channels, std::slice::from_ref(&customer));
    let agent = ari
        .originate(
            "PJSIP/1001",
            "callcenter",
            &format!("agent-leg,{customer}"),
            "5550004",
            30,
            &[],
        )
        .await
        .unwrap();
    assert!(agent.name.starts_with("PJSIP/1001-"));
    assert_eq!(ari.channels().await.unwrap().len(), 2);
    // The agent's phone rings; it enters the application only once answered.
    let AriEvent::Dial {
        peer, dialstatus, ..
    } = next_event(&mut notices).await
    else {
        panic!("Dial RINGING");
    };
    assert_eq!(
        (peer.id.as_str(), dialstatus.as_str()),
        (agent.id.as_str(), "RINGING")
    );
    assert_eq!(
        sim.phone_answers("PJSIP/1001").as_deref(),
        Some(agent.id.as_str())
    );
    assert!(matches!(
        next_event(&mut notices).await,
        AriEvent::ChannelStateChange { channel } if channel.state == "Up"
    ));
    assert!(matches!(
        next_event(&mut notices).await,
        AriEvent::Dial { dialstatus, .. } if dialstatus == "ANSWER"
    ));
    let AriEvent::StasisStart { args, .. } = next_event(&mut notices).await else {
        panic!("the answered agent leg enters the application");
    };
    assert_eq!(args, ["agent-leg", customer.as_str()]);
    ari.hold(&customer, true).await.unwrap();
    ari.mute(&agent.id, true).await.unwrap();
    assert_eq!(
        sim.held_and_muted(),
        (vec![customer.clone()], vec![agent.id.clone()])
    );
    ari.hold(&customer, false).await.unwrap();
    assert_eq!(sim.held_and_muted().0, Vec::<String>::new());
    assert!(matches!(
        ari.hold("nope", true).await,
        Err(AriError::NotFound(_))
    ));

    // Refusals, as Asterisk gives them.
    assert!(matches!(
        ari.answer("nope").await,
        Err(AriError::NotFound(_))
    ));
    assert!(matches!(
        ari.add_channel(&bridge.id, "nope").await,
        Err(AriError::BadRequest { status: 422, .. })
    ));
    assert!(matches!(
        ari.remove_channel(&bridge.id, &agent.id).await,
        Err(AriError::BadRequest { status: 422, .. })
    ));
    let wrong = AriRest::new(&sim.url(), "switchboard", "wrong", Duration::from_secs(2));
    assert_eq!(wrong.channels().await, Err(AriError::Refused(401)));

    sim.customer_hangs_up(&customer);
    let sequence: Vec<&str> = [
        next_event(&mut notices).await,
        next_event(&mut notices).await,
        next_event(&mut notices).await,
        next_event(&mut notices).await,
    ]
    .iter()
    .map(|event| match event {
        AriEvent::ChannelHangupRequest { .. } => "ChannelHangupRequest",
        AriEvent::ChannelLeftBridge { .. } => "ChannelLeftBridge",
        AriEvent::StasisEnd { .. } => "StasisEnd",
        AriEvent::ChannelDestroyed { .. } => "ChannelDestroyed",
        _ => "other",
    })
    .collect();
    assert_eq!(
        sequence,
        [
            "ChannelHangupRequest",
            "ChannelLeftBridge",
            "StasisEnd",
            "ChannelDestroyed"
        ]
    );
    ari.destroy_bridge(&bridge.id).await.unwrap();
    assert!(matches!(
        next_event(&mut notices).await,
        AriEvent::BridgeDestroyed { .. }
    ));
    stop.cancel();
}
