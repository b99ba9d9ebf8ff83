//! `packwire smpp send` and `packwire smpp serve`: the ESME client and SMSC simulator of
//! `packwire_sms::smpp` on the command line.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::smpp::{Address, Body, CommandStatus, LongMode, Sm};
use packwire_codecs::sms::UdhRef;
use packwire_sms::session::{Account, ClientConfig, Event, SmscConfig, SmscEvent};
use packwire_sms::smpp::{self, BindKind, Esme, Smsc, SmscProtocol};

use crate::net::runtime;

/// Where and as whom an ESME binds (shared by `smpp send` and `smpp bench`).
#[derive(Debug, clap::Args)]
pub(crate) struct EsmeArgs {
    /// The SMSC's host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The SMSC's port (2775 is SMPP's).
    #[arg(long, default_value_t = 2775)]
    port: u16,
    /// The account.
    #[arg(long)]
    system_id: String,
    /// Its password.
    #[arg(long)]
    password: String,
    #[command(flatten)]
    tls: crate::tls::ConnectTls,
}

impl EsmeArgs {
    fn addr(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| crate::net::at(&format!("{}:{}", self.host, self.port), e))?
            .next()
            .ok_or_else(|| io::Error::other(format!("{}: no address", self.host)))
    }

    fn esme(&self) -> Esme {
        Esme::transceiver(self.system_id.clone(), self.password.clone())
    }

    /// An ESME client for `esme` at `addr`, over TLS when asked for.
    fn connect(
        &self,
        addr: SocketAddr,
        esme: Esme,
        cfg: ClientConfig,
    ) -> io::Result<smpp::EsmeClient> {
        Ok(match self.tls.connector()? {
            Some(t) => smpp::connect_tls(&[addr], esme, cfg, t),
            None => smpp::connect(&[addr], esme, cfg),
        })
    }
}

/// What `smpp send` does.
pub(crate) struct Send {
    pub(crate) esme: EsmeArgs,
    pub(crate) bind: String,
    pub(crate) to: String,
    pub(crate) from: String,
    pub(crate) text: String,
    pub(crate) wait: Option<u64>,
    pub(crate) long: String,
}

fn status(code: u32) -> String {
    CommandStatus(code).to_string()
}

