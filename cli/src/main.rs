//! The `packwire` command line: inspect codecs (`decode`), see the toolkit work (`demo`).

mod cmpp_json;
mod decode;
mod demo;
mod http_json;
mod spec;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "packwire",
    version,
    about = "A codec and protocol toolkit for TCP: inspect, demo, serve"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show half packets and sticky packets framed correctly over a real loopback socket,
    /// then the runtime: echo server, client heartbeat, server restart and reconnect.
    Demo,
    /// Decode a file (or stdin) with a codec and print one JSON object per item.
    #[command(after_help = spec::SPEC_HELP)]
    Decode {
        /// The codec, e.g. `length:size=2,strip=2` (see below).
        #[arg(long)]
        codec: String,
        /// How to cut the input before decoding: whole, bytes, every:N or random:SEED.
        #[arg(long, default_value = "whole")]
        split: decode::Split,
        /// The input file; stdin if absent or `-`.
        file: Option<String>,
    },
    /// Run a server for a codec (not available yet from the command line).
    Serve {
        /// Arguments for the future server.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Connect to a server and send frames (not available yet from the command line).
    Connect {
        /// Arguments for the future client.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Echo load test (not written yet).
    Bench {
        /// Arguments for the future load client.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn not_yet(cmd: &str) -> ExitCode {
    eprintln!(
        "packwire {cmd}: not available yet from the command line. \
         `packwire decode` and `packwire demo` work today."
    );
    ExitCode::from(3)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => match demo::run().and_then(|()| {
            println!("\n--- part two: the packwire-net runtime ---\n");
            demo::run_runtime()
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("packwire demo: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Decode { codec, split, file } => {
            let dec = match spec::parse(&codec) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("packwire decode: --codec {codec}: {e}");
                    return ExitCode::from(2);
                }
            };
            match decode::run(dec, split, file.as_deref()) {
                Ok(code) => ExitCode::from(code as u8),
                Err(e) => {
                    eprintln!("packwire decode: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve { .. } => not_yet("serve"),
        Command::Connect { .. } => not_yet("connect"),
        Command::Bench { .. } => not_yet("bench"),
    }
}
