//! The `packwire` command line: inspect codecs (`decode`), see the toolkit work (`demo`).

mod bench;
mod chat;
mod cmpp;
mod cmpp_json;
mod decode;
mod demo;
mod gateway_bench;
mod http_json;
mod net;
mod smpp;
mod smpp_json;
mod spec;
mod stop;
mod tls;
mod ws;
mod ws_json;

use std::process::ExitCode;

/// Exit status: the command line itself is wrong (clap's usage errors use it too).
const EXIT_USAGE: u8 = 2;
/// Exit status of `decode` when the input breaks the codec's rules.
pub(crate) const EXIT_UNDECODABLE: i32 = 3;

/// How `packwire` exits, for `--help`.
const EXIT_CODES: &str = "Exit status: 0 done; 1 failed at run time (a file, an address, a peer); \
2 usage (a bad option or SPEC); 3 decode found input that breaks the codec's rules.";

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "packwire",
    version,
    about = "A codec and protocol toolkit for TCP: inspect, demo, serve",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Log more on stderr: -v the connections evicted and refused (info), -vv every
    /// connection (debug). RUST_LOG, when set, decides instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// Installs the log subscriber: RUST_LOG if set, else warnings (`-q` errors, `-v` info,
/// `-vv` debug), to stderr.
fn init_logs(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
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
        /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9100).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
        /// Print the final statistics tree (server, busiest groups, addresses, connections)
        /// as one JSON object instead of text.
        #[arg(long)]
        stats_json: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        tls: tls::ServeTls,
    },
    /// Connect to a server, send each stdin line as a frame, print what comes back.
    Connect {
        /// The framing, e.g. `lines`.
        #[arg(long)]
        codec: String,
        /// The server address (ip:port).
        addr: String,
        #[command(flatten)]
        tls: tls::ConnectTls,
    },
    /// WebSocket: a server that answers the opening handshake, pings and close frames.
    Ws {
        #[command(subcommand)]
        command: WsCommand,
    },
    /// An IM chat server (LOGIN, JOIN, TO, GROUP, ALL, WHO, PING, QUIT over lines), one
    /// node or clustered through Redis or NATS, and its client.
    Chat {
        #[command(subcommand)]
        command: chat::ChatCommand,
    },
    /// Certificates for trying TLS out.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
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
        /// Measure connections per second instead: each connection opens (with --tls, its
        /// handshake), echoes one frame and closes, again and again.
        #[arg(long)]
        handshakes: bool,
        /// Speak WebSocket (an opening handshake, then binary messages of --size bytes)
        /// to an echo server such as `packwire ws serve --echo`.
        #[arg(long)]
        ws: bool,
        /// With --ws: offer permessage-deflate (the bench fails if the server declines) and
        /// send chat-like text (words drawn at random) rather than zeros.
        #[arg(long, requires = "ws")]
        deflate: bool,
        #[command(flatten)]
        tls: tls::ConnectTls,
    },
    /// CMPP: send a message as an SP, or run an ISMG simulator.
    Cmpp {
        #[command(subcommand)]
        command: CmppCommand,
    },
    /// SMPP 3.4: send a message as an ESME, or run an SMSC simulator.
    Smpp {
        #[command(subcommand)]
        command: SmppCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SmppCommand {
    /// Bind to an SMSC, submit a message (split by UDH when long), print each part's
    /// message_id and, with --wait, the delivery receipts.
    Send {
        #[command(flatten)]
        esme: smpp::EsmeArgs,
        /// trx (transceiver) or tx (transmitter).
        #[arg(long, default_value = "trx")]
        bind: String,
        /// The destination number.
        #[arg(long)]
        to: String,
        /// The source address.
        #[arg(long, default_value = "")]
        from: String,
        /// The text (GSM 7-bit when it fits the alphabet, UCS2 otherwise).
        #[arg(long)]
        text: String,
        /// Ask for delivery receipts and wait up to this many seconds for them.
        #[arg(long)]
        wait: Option<u64>,
        /// How a text too long for one message travels: udh (parts with a user data
        /// header), sar (parts with the SAR parameters) or payload (one PDU, the whole
        /// text in message_payload).
        #[arg(long, default_value = "udh")]
        long: String,
    },
    /// Load an SMSC with submit_sm: CONNS bound ESMEs, each keeping WINDOW submits in
    /// flight, for SECONDS; prints JSON (submits per second).
    Bench {
        #[command(flatten)]
        esme: smpp::EsmeArgs,
        /// ESME connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Submits in flight per connection.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Run an SMSC simulator: ESMEs bind, submit, get message ids, receipts and MO
    /// messages; prints binds, a summary every 5 s, and the statistics on exit.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:2775")]
        listen: String,
        /// An account as SYSTEM_ID:PASSWORD; repeat for more.
        #[arg(long, required = true)]
        account: Vec<String>,
        /// Send a delivery receipt for every submit that asks for one.
        #[arg(long)]
        reports: bool,
        /// Push an MO message to every bound account this often (seconds).
        #[arg(long)]
        mo_every: Option<u64>,
        /// Answer ESME_RTHROTTLED past this many submits per second per account (all its
        /// connections together).
        #[arg(long)]
        tps: Option<u32>,
        /// Refuse a submit_sm that breaks a rule of the spec the tolerant decoder lets
        /// through (a TLV of the wrong size, a time field not 16 characters), with the
        /// status naming the field.
        #[arg(long)]
        strict: bool,
        /// Print every submit.
        #[arg(long)]
        trace: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
        /// Print the final statistics tree as one JSON object instead of text.
        #[arg(long)]
        stats_json: bool,
        #[command(flatten)]
        tls: tls::ServeTls,
    },
}

#[derive(Debug, Subcommand)]
enum CmppCommand {
    /// Log in to an ISMG, submit a message (split when long), print each part's Msg_Id
    /// and, with --wait, the status reports.
    Send {
        #[command(flatten)]
        sp: cmpp::Sp,
        /// A destination number; repeat for a group send.
        #[arg(long, required = true)]
        to: Vec<String>,
        /// The text (ASCII goes as ASCII, anything else as UCS2).
        #[arg(long)]
        text: String,
        /// Ask for status reports and wait up to this many seconds for each.
        #[arg(long)]
        wait: Option<u64>,
        /// Print every PDU sent and received.
        #[arg(long)]
        trace: bool,
    },
    /// Load an ISMG with SUBMITs: CONNS logged-in SP connections, each keeping WINDOW
    /// submits in flight, for SECONDS; prints JSON (submits per second).
    Bench {
        #[command(flatten)]
        sp: cmpp::Sp,
        /// SP connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Submits in flight per connection.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Run an ISMG simulator: SPs log in, submit, get SUBMIT_RESPs, reports and MO
    /// messages; prints what happens and the statistics on exit.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7890")]
        listen: String,
        /// An account as ID:SECRET; repeat for more.
        #[arg(long, required = true)]
        account: Vec<String>,
        /// Accept only this version (2 or 3); default both.
        #[arg(long, value_parser = cmpp::parse_version)]
        version: Option<packwire_codecs::cmpp::Version>,
        /// Send a status report for every SUBMIT that asks for one.
        #[arg(long)]
        reports: bool,
        /// Push an MO message to every logged-in account this often (seconds).
        #[arg(long)]
        mo_every: Option<u64>,
        /// Answer Result 8 (flow control) to SUBMITs beyond this many per second per
        /// account. Default: no rate limit (the window of 16 unwritten answers still
        /// holds back an SP that sends without reading).
        #[arg(long)]
        flow_limit: Option<u32>,
        /// Print every PDU received and sent.
        #[arg(long)]
        trace: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
        /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9100).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
        /// Print the final statistics tree (server, busiest groups, addresses, connections)
        /// as one JSON object instead of text.
        #[arg(long)]
        stats_json: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        tls: tls::ServeTls,
    },
}

