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
    /// Runs the SIP engine (UDP and TCP) until Ctrl-C or SIGTERM, then drains.
    Serve(tenex_voice::serve::ServeArgs),
    /// Runs a simulated call through the audio hot path and checks every step:
    /// jitter buffer, codecs, resampling, Realtime framing, pacing, barge-in.
    /// Prints per-frame costs. Exits non-zero if any check fails.
    Selfcheck {
        /// Seconds of simulated call audio.
        #[arg(long, default_value_t = 10, env = "TENEX_SELFCHECK_SECONDS")]
        seconds: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tenex-voice: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(tenex_voice::serve::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
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

/// Logs to stderr; `RUST_LOG` overrides. The SIP stack logs whole messages (with
/// phone numbers) at info, so it is held to warnings by default.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rsipstack=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
