//! The `switchboard` command: `serve`, `demo` and `token`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use switchboard::app::Application;
use switchboard::auth::{Authenticator, Role, unix_now};
use switchboard::config::{ServeArgs, Settings, log_filter};
use switchboard::load::LoadArgs;
use switchboard::sim::{SimArgs, Simulator};

/// mimalloc: the event path allocates many small, short-lived strings and
/// messages, which it serves markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A real-time call-center event hub.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC, grpc-web, Socket.IO and HTTP on one port.
    Serve(ServeArgs),
    /// Serve on embedded defaults (SQLite file, auth off, 5 s stats) with the
    /// simulated PBX as its phone system over a loopback AMI connection.
    Demo(ServeArgs),
    /// Run the simulated PBX alone: a real AMI server with a call-center workload.
    Sim(SimArgs),
    /// Print a bearer token signed with JWT_SECRET.
    Token(TokenArgs),
    /// Measure end to end: simulator → server → Socket.IO and gRPC subscribers.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The role the token grants.
    #[arg(long, value_enum)]
    role: Role,
    /// Who the token is for.
    #[arg(long)]
    sub: String,
    /// The agent's extension (required for role agent).
    #[arg(long)]
    extension: Option<String>,
    /// The tenant's client id (required for role client).
    #[arg(long)]
    client_id: Option<String>,
    /// How long the token is valid: `90s`, `30m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: Duration,
    /// The signing secret.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not like 90s, 30m, 1h or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(number * seconds))
}

fn init_tracing() -> Result<(), String> {
    let env = |name| std::env::var(name).ok();
    let filter = log_filter(
        env("RUST_LOG").as_deref(),
        env("DEBUG").as_deref(),
        env("LOG_LEVEL").as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("configuration error: log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    Ok(())
}

async fn serve(mut settings: Settings, demo: bool) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    if demo && settings.ami.is_none() {
        // The demo's phone system: the simulator on a free loopback port.
        let sim = SimArgs::on("127.0.0.1:0".parse()?);
        let credentials = (sim.username.clone(), sim.secret.clone());
        let simulator = Simulator::start(sim, stop.child_token()).await?;
        tracing::info!(address = %simulator.address, "demo: simulated PBX listening (AMI)");
        settings.ami = Some(switchboard::config::AmiConfig {
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
    if demo {
        switchboard::demo::start_ari_side(&mut settings, stop.child_token()).await?;
    }
    let application = Application::build(settings).await?;
    if demo {
        tokio::spawn(switchboard::demo::supervise(
            application.core(),
            stop.child_token(),
        ));
        let address = application.local_addr()?;
        tracing::info!(
            "demo ready: open a wallboard with node clients/socketio/watch.mjs http://{address} --seconds 30"
        );
        tracing::info!("demo ready: grpcurl -plaintext {address} list");
        tracing::info!("demo ready: node clients/socketio/watch.mjs http://{address}");
        tracing::info!("demo ready: curl http://{address}/healthz");
    }
    let signal = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    application.run_until_stopped(stop).await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("switchboard: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Token(args) => {
            let auth = Authenticator::new(args.jwt_secret.as_bytes(), false);
            match (args.role, &args.extension, &args.client_id) {
                (Role::Agent, None, _) => {
                    Err(anyhow::anyhow!("--extension is required for role agent"))
                }
                (Role::Client, _, None) => {
                    Err(anyhow::anyhow!("--client-id is required for role client"))
                }
                _ => auth
                    .mint(
                        &args.sub,
                        args.role,
                        args.extension,
                        args.client_id,
                        args.ttl,
                        unix_now(),
                    )
                    .map(|token| {
                        use std::io::Write;
                        let _ = writeln!(std::io::stdout(), "{token}");
                    })
                    .map_err(Into::into),
            }
        }
        Command::Serve(args) => run_server(&runtime, args, false),
        Command::Demo(args) => run_server(&runtime, args, true),
        Command::Load(args) => init_tracing()
            .map_err(anyhow::Error::msg)
            .and_then(|()| runtime.block_on(switchboard::load::run(args)))
            .map(|report| {
                use std::io::Write;
                let _ = write!(std::io::stdout(), "{report}");
            }),
        Command::Sim(args) => init_tracing()
            .map_err(anyhow::Error::msg)
            .and_then(|()| runtime.block_on(run_sim(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(
    runtime: &tokio::runtime::Runtime,
    mut args: ServeArgs,
    demo: bool,
) -> anyhow::Result<()> {
    if demo {
        args.auth_disabled.get_or_insert_with(|| "true".into());
        args.stats_interval_seconds
            .get_or_insert_with(|| "5".into());
        args.database_url
            .get_or_insert_with(|| "sqlite://switchboard-demo.db".into());
    }
    let settings = Settings::resolve(&args)?;
    init_tracing().map_err(anyhow::Error::msg)?;
    runtime.block_on(serve(settings, demo))
}

async fn run_sim(args: SimArgs) -> anyhow::Result<()> {
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
    wait_for_signal().await;
    stop.cancel();
    Ok(())
}