#[derive(Debug, Subcommand)]
enum WsCommand {
    /// Connect to a WebSocket server (ws:// or wss://), send each stdin line as a text
    /// message, print what comes back; close with 1000 at the end of the input.
    Connect {
        /// ws://HOST[:PORT][/PATH] or wss://...
        url: String,
        /// Offer permessage-deflate.
        #[arg(long)]
        deflate: bool,
        #[command(flatten)]
        tls: tls::ConnectTls,
    },
    /// Serve WebSocket (RFC 6455): echo text and binary messages, or print them.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Echo every text and binary message back.
        #[arg(long)]
        echo: bool,
        /// Agree to permessage-deflate (RFC 7692) when a client offers it.
        #[arg(long)]
        deflate: bool,
        /// The heartbeat: ping a connection after this many seconds of write silence,
        /// close one silent for three times as long (0: off).
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        ping: u64,
        /// Stop after this many seconds and print the statistics.
        #[arg(long)]
        seconds: Option<u64>,
        /// Print the final statistics tree as one JSON object.
        #[arg(long)]
        stats_json: bool,
        #[command(flatten)]
        tls: tls::ServeTls,
    },
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Write a self-signed CA (ca.pem, ca.key), a server certificate for NAME and the
    /// loopback addresses (server.pem, server.key) and a client certificate (client.pem,
    /// client.key), both signed by the CA, into DIR. For trying TLS out, not production.
    New {
        /// Where to write them.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// The server's DNS name.
        #[arg(long, default_value = "localhost")]
        name: String,
    },
}

