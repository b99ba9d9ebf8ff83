//! `packwire cmpp send` and `packwire cmpp serve`: the CMPP SP client and ISMG simulator
//! of `packwire_sms::cmpp` on the command line.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use packwire_codecs::cmpp::{Pdu, Version};
use packwire_sms::cmpp::{
    Account, Direction, Ismg, IsmgConfig, IsmgEvent, Outgoing, SpClient, SpConfig,
};

use crate::cmpp_json::pdu_json;
use crate::net::runtime;

/// `2`, `2.0`, `3`, `3.0` or a Version byte such as `0x21`.
pub(crate) fn parse_version(s: &str) -> Result<Version, String> {
    match s {
        "2" | "2.0" => Ok(Version::V20),
        "3" | "3.0" => Ok(Version::V30),
        _ => s
            .strip_prefix("0x")
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(|b| matches!(b >> 4, 2 | 3))
            .map(Version)
            .ok_or_else(|| format!("{s}: the version is 2, 3 or a byte like 0x21")),
    }
}

fn trace_line(direction: Direction, pdu: &Pdu, version: Version) -> String {
    let arrow = match direction {
        Direction::In => "<-",
        Direction::Out => "->",
    };
    format!("{arrow} {}", pdu_json(pdu, version.is_v3()))
}

/// Where and as whom an SP connects (shared by `cmpp send` and `cmpp bench`).
#[derive(Debug, clap::Args)]
pub(crate) struct Sp {
    /// The ISMG's host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The ISMG's port (7890 is CMPP's long-connection port).
    #[arg(long, default_value_t = 7890)]
    port: u16,
    /// The SP_Id (Source_Addr).
    #[arg(long)]
    account: String,
    /// The shared secret.
    #[arg(long)]
    secret: String,
    /// 2 or 3 (or a Version byte such as 0x21).
    #[arg(long, default_value = "3", value_parser = parse_version)]
    version: Version,
    #[command(flatten)]
    tls: crate::tls::ConnectTls,
}

impl Sp {
    fn config(&self) -> io::Result<SpConfig> {
        let addr: SocketAddr = (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other(format!("{}: no address", self.host)))?;
        let cfg = SpConfig::new(addr, &self.account, &self.secret, self.version);
        Ok(match self.tls.connector()? {
            Some(t) => cfg.tls(t),
            None => cfg,
        })
    }
}

/// What `packwire cmpp send` was asked.
#[derive(Debug)]
pub(crate) struct Send {
    pub(crate) sp: Sp,
    pub(crate) to: Vec<String>,
    pub(crate) text: String,
    pub(crate) wait_report: Option<u64>,
    pub(crate) trace: bool,
}

/// How long `cmpp send` waits for reports without a connection before it gives up.
const LOST_GRACE: Duration = Duration::from_secs(3);

pub(crate) fn send(a: Send) -> io::Result<()> {
    let mut cfg = a.sp.config()?;
    let (addr, version) = (cfg.nodes[0], a.sp.version);
    runtime()?.block_on(async move {
        if a.trace {
            cfg = cfg.trace();
        }
        let sp = SpClient::connect(cfg)
            .await
            .map_err(|e| io::Error::other(format!("login: {e}")))?;
        println!(
            "logged in to {addr} as {} (CMPP {:#x})",
            a.sp.account, version.0
        );
        let to: Vec<&str> = a.to.iter().map(String::as_str).collect();
        let mut msg = Outgoing::group(&to, &a.text);
        if a.wait_report.is_some() {
            msg = msg.with_report();
        }
        let result = sp.submit(&msg).await;
        if a.trace {
            while let Ok(Some((d, p))) =
                tokio::time::timeout(Duration::from_millis(50), sp.next_trace()).await
            {
                println!("{}", trace_line(d, &p, version));
            }
        }
        let ids = match result {
            Ok(ids) => ids,
            Err(e) => {
                sp.terminate().await;
                return Err(io::Error::other(format!("submit: {e}")));
            }
        };
        for (i, id) in ids.iter().enumerate() {
            println!(
                "part {}/{}: Msg_Id {} ({})",
                i + 1,
                ids.len(),
                id.0,
                id.to_digits()
            );
        }
        let (mut missing, mut gone) = (0, false);
        if let Some(secs) = a.wait_report {
            // a report waits for a connection that is back within this long
            let lost = sp.lost(LOST_GRACE);
            tokio::pin!(lost);
            for id in &ids {
                for (n, each) in id.group(to.len()).zip(&to) {
                    let stat = tokio::select! {
                        s = sp.report_for(n, Duration::from_secs(secs)), if !gone => s,
                        () = &mut lost, if !gone => {
                            gone = true;
                            None
                        }
                        else => None,
                    };
                    match stat {
                        Some(stat) => println!("report: Msg_Id {} to {each}: {stat}", n.0),
                        None if gone => {
                            println!("report: Msg_Id {} to {each}: none, the ISMG went away", n.0);
                            missing += 1;
                        }
                        None => {
                            println!("report: Msg_Id {} to {each}: none within {secs} s", n.0);
                            missing += 1;
                        }
                    }
                }
            }
        }
        sp.terminate().await;
        if gone {
            return Err(io::Error::other(format!(
                "the ISMG went away (no connection for {} s) before {missing} report(s) arrived",
                LOST_GRACE.as_secs()
            )));
        }
        if missing > 0 {
            return Err(io::Error::other(format!("{missing} report(s) missing")));
        }
        Ok(())
    })
}