pub(crate) fn send(a: Send) -> io::Result<()> {
    let addr = a.esme.addr()?;
    let kind = match a.bind.as_str() {
        "trx" => BindKind::Transceiver,
        "tx" => BindKind::Transmitter,
        other => return Err(crate::net::usage(format!("--bind {other}: trx or tx"))),
    };
    let reference = fastrand_ref();
    let mode = match a.long.as_str() {
        "udh" => LongMode::Udh(UdhRef::Eight(reference)),
        "sar" => LongMode::Sar(u16::from(reference)),
        "payload" => LongMode::Payload,
        other => {
            return Err(crate::net::usage(format!(
                "--long {other}: udh, sar or payload"
            )));
        }
    };
    runtime()?.block_on(async move {
        let mut esme = a.esme.esme();
        esme.kind = kind;
        let client = a.esme.connect(addr, esme, ClientConfig::default())?;
        let mut template = Sm::new(
            Address::new(a.from.clone()),
            Address::new(a.to.clone()),
            0,
            "",
        );
        if a.wait.is_some() {
            template.registered_delivery = 1;
        }
        let requests = client
            .submit_text(&template, &a.text, mode)
            .map_err(|e| crate::net::usage(format!("--text: {e}")))?;
        let n = requests.len();
        let deadline = Duration::from_secs(10);
        let mut ids: Vec<Option<Bytes>> = vec![None; n];
        let mut result = Ok(());
        while ids.iter().any(Option::is_none) {
            let e = match tokio::time::timeout(deadline, client.next_event()).await {
                Ok(Some(e)) => e,
                _ => {
                    result = Err(io::Error::other(format!(
                        "no answer from {addr} within {deadline:?}"
                    )));
                    break;
                }
            };
            match e {
                Event::LoggedIn => println!("bound to {addr} as {} ({})", a.esme.system_id, a.bind),
                Event::LoginRefused(s) => {
                    result = Err(io::Error::other(format!("bind refused: {}", status(s))));
                    break;
                }
                Event::Accepted { request, id } => {
                    if let Some(i) = requests.iter().position(|r| *r == request) {
                        println!(
                            "part {}/{n}: message_id {}",
                            i + 1,
                            String::from_utf8_lossy(&id)
                        );
                        ids[i] = Some(id);
                    }
                }
                Event::Rejected { status: s, .. } => {
                    result = Err(io::Error::other(format!("submit refused: {}", status(s))));
                    break;
                }
                Event::TimedOut(_) | Event::LinkLost | Event::LoggedOut => {
                    result = Err(io::Error::other(format!("the SMSC at {addr} went away")));
                    break;
                }
                Event::Report(_) | Event::Mo(_) => {}
            }
        }
        if let (Ok(()), Some(secs)) = (&result, a.wait) {
            let mut waiting: Vec<Bytes> = ids.iter().flatten().cloned().collect();
            let until = tokio::time::Instant::now() + Duration::from_secs(secs);
            while !waiting.is_empty() {
                match tokio::time::timeout_at(until, client.next_event()).await {
                    Ok(Some(Event::Report(r))) => {
                        if let Some(i) = waiting.iter().position(|w| *w == r.id) {
                            waiting.remove(i);
                            println!(
                                "receipt: message_id {}: {}",
                                String::from_utf8_lossy(&r.id),
                                String::from_utf8_lossy(&r.stat)
                            );
                        }
                    }
                    Ok(Some(Event::LinkLost | Event::LoggedOut)) | Ok(None) => break,
                    Ok(Some(_)) => {}
                    Err(_) => break,
                }
            }
            for w in &waiting {
                println!(
                    "receipt: message_id {}: none within {secs}s",
                    String::from_utf8_lossy(w)
                );
            }
        }
        client.shutdown(Duration::from_secs(2)).await;
        result
    })
}

/// A concatenation reference that differs between runs (so two long texts sent one after
/// the other are not mixed up by the handset).
fn fastrand_ref() -> u8 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (t % 255) as u8 + 1
}

/// What `smpp serve` does.
pub(crate) struct Serve {
    pub(crate) listen: String,
    pub(crate) accounts: Vec<String>,
    pub(crate) reports: bool,
    pub(crate) mo_every: Option<u64>,
    pub(crate) tps: Option<u32>,
    pub(crate) strict: bool,
    pub(crate) tls: crate::tls::ServeTls,
    pub(crate) trace: bool,
    pub(crate) seconds: Option<u64>,
    pub(crate) stats_json: bool,
}

