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