/// A server's hostile-peer limits; each defaults to the library's documented default.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Close a connection that sends nothing this long (`90s`, `500ms`, `2m`; `0` for
    /// never). Default 120s (CMPP: off, its link check finds dead SPs). A partial frame
    /// must complete within this too, or 30s when that is shorter.
    #[arg(long, value_parser = parse_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// The most open connections. Default: the open-files limit less 64.
    #[arg(long)]
    max_conns: Option<usize>,
    /// The most connections from one IP address. Default 1024.
    #[arg(long)]
    max_per_ip: Option<usize>,
    /// The most bytes queued for one connection (`4MiB`, `512KiB`, `65536`). Default 4MiB.
    #[arg(long, value_parser = parse_bytes)]
    max_queued_bytes: Option<usize>,
    /// The memory all connections together may hold for large partial frames and deep
    /// queues. Default 512MiB.
    #[arg(long, value_parser = parse_bytes)]
    memory_budget: Option<usize>,
}

impl LimitArgs {
    fn limits(&self) -> packwire_net::Limits {
        packwire_net::Limits {
            idle_timeout: self.idle_timeout,
            max_connections: self.max_conns,
            max_per_ip: self.max_per_ip,
            max_queued_bytes: self.max_queued_bytes,
            memory_budget: self.memory_budget,
        }
    }
}

/// `90s`, `500ms`, `2m`, `1h`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = split_unit(s);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s}: not a duration (90s, 500ms, 2m)"))?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("{s}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    ms.map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("{s}: too long"))
}

/// `4MiB`, `512KiB`, `1GiB`, `8M`, `64k`, or plain bytes.
fn parse_bytes(s: &str) -> Result<usize, String> {
    let (num, unit) = split_unit(s);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s}: not a size (4MiB, 512KiB)"))?;
    let mult: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s}: unknown unit {unit:?} (KiB, MiB, GiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s}: too large"))
}

fn split_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(at)
}

