//! A call-center workload on the simulator's ARI side, for the demo:
//! customers calling an agent directly (`Stasis(app,agent,<ext>)`) or a
//! queue number (`Stasis(app,queue,<number>)`); agents' phones that answer
//! after a few rings or now and then decline; talk that ends with the
//! customer or the agent hanging up; queue callers who give up when nobody
//! takes them. Everything goes through the emulator's own channels, so the
//! events are the ones a real Asterisk would send the application.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ari::AriSim;

/// What the workload does.
#[derive(Debug, Clone)]
pub struct AriWorkload {
    /// The agents' extensions (their phones are `PJSIP/<extension>`).
    pub extensions: Vec<String>,
    /// The queue number callers may dial.
    pub queue_number: String,
    /// New customers per minute.
    pub calls_per_minute: f64,
    /// Talk time range, in seconds.
    pub talk_seconds: std::ops::Range<f64>,
    /// Seed of the random choices.
    pub seed: u64,
}

/// What is planned for a channel, and when.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// The agent's phone picks up.
    Answer,
    /// The agent's phone declines.
    Decline,
    /// This channel hangs up.
    HangUp,
}

/// How often the workload looks at the emulator.
const TICK: Duration = Duration::from_millis(200);

/// How long a queue caller waits before giving up.
const QUEUE_PATIENCE: Duration = Duration::from_secs(45);

/// Runs the workload against `sim` until `shutdown`.
pub async fn run(sim: AriSim, workload: AriWorkload, shutdown: CancellationToken) {
    let mut rng = StdRng::seed_from_u64(workload.seed);
    for extension in &workload.extensions {
        sim.set_phone_online(&format!("PJSIP/{extension}"), true);
    }
    let mut planned: HashMap<String, (Instant, Plan)> = HashMap::new();
    let mut talking: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut arrivals = 0.0_f64;
    let mut caller = 0_u64;
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = Instant::now();
        arrivals += workload.calls_per_minute / 60.0 * TICK.as_secs_f64();
        while arrivals >= 1.0 && !workload.extensions.is_empty() {
            arrivals -= 1.0;
            caller += 1;
            let number = format!("2547{:08}", rng.random_range(0..100_000_000_u32));
            let name = if caller.is_multiple_of(3) {
                ""
            } else {
                "Demo Customer"
            };
            let id = if rng.random_bool(0.3) {
                let queue = workload.queue_number.as_str();
                sim.customer_calls(&number, name, queue, &["queue", queue])
            } else {
                let extension =
                    &workload.extensions[rng.random_range(0..workload.extensions.len())];
                sim.customer_calls(&number, name, extension, &["agent", extension])
            };
            planned.insert(id, (now + QUEUE_PATIENCE, Plan::HangUp));
        }
        // Ringing phones answer after a few rings, or decline now and then.
        for (leg, _) in sim.ringing_legs() {
            planned.entry(leg).or_insert_with(|| {
                let after = Duration::from_millis(rng.random_range(1500..6000));
                let plan = if rng.random_bool(0.12) {
                    Plan::Decline
                } else {
                    Plan::Answer
                };
                (now + after, plan)
            });
        }
        // Bridged calls: talk, then one side hangs up (mostly the customer,
        // who entered the bridge first).
        for bridge in sim.bridges() {
            if bridge.channels.len() < 2 || !talking.insert(bridge.id.clone()) {
                continue;
            }
            for channel in &bridge.channels {
                planned.remove(channel);
            }
            let talk =
                Duration::from_secs_f64(rng.random_range(workload.talk_seconds.clone()).max(1.0));
            let side = usize::from(rng.random_bool(0.2)).min(bridge.channels.len() - 1);
            planned.insert(bridge.channels[side].clone(), (now + talk, Plan::HangUp));
        }
        let bridges: std::collections::HashSet<String> =
            sim.bridges().into_iter().map(|b| b.id).collect();
        talking.retain(|b| bridges.contains(b));
        let present: std::collections::HashSet<String> =
            sim.channels().into_iter().map(|c| c.id).collect();
        planned.retain(|id, _| present.contains(id));
        let due: Vec<(String, Plan)> = planned
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(id, (_, plan))| (id.clone(), *plan))
            .collect();
        for (id, plan) in due {
            planned.remove(&id);
            match plan {
                Plan::Answer => sim.answer_leg(&id),
                Plan::Decline => sim.decline_leg(&id),
                Plan::HangUp => sim.hang_up(&id),
            }
        }
    }
}