/// What `packwire cmpp serve` was asked.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) listen: String,
    /// the final statistics as JSON
    pub(crate) stats_json: bool,
    pub(crate) accounts: Vec<String>,
    pub(crate) version: Option<Version>,
    pub(crate) reports: bool,
    pub(crate) mo_every: Option<u64>,
    pub(crate) flow_limit: Option<u32>,
    pub(crate) trace: bool,
    pub(crate) seconds: Option<u64>,
    /// where to serve `/metrics`, if anywhere
    pub(crate) metrics: Option<String>,
    pub(crate) limits: packwire_net::Limits,
    pub(crate) tls: crate::tls::ServeTls,
}

pub(crate) fn serve(a: Serve) -> io::Result<()> {
    let mut accounts = Vec::new();
    for spec in &a.accounts {
        let (id, secret) = spec
            .split_once(':')
            .ok_or_else(|| io::Error::other(format!("--account {spec}: write ID:SECRET")))?;
        let mut acc = Account::new(id, secret);
        if let Some(v) = a.version {
            acc = acc.versions(&[v]);
        }
        accounts.push(acc);
    }
    if accounts.is_empty() {
        return Err(io::Error::other("give at least one --account ID:SECRET"));
    }
    let ids: Vec<String> = a
        .accounts
        .iter()
        .filter_map(|s| s.split_once(':').map(|(i, _)| i.to_owned()))
        .collect();
    runtime()?.block_on(async move {
        let mut cfg = IsmgConfig::new(accounts);
        if a.reports {
            cfg = cfg.reports(Duration::from_millis(500));
        }
        if a.trace {
            cfg = cfg.trace();
        }
        cfg = cfg.limits(a.limits);
        if let Some(t) = a.tls.acceptor()? {
            cfg = cfg.tls(t);
        }
        if let Some(n) = a.flow_limit {
            cfg = cfg.flow_limit(n);
        }
        let stop = crate::stop::Stop::install(a.seconds);
        let mut ismg = Ismg::bind(a.listen.as_str(), cfg)
            .await
            .map_err(|e| crate::net::at(&a.listen, e))?;
        println!("CMPP ISMG listening on {}", ismg.local_addr());
        let admin = match &a.metrics {
            Some(addr) => Some(crate::net::serve_metrics(addr, "cmpp", ismg.server()).await?),
            None => None,
        };
        let stop = stop.requested();
        tokio::pin!(stop);
        let mut mo = a
            .mo_every
            .map(|s| tokio::time::interval(Duration::from_secs(s.max(1))));
        let mut mo_n = 0u64;
        let mut summary = tokio::time::interval(Duration::from_secs(5));
        summary.tick().await;
        let (mut submits, mut last) = (0u64, 0u64);
        loop {
            tokio::select! {
                () = &mut stop => break,
                e = ismg.next_event() => match e {
                    Some(e) => {
                        submits += u64::from(matches!(e, IsmgEvent::Submitted { .. }));
                        print_event(&e, a.trace);
                    }
                    None => break,
                },
                _ = summary.tick() => {
                    if submits > last {
                        println!("[summary] {} submits/s, {submits} in all", (submits - last) / 5);
                        last = submits;
                    }
                }
                _ = async { match &mut mo { Some(i) => i.tick().await, None => std::future::pending().await } } => {
                    for id in &ids {
                        if ismg.sessions(id) > 0 {
                            mo_n += 1;
                            let text = format!("MO test {mo_n}");
                            match ismg.push_mo(id, "13800000000", id, &text).await {
                                Ok(_) => println!("[mo] to {id}: {text}"),
                                Err(e) => println!("[mo] to {id} failed: {e}"),
                            }
                        }
                    }
                }
            }
        }
        while let Some(e) = ismg.try_event() {
            print_event(&e, a.trace);
        }
        if ismg.events_dropped() > 0 {
            println!("[events] {} dropped unread", ismg.events_dropped());
        }
        if let Some(admin) = admin {
            admin.shutdown(Duration::from_secs(1)).await;
        }
        let tree = ismg.server().stats_tree(crate::net::TOP_N);
        crate::net::print_stats(tree, ismg.shutdown().await, a.stats_json);
        Ok(())
    })
}

