//! The `switchboard` command: `serve` and `token`; with the `devtools`
//! feature (the default) also `demo`, `sim` and `load`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use switchboard::app::Application;
use switchboard::auth::{Authenticator, Role, unix_now};
use switchboard::config::{ServeArgs, Settings, log_filter};
#[cfg(feature = "devtools")]
use switchboard::devtools::{demo, load::LoadArgs, sim::SimArgs};

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

// Parsed once at start: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC, grpc-web, Socket.IO and HTTP on one port.
    Serve(ServeArgs),
    /// Serve on embedded defaults (SQLite file, auth off, 5 s stats) with the
    /// simulated PBX as its phone system over a loopback AMI connection.
    #[cfg(feature = "devtools")]
    Demo(ServeArgs),
    /// Run the simulated PBX alone: a real AMI server with a call-center workload.
    #[cfg(feature = "devtools")]
    Sim(SimArgs),
    /// Print a bearer token signed with JWT_SECRET.
    Token(TokenArgs),
    /// Measure end to end: simulator → server → Socket.IO and gRPC subscribers.
    #[cfg(feature = "devtools")]
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

async fn serve(
    #[cfg_attr(not(feature = "devtools"), allow(unused_mut))] mut settings: Settings,
    demo: bool,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    #[cfg(feature = "devtools")]
    let plan = if demo {
        Some(demo::prepare(&mut settings, &stop).await?)
    } else {
        None
    };
    let application = Application::build(settings).await?;
    #[cfg(feature = "devtools")]
    if let Some(plan) = plan {
        demo::announce(&application, plan, &stop)?;
    }
    #[cfg(not(feature = "devtools"))]
    let _ = demo;
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
            return fail(&anyhow::Error::new(error).context("cannot start the runtime"));
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
        #[cfg(feature = "devtools")]
        Command::Demo(args) => run_server(&runtime, args, true),
        #[cfg(feature = "devtools")]
        Command::Load(args) => init_tracing()
            .map_err(anyhow::Error::msg)
            .and_then(|()| runtime.block_on(switchboard::devtools::load::run(args)))
            .map(|report| {
                use std::io::Write;
                let _ = write!(std::io::stdout(), "{report}");
            }),
        #[cfg(feature = "devtools")]
        Command::Sim(args) => init_tracing()
            .map_err(anyhow::Error::msg)
            .and_then(|()| runtime.block_on(demo::run_sim(args, wait_for_signal()))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Logs the error a command ended with, with its causes, and fails. The
/// server's log takes it when the command started one; before that (a bad
/// setting, maybe of the log itself, or a command that logs nothing) a plain
/// log on stderr does.
fn fail(error: &anyhow::Error) -> ExitCode {
    // Only sets this one when no log was started.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
    tracing::error!("{error:#}");
    ExitCode::FAILURE
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