pub(crate) fn serve(a: Serve) -> io::Result<()> {
    let mut accounts = Vec::new();
    for spec in &a.accounts {
        let (id, pw) = spec.split_once(':').ok_or_else(|| {
            crate::net::usage(format!("--account {spec}: write SYSTEM_ID:PASSWORD"))
        })?;
        accounts.push(Account::new(id.to_owned(), pw.to_owned()));
    }
    let ids: Vec<String> = accounts
        .iter()
        .map(|acc| String::from_utf8_lossy(&acc.name).into_owned())
        .collect();
    runtime()?.block_on(async move {
        let mut cfg = SmscConfig::new(accounts);
        cfg.reports = a.reports;
        cfg.report_after = Duration::from_millis(500);
        cfg.rate = a.tps;
        let stop = crate::stop::Stop::install(a.seconds);
        let mut protocol = SmscProtocol::new(0);
        protocol.strict = a.strict;
        let smsc = match a.tls.acceptor()? {
            Some(t) => Smsc::bind_tls(a.listen.as_str(), cfg, protocol, t).await,
            None => Smsc::bind_with(a.listen.as_str(), cfg, protocol).await,
        };
        let smsc = smsc.map_err(|e| crate::net::at(&a.listen, e))?;
        println!("SMPP SMSC listening on {}", smsc.local_addr());
        let stop = stop.requested();
        tokio::pin!(stop);
        let mut mo = a
            .mo_every
            .map(|s| tokio::time::interval(Duration::from_secs(s.max(1))));
        let mut summary = tokio::time::interval(Duration::from_secs(5));
        summary.tick().await;
        let (mut submits, mut throttled, mut last) = (0u64, 0u64, 0u64);
        let mut mo_n = 0u64;
        loop {
            tokio::select! {
                () = &mut stop => break,
                e = smsc.next_event() => match e {
                    Some(e) => {
                        count(&e, &mut submits, &mut throttled);
                        print_event(&e, a.trace);
                    }
                    None => break,
                },
                _ = summary.tick() => {
                    if submits > last {
                        println!("[summary] {} submits/s, {submits} in all, {throttled} throttled", (submits - last) / 5);
                        last = submits;
                    }
                }
                _ = async { match &mut mo { Some(i) => i.tick().await, None => std::future::pending().await } } => {
                    for id in &ids {
                        mo_n += 1;
                        let text = format!("MO test {mo_n}");
                        if smsc.push_mo(id, "13800000000", id, &text).await > 0 {
                            println!("[mo] to {id}: {text}");
                        }
                    }
                }
            }
        }
        while let Some(e) = smsc.try_event() {
            count(&e, &mut submits, &mut throttled);
            print_event(&e, a.trace);
        }
        if smsc.dropped_events() > 0 {
            println!("[events] {} dropped unread", smsc.dropped_events());
        }
        let tree = smsc.server().stats_tree(crate::net::TOP_N);
        crate::net::print_stats(tree, smsc.shutdown().await, a.stats_json);
        Ok(())
    })
}

fn count(e: &SmscEvent, submits: &mut u64, throttled: &mut u64) {
    match e {
        SmscEvent::Submitted { .. } => *submits += 1,
        SmscEvent::Throttled { .. } => *throttled += 1,
        _ => {}
    }
}

/// Binds and unbinds always; per-submit lines only with `--trace`.
fn print_event(e: &SmscEvent, trace: bool) {
    match e {
        SmscEvent::LoggedIn { account, .. } => {
            println!("[bind] {}", String::from_utf8_lossy(account));
        }
        SmscEvent::LoginRefused {
            account, status, ..
        } => println!(
            "[refused] {}: {}",
            String::from_utf8_lossy(account),
            CommandStatus(*status)
        ),
        SmscEvent::LoggedOut { .. } => println!("[unbind]"),
        SmscEvent::LinkLost => println!("[link lost] no answer to enquire_link"),
        SmscEvent::Submitted { ids, request, .. } if trace => {
            if let Body::SubmitSm(sm) = &request.body {
                println!(
                    "[submit] to {}: message_id {} ({} bytes, data_coding {})",
                    String::from_utf8_lossy(&sm.dest.addr),
                    String::from_utf8_lossy(ids.first().map_or(&b""[..], |i| &i[..])),
                    sm.payload().len(),
                    sm.data_coding
                );
            }
        }
        SmscEvent::Throttled { .. } if trace => println!("[throttled]"),
        _ => {}
    }
}

/// `smpp bench`: CONNS bound ESMEs, each keeping WINDOW submits in flight, for SECONDS;
/// prints JSON (submits per second) and fails if a connection was lost or a submit
/// refused.
pub(crate) fn bench(esme: &EsmeArgs, conns: usize, window: usize, seconds: u64) -> io::Result<()> {
    let addr = esme.addr()?;
    if conns == 0 || window == 0 {
        return Err(crate::net::usage("--conns and --window must be at least 1"));
    }
    runtime()?.block_on(async move {
        let cfg = ClientConfig {
            window,
            ..ClientConfig::default()
        };
        let clients = (0..conns)
            .map(|_| esme.connect(addr, esme.esme(), cfg.clone()))
            .collect::<io::Result<Vec<_>>>()?;
        let msg = Sm::new(
            Address::new("10086"),
            Address::new("13800138000"),
            0,
            "packwire smpp bench",
        );
        crate::gateway_bench::run(clients, msg, window, seconds).await
    })
}
