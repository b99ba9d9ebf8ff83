//! The `packwire` command line: inspect codecs (`decode`), see the toolkit work (`demo`).

mod cmpp_json;
mod decode;
mod demo;
mod http_json;
mod net;
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
    /// Run the packwire server with a framing codec: echo frames back, or print them.
    Serve {
        /// The framing, e.g. `length:strip=4` (framing SPECs as for decode).
        #[arg(long)]
        codec: String,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7000")]
        listen: String,
        /// Echo every frame back (otherwise print it).
        #[arg(long)]
        echo: bool,
        /// Run the minimal hand-written tokio echo server instead (the benchmark's baseline).
        #[arg(long)]
        baseline: bool,
        /// Stop after this many seconds and print the statistics.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Connect to a server, send each stdin line as a frame, print what comes back.
    Connect {
        /// The framing, e.g. `lines`.
        #[arg(long)]
        codec: String,
        /// The server address (ip:port).
        addr: String,
    },
    /// The echo load client: frames per second and p50/p99 latency against an echo server
    /// speaking a 4-byte length framing (`packwire serve --codec length:strip=4 --echo`).
    Bench {
        /// The server address (ip:port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        connect: String,
        /// Connections.
        #[arg(long, default_value_t = 16)]
        conns: usize,
        /// Frames in flight per connection.
        #[arg(long, default_value_t = 32)]
        inflight: usize,
        /// Frame payload size in bytes (at least 8: a timestamp).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

fn report(cmd: &str, r: std::io::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("packwire {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
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
        Command::Serve {
            codec,
            listen,
            echo,
            baseline,
            seconds,
        } => report(
            "serve",
            net::serve(&codec, &listen, echo, baseline, seconds),
        ),
        Command::Connect { codec, addr } => report("connect", net::connect(&codec, &addr)),
        Command::Bench {
            connect,
            conns,
            inflight,
            size,
            seconds,
        } => report(
            "bench",
            net::bench(&connect, conns, inflight, size, seconds),
        ),
    }
}
