//! What `switchboard demo` adds to a plain server: the simulator's ARI side
//! with an agent-bridge workload, demo agents when none are configured, and
//! a stand-in supervisor who assigns waiting queue calls, so that a newcomer
//! sees every seed-000 event without a phone system or a person at hand; and
//! the stand-in chat customers and voice assistant of [`stand_ins`].

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::auth::Principal;
use crate::commands::calls::CallControl;
use crate::config::{AriConfig, DEFAULT_ARI_APP, Settings};
use crate::devtools::sim::ari::AriSim;
use crate::devtools::sim::ari_workload::{self, AriWorkload};
use crate::devtools::sim::{SimArgs, Simulator};
use crate::devtools::stand_ins;
use crate::directory::AgentEntry;
use crate::log::EventLog;
use crate::proto::v1::event::Payload;
use crate::sources::ari::bridge::{Command, CommandKind};

/// The demo's agent-bridge agents: (extension, name, most calls at once).
const DEMO_AGENTS: &[(&str, &str, u32)] = &[
    ("3001", "Asha Njeri", 1),
    ("3002", "Brian Otieno", 2),
    ("3003", "Carmen Ruiz", 3),
];

/// The queue number demo callers dial.
const DEMO_QUEUE: &str = "8000";

/// Starts the simulator's ARI side and its workload (until `stop`) and
/// points `settings` at it, unless `ARI_URL` is set; adds the demo agents
/// when the directory is empty.
pub async fn start_ari_side(
    settings: &mut Settings,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if settings.ari.is_some() {
        return Ok(());
    }
    let (user, password) = ("switchboard", "switchboard");
    let sim = AriSim::start(
        "127.0.0.1:0".parse()?,
        DEFAULT_ARI_APP,
        user,
        password,
        stop.clone(),
    )
    .await?;
    tracing::info!(url = %sim.url(), "demo: simulated PBX listening (ARI)");
    settings.ari = Some(AriConfig {
        url: sim.url(),
        username: user.into(),
        password: password.into(),
        app: DEFAULT_ARI_APP.into(),
    });
    if settings.agents.is_empty() {
        settings.agents = DEMO_AGENTS
            .iter()
            .map(|(extension, name, max_calls)| AgentEntry {
                agent_id: format!("agent_{extension}"),
                extension: (*extension).into(),
                name: (*name).into(),
                max_calls: *max_calls,
                endpoint: None,
            })
            .collect();
    }
    let workload = AriWorkload {
        extensions: settings
            .agents
            .iter()
            .map(|a| a.extension.clone())
            .collect(),
        queue_number: DEMO_QUEUE.into(),
        calls_per_minute: 12.0,
        talk_seconds: 15.0..90.0,
        seed: 7,
    };
    tokio::spawn(ari_workload::run(sim, workload, stop));
    Ok(())
}

/// The stand-in supervisor: assigns each waiting queue call, after a few
/// seconds, to the first agent `incoming_queue_call` lists as able to take it.
pub async fn supervise(log: Arc<EventLog>, calls: CallControl, stop: CancellationToken) {
    let Some(bridge) = calls.bridge().cloned() else {
        return;
    };
    let mut feed = log.subscribe_live();
    loop {
        let event = tokio::select! {
            event = feed.recv() => event,
            () = stop.cancelled() => return,
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(Payload::IncomingQueueCall(call)) = &event.payload else {
            continue;
        };
        let Some(agent) = call.available_agents.first() else {
            continue;
        };
        let command = Command {
            session: call.session_id.clone(),
            kind: CommandKind::Assign {
                extension: agent.extension.clone(),
            },
            actor: Principal::anonymous_admin(),
        };
        let bridge = bridge.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            if let Err(error) = bridge.send(command).await {
                tracing::debug!(%error, "demo supervisor: queue call not assigned");
            }
        });
    }
}

/// Gives a demo server its phone system before it is built: the simulator on
/// a free loopback port as its AMI peer (unless one is configured), and the
/// simulator's ARI side with its workload. Both stop with `stop`.
pub async fn prepare(settings: &mut Settings, stop: &CancellationToken) -> anyhow::Result<Plan> {
    if settings.ami.is_none() {
        let sim = SimArgs::on("127.0.0.1:0".parse()?);
        let credentials = (sim.username.clone(), sim.secret.clone());
        let simulator = Simulator::start(sim, stop.child_token()).await?;
        tracing::info!(address = %simulator.address, "demo: simulated PBX listening (AMI)");
        settings.ami = Some(crate::config::AmiConfig {
            host: simulator.address.ip().to_string(),
            port: simulator.address.port(),
            username: credentials.0,
            secret: credentials.1,
            md5: true,
        });
        settings
            .supervisor_extension
            .get_or_insert_with(|| "2001".into());
    }
    start_ari_side(settings, stop.child_token()).await?;
    Ok(Plan {
        assistant_key: stand_ins::configure_assistant(settings),
    })
}

/// What `prepare` set up that `announce` starts once the server listens.
pub struct Plan {
    /// The key of the demo's voice assistant, when the demo made one up.
    assistant_key: Option<String>,
}

/// Starts the demo's stand-in supervisor on a built server and says what to open.
pub fn announce(
    application: &Application,
    plan: Plan,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let internals = application.internals();
    tokio::spawn(supervise(
        internals.log,
        internals.calls,
        stop.child_token(),
    ));
    let address = application.local_addr()?;
    let mut reachable = address;
    if reachable.ip().is_unspecified() {
        reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base = format!("http://{reachable}");
    tokio::spawn(stand_ins::chat_customers(base.clone(), stop.child_token()));
    if let Some(key) = plan.assistant_key {
        tokio::spawn(stand_ins::assistant_calls(base, key, stop.child_token()));
    }
    tracing::info!("demo ready: open the console at http://{reachable}/");
    tracing::info!(
        "demo ready: open a wallboard with node clients/socketio/watch.mjs http://{address} --seconds 30"
    );
    tracing::info!("demo ready: grpcurl -plaintext {address} list");
    tracing::info!("demo ready: node clients/socketio/watch.mjs http://{address}");
    tracing::info!("demo ready: curl http://{address}/healthz");
    Ok(())
}

/// `switchboard sim`: the simulated PBX alone, until `signal` comes.
pub async fn run_sim(
    args: SimArgs,
    signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let simulator = Simulator::start(args.clone(), stop.clone()).await?;
    tracing::info!(
        address = %simulator.address,
        agents = args.agents,
        queues = args.queues,
        rate = args.rate,
        seed = args.seed,
        "simulated PBX listening (AMI); connect with AMI_HOST/AMI_PORT, user {} secret {}",
        args.username,
        args.secret
    );
    signal.await;
    stop.cancel();
    Ok(())
}
