//! The `tenex-voice` binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tenex-voice",
    version,
    about = "Telephony media engine: phone calls to the OpenAI Realtime API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a whole qualification campaign on this machine, offline: an engine
    /// on loopback, the Realtime simulator, three leads' phones and a webhook
    /// receiver; launched through the REST API and shown live. Exits non-zero
    /// if any step did not happen as expected.
    Demo(tenex_voice::demo::DemoArgs),
    /// Runs the SIP engine (UDP and TCP) and the HTTP API until Ctrl-C or
    /// SIGTERM, then drains.
    Serve(tenex_voice::serve::ServeArgs),
    /// Creates or revokes workspace API keys.
    #[command(subcommand)]
    Keys(tenex_voice::keys_cli::KeysCommand),
    /// Serves an offline Realtime API simulator (GA protocol) for tests, the demo
    /// and load runs: point the engine at it with `TENEX_REALTIME_URL=ws://ADDR/v1/realtime`.
    RealtimeSim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090", env = "TENEX_SIM_ADDR")]
        listen: std::net::SocketAddr,
        /// Conversation script (JSON); the built-in lead qualifier when absent.
        #[arg(long)]
        script: Option<std::path::PathBuf>,
        /// Write every client event received to this file, one JSON line each.
        #[arg(long)]
        record: Option<std::path::PathBuf>,
        /// Varies the synthetic agent voice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many times faster than real time response audio streams.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        speed: u32,
    },
    /// Runs a simulated call through the audio hot path and checks every step:
    /// jitter buffer, codecs, resampling, Realtime framing, pacing, barge-in.
    /// Prints per-frame costs. Exits non-zero if any check fails.
    Selfcheck {
        /// Seconds of simulated call audio.
        #[arg(long, default_value_t = 10, env = "TENEX_SELFCHECK_SECONDS")]
        seconds: u32,
    },
    /// Prints the voice API's OpenAPI 3 document (what
    /// `/api/v1/voice/openapi.json` serves) and exits.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging();
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(tenex_voice::serve::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tenex-voice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo(args) => {
            // The demo's own output is the show; the engine's log only warns.
            init_logging_at("warn,rsipstack=error");
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(tenex_voice::demo::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tenex-voice demo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::RealtimeSim {
            listen,
            script,
            record,
            seed,
            speed,
        } => {
            init_logging();
            let script = match script {
                None => tenex_voice::realtime_sim::Script::qualifier(),
                Some(path) => match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        tenex_voice::realtime_sim::Script::parse(&t).map_err(|e| e.to_string())
                    }) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("tenex-voice: script {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                },
            };
            let cfg = tenex_voice::realtime_sim::SimConfig {
                script,
                record,
                seed,
                speed,
                ..Default::default()
            };
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            runtime.block_on(async move {
                match tenex_voice::realtime_sim::Simulator::start(listen, cfg).await {
                    Ok(sim) => {
                        println!("realtime simulator listening on {}", sim.url());
                        let _ = tokio::signal::ctrl_c().await;
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("tenex-voice: cannot listen on {listen}: {e}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Openapi => match tenex_voice::api::openapi_document().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Keys(cmd) => {
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(tenex_voice::keys_cli::run(cmd)) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tenex-voice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Selfcheck { seconds } => {
            let report = tenex_voice::selfcheck::run(seconds);
            print!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The multi-threaded runtime, or `None` (reported) when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("tenex-voice: cannot start the runtime: {e}");
            None
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides. The SIP stack logs whole messages (with
/// phone numbers) at info, so it is held to warnings by default.
fn init_logging() {
    init_logging_at("info,rsipstack=warn");
}

/// Logging to stderr at `default` unless `RUST_LOG` says otherwise.
fn init_logging_at(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