/// Logins, refusals, whole messages and terminations always; a line per SUBMIT and per
/// report (and every PDU) only with `--trace`: printing costs more than the protocol work
/// under load.
fn print_event(e: &IsmgEvent, trace: bool) {
    match e {
        IsmgEvent::LoggedIn {
            account,
            version,
            peer,
        } => println!("[login] {account} CMPP {:#x} from {peer}", version.0),
        IsmgEvent::LoginRefused {
            source_addr,
            status,
            peer,
        } => println!("[refused] {source_addr:?} from {peer}: status {status}"),
        IsmgEvent::Submitted { .. } | IsmgEvent::ReportSent { .. } | IsmgEvent::Pdu { .. }
            if !trace => {}
        IsmgEvent::Submitted {
            account,
            msg_ids,
            dest,
            part,
            result,
        } => println!(
            "[submit] {account} -> {} part {}/{}: result {result}, Msg_Id {}",
            dest.join(","),
            part.1,
            part.0,
            msg_ids.first().map_or(0, |m| m.0)
        ),
        IsmgEvent::Message {
            account,
            dest,
            text,
            parts,
        } => println!(
            "[message] {account} -> {dest} ({parts} part(s)): {}",
            text.as_deref().unwrap_or("(binary)")
        ),
        IsmgEvent::ReportSent {
            account,
            msg_id,
            acked,
        } => println!(
            "[report] {account} Msg_Id {}: {}",
            msg_id.0,
            if *acked {
                "acknowledged"
            } else {
                "not acknowledged"
            }
        ),
        IsmgEvent::Terminated { account } => println!("[terminate] {account}"),
        IsmgEvent::Pdu { direction, pdu } => {
            println!("{}", trace_line(*direction, pdu, Version::V30));
        }
        other => println!("{other:?}"),
    }
}

/// `packwire cmpp bench`: `conns` SP connections, each keeping `window` submits in flight
/// (the CMPP window) for `seconds`; prints JSON. The SPs are the session layer's clients
/// (what `SpClient` runs), driven through its events rather than one task per submit.
pub(crate) fn bench(sp: &Sp, conns: usize, window: usize, seconds: u64) -> io::Result<()> {
    use packwire_sms::session::{ClientConfig, GatewayClient, Message, Protocol, cmpp};
    if conns == 0 || window == 0 {
        return Err(crate::net::usage("--conns and --window must be at least 1"));
    }
    let addr = sp.config()?.nodes[0];
    let cfg = ClientConfig {
        window,
        response_timeout: Duration::from_secs(10),
        max_tries: 1,
        ..ClientConfig::default()
    };
    let version = sp.version;
    runtime()?.block_on(async move {
        let mut login = cmpp::Sp::new(sp.account.clone(), sp.secret.clone(), version);
        let part = login
            .parts(&Message::new("13800138000", "packwire cmpp bench"))
            .map_err(io::Error::other)?
            .remove(0);
        let backoff = packwire_net::Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let tls = sp.tls.connector()?;
        let clients = (0..conns)
            .map(|_| {
                GatewayClient::start_tls(
                    move || packwire_codecs::cmpp::CmppCodec::new(version),
                    &[addr],
                    backoff.clone(),
                    login.clone(),
                    cfg.clone(),
                    tls.clone(),
                )
            })
            .collect();
        crate::gateway_bench::run(clients, part, window, seconds).await
    })
}