/// Exit status 0, or the error said on stderr: 2 for a usage error (`InvalidInput`: a
/// bad SPEC or option), 1 for anything that failed at run time.
fn report(cmd: &str, r: std::io::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("packwire {cmd}: {e}");
            if e.kind() == std::io::ErrorKind::InvalidInput {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.verbose, cli.quiet);
    // servers size their connection limit from the open-files limit: take the hard one
    let _ = rlimit::increase_nofile_limit(u64::MAX);
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
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            match decode::run(dec, split, file.as_deref()) {
                Ok(code) => ExitCode::from(code as u8),
                Err(e) => {
                    eprintln!("packwire decode: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve {
            codec,
            listen,
            echo,
            baseline,
            seconds,
            metrics,
            stats_json,
            limits,
            tls,
        } => report(
            "serve",
            net::serve(net::ServeArgs {
                spec: &codec,
                listen: &listen,
                echo,
                baseline,
                seconds,
                metrics: metrics.as_deref(),
                stats_json,
                limits: limits.limits(),
                tls,
            }),
        ),
        Command::Connect { codec, addr, tls } => {
            report("connect", net::connect(&codec, &addr, &tls))
        }
        Command::Chat { command } => {
            let (name, r) = chat::run(command);
            report(name, r)
        }
        Command::Cert {
            command: CertCommand::New { out, name },
        } => report("cert new", tls::new_certs(&out, &name)),
        Command::Ws {
            command: WsCommand::Connect { url, deflate, tls },
        } => report("ws connect", ws::connect(&url, deflate, &tls)),
        Command::Ws {
            command:
                WsCommand::Serve {
                    listen,
                    echo,
                    deflate,
                    ping,
                    seconds,
                    stats_json,
                    tls,
                },
        } => report(
            "ws serve",
            ws::serve(ws::Serve {
                listen,
                echo,
                deflate,
                ping,
                seconds,
                stats_json,
                tls,
            }),
        ),
        Command::Bench {
            connect,
            conns,
            inflight,
            size,
            seconds,
            handshakes,
            ws,
            deflate,
            tls,
        } => report(
            "bench",
            if handshakes {
                bench::bench_handshakes(&connect, conns, size, seconds, &tls)
            } else {
                {
                    let framing = match (ws, deflate) {
                        (false, _) => bench::BenchWire::Length,
                        (true, deflate) => bench::BenchWire::Ws { deflate },
                    };
                    bench::bench(&connect, conns, inflight, size, seconds, &tls, framing)
                }
            },
        ),
        Command::Cmpp {
            command:
                CmppCommand::Send {
                    sp,
                    to,
                    text,
                    wait,
                    trace,
                },
        } => report(
            "cmpp send",
            cmpp::send(cmpp::Send {
                sp,
                to,
                text,
                wait_report: wait,
                trace,
            }),
        ),
        Command::Smpp {
            command:
                SmppCommand::Send {
                    esme,
                    bind,
                    to,
                    from,
                    text,
                    wait,
                    long,
                },
        } => report(
            "smpp send",
            smpp::send(smpp::Send {
                esme,
                bind,
                to,
                from,
                text,
                wait,
                long,
            }),
        ),
        Command::Smpp {
            command:
                SmppCommand::Bench {
                    esme,
                    conns,
                    window,
                    seconds,
                },
        } => report("smpp bench", smpp::bench(&esme, conns, window, seconds)),
        Command::Smpp {
            command:
                SmppCommand::Serve {
                    listen,
                    account,
                    reports,
                    mo_every,
                    tps,
                    strict,
                    trace,
                    seconds,
                    stats_json,
                    tls,
                },
        } => report(
            "smpp serve",
            smpp::serve(smpp::Serve {
                listen,
                accounts: account,
                reports,
                mo_every,
                tps,
                strict,
                tls,
                trace,
                seconds,
                stats_json,
            }),
        ),
        Command::Cmpp {
            command:
                CmppCommand::Bench {
                    sp,
                    conns,
                    window,
                    seconds,
                },
        } => report("cmpp bench", cmpp::bench(&sp, conns, window, seconds)),
        Command::Cmpp {
            command:
                CmppCommand::Serve {
                    listen,
                    account,
                    version,
                    reports,
                    mo_every,
                    flow_limit,
                    trace,
                    seconds,
                    metrics,
                    stats_json,
                    limits,
                    tls,
                },
        } => report(
            "cmpp serve",
            cmpp::serve(cmpp::Serve {
                tls,
                metrics,
                stats_json,
                listen,
                accounts: account,
                version,
                reports,
                mo_every,
                flow_limit,
                trace,
                seconds,
                limits: limits.limits(),
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_values_parse_with_their_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("3s"), Ok(std::time::Duration::from_secs(3)));
        assert_eq!(
            parse_duration("500ms"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("2m"),
            Ok(std::time::Duration::from_secs(120))
        );
        assert_eq!(parse_duration("0"), Ok(std::time::Duration::ZERO));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(parse_bytes("4MiB"), Ok(4 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert!(parse_bytes("4XB").is_err());
        assert!(parse_bytes("99999999999999999999G").is_err());
    }
}
