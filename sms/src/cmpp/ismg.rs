//! The ISMG side: accounts, login, SUBMIT_RESP with Msg_Ids, status reports, MO pushes —
//! the session layer's [`GatewayServer`] with [`IsmgProtocol`], its events in CMPP's
//! terms.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::cmpp::{Body, CmppCodec, ConnectStatus, MsgId, Pdu, SubmitResult, Version};
use tokio::net::ToSocketAddrs;
use tokio::sync::mpsc;

use super::{Direction, Traced};
use crate::session::cmpp::{IsmgIds, IsmgProtocol};
use crate::session::{
    self, EventOf, GatewayServer, MoError, ServeOptions, ServerConfig, ServerEvent, ServerShared,
};
use packwire_net::{CallConfig, CallError, Conn, ServerHandle, StatsSnapshot};

/// An SP account on the ISMG.
#[derive(Debug, Clone)]
pub struct Account {
    id: String,
    secret: String,
    versions: Vec<Version>,
    ips: Vec<IpAddr>,
    max_connections: usize,
    rate: Option<u32>,
}

impl Account {
    /// An account (its Source_Addr, the SP_Id, and its shared secret) that may log in with
    /// 2.0 or 3.0 from any address, with up to 8 connections.
    pub fn new(id: &str, secret: &str) -> Self {
        Account {
            id: id.to_owned(),
            secret: secret.to_owned(),
            versions: vec![Version::V20, Version::V30],
            ips: Vec::new(),
            max_connections: 8,
            rate: None,
        }
    }

    /// Only these versions' layouts may log in (a higher one gets status 4, version too
    /// high; a lower one status 5).
    pub fn versions(mut self, versions: &[Version]) -> Self {
        self.versions = versions.iter().map(|v| v.layout()).collect();
        self
    }

    /// Only these addresses may log in (status 2, illegal source address, otherwise).
    pub fn allow_ips(mut self, ips: &[IpAddr]) -> Self {
        self.ips = ips.to_vec();
        self
    }

    /// At most `per_second` SUBMITs per second from this account, over all its
    /// connections; more are answered with Result 8 (flow control). Overrides
    /// [`IsmgConfig::flow_limit`].
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate = Some(per_second);
        self
    }

    /// At most `n` logged-in connections at once (status 5 for more).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
}

/// How the ISMG behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IsmgConfig {
    /// The accounts that may log in.
    pub accounts: Vec<Account>,
    /// The gateway code in the Msg_Ids it assigns. Default 1.
    pub gateway_id: u32,
    /// Send a status report (DELIVER, Registered_Delivery = 1) this long after each
    /// SUBMIT that asked for one. Default: none.
    pub report_delay: Option<Duration>,
    /// The Stat of those reports. Default `DELIVRD`.
    pub report_stat: String,
    /// Answer Result 8 (flow control) to SUBMITs beyond this many per second from one
    /// account (all its connections together). Default: no limit.
    pub flow_limit: Option<u32>,
    /// Window, timeout and sends for the DELIVERs it sends.
    pub calls: CallConfig,
    /// ACTIVE_TEST an SP silent for this long; close it after that many unanswered.
    /// Default: 180 s, 3 (CMPP's C and N).
    pub link_check: (Duration, u32),
    /// An SP must send its CONNECT within this. Default 10 s.
    pub login_timeout: Duration,
    /// Report every PDU decoded and encoded as an [`IsmgEvent::Pdu`].
    pub trace: bool,
    /// How many of an SP's requests may wait answered but unwritten (CMPP's window W,
    /// default 16): beyond it the ISMG reads nothing more from that SP until its answers
    /// have gone out — an SP that sends without waiting is slowed to the pace at which it
    /// reads, and no answer is ever dropped. An SP that stops reading is back-pressured;
    /// only after the write timeout (30 s) without taking a byte is it closed.
    pub window: usize,
    /// Status reports per session scheduled or sent but not yet acknowledged (default
    /// 1024). Each is sent at most `calls.max_sends` times; beyond this backlog a report
    /// is dropped and counted ([`Ismg::reports_dropped`]) rather than held for an SP that
    /// does not acknowledge. A closed session's pending reports are dropped with it.
    pub max_pending_reports: usize,
    /// The server's hostile-peer limits. The idle timeout is off by default here: CMPP's
    /// link check (`link_check`) finds dead SPs, after 180 s of silence and three
    /// unanswered ACTIVE_TESTs, later than a server's 120 s default would close them.
    pub limits: packwire_net::Limits,
    /// Serve TLS with this acceptor.
    #[cfg(feature = "tls")]
    pub tls: Option<packwire_net::tls::TlsAcceptor>,
}

impl IsmgConfig {
    /// The defaults with these accounts.
    pub fn new(accounts: Vec<Account>) -> Self {
        IsmgConfig {
            accounts,
            gateway_id: 1,
            report_delay: None,
            report_stat: "DELIVRD".to_owned(),
            flow_limit: None,
            calls: CallConfig::default(),
            link_check: (Duration::from_secs(180), 3),
            login_timeout: Duration::from_secs(10),
            trace: false,
            window: 16,
            max_pending_reports: 1024,
            limits: packwire_net::Limits {
                idle_timeout: Some(Duration::ZERO),
                ..packwire_net::Limits::default()
            },
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Serves TLS.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, acceptor: packwire_net::tls::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Sends status reports `delay` after each SUBMIT that asks for one.
    pub fn reports(mut self, delay: Duration) -> Self {
        self.report_delay = Some(delay);
        self
    }

    /// Answers Result 8 beyond `per_second` SUBMITs per second per account.
    pub fn flow_limit(mut self, per_second: u32) -> Self {
        self.flow_limit = Some(per_second);
        self
    }

    /// Reports every PDU as an event.
    pub fn trace(mut self) -> Self {
        self.trace = true;
        self
    }

    /// Window, timeout and sends for the ISMG's own requests.
    pub fn calls(mut self, cfg: CallConfig) -> Self {
        self.calls = cfg;
        self
    }

    /// The server's hostile-peer limits (an idle timeout given here replaces the link
    /// check's role only if it is shorter).
    pub fn limits(mut self, limits: packwire_net::Limits) -> Self {
        let idle = limits.idle_timeout.or(self.limits.idle_timeout);
        self.limits = packwire_net::Limits {
            idle_timeout: idle,
            ..limits
        };
        self
    }

    /// ACTIVE_TEST interval and unanswered checks before closing.
    pub fn link_check(mut self, interval: Duration, max_unanswered: u32) -> Self {
        self.link_check = (interval, max_unanswered);
        self
    }
}

/// What happened on the ISMG.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsmgEvent {
    /// An SP logged in.
    LoggedIn {
        /// Its account.
        account: String,
        /// The version it logged in with.
        version: Version,
        /// Its address.
        peer: SocketAddr,
    },
    /// A CONNECT was refused (the answer carried `status`, then the connection closed).
    LoginRefused {
        /// The Source_Addr it claimed.
        source_addr: String,
        /// The status answered.
        status: ConnectStatus,
        /// Its address.
        peer: SocketAddr,
    },
    /// A SUBMIT was answered.
    Submitted {
        /// The account.
        account: String,
        /// The Msg_Ids assigned, one per destination (empty when refused).
        msg_ids: Vec<MsgId>,
        /// The destinations.
        dest: Vec<String>,
        /// Pk_total, Pk_number.
        part: (u8, u8),
        /// The Result answered.
        result: SubmitResult,
    },
    /// A whole message arrived (a single SUBMIT, or every part of a long one).
    Message {
        /// The account.
        account: String,
        /// The first destination.
        dest: String,
        /// The text, when its format is a text format.
        text: Option<String>,
        /// How many parts it came in.
        parts: usize,
    },
    /// A status report was sent; `acked` when the SP answered its DELIVER.
    ReportSent {
        /// The account.
        account: String,
        /// The Msg_Id it reports on.
        msg_id: MsgId,
        /// Whether a DELIVER_RESP came back.
        acked: bool,
    },
    /// An SP sent TERMINATE.
    Terminated {
        /// The account.
        account: String,
    },
    /// A PDU decoded or encoded (with [`IsmgConfig::trace`]).
    Pdu {
        /// Which way.
        direction: Direction,
        /// The PDU.
        pdu: Pdu,
    },
}

fn text_of(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Account {
    /// The session layer's account.
    fn to_session(&self) -> session::Account<Vec<Version>> {
        session::Account {
            name: Bytes::from(self.id.clone()),
            secret: Bytes::from(self.secret.clone()),
            allowed: self.versions.clone(),
            ips: self.ips.clone(),
            max_sessions: Some(self.max_connections),
            rate: self.rate,
        }
    }
}

impl IsmgConfig {
    /// The session layer's configuration.
    fn to_session(&self) -> ServerConfig<Vec<Version>> {
        let mut c = ServerConfig::new(self.accounts.iter().map(Account::to_session).collect());
        c.rate = self.flow_limit;
        c.reports = self.report_delay.is_some();
        c.report_after = self.report_delay.unwrap_or_default();
        c.report_stat = Bytes::from(self.report_stat.clone());
        c.max_pending_reports = self.max_pending_reports;
        c.window = self.calls.window;
        c.request_timeout = self.calls.timeout;
        c.request_sends = self.calls.max_sends;
        c.link_check_after = Some(self.link_check.0);
        c.link_check_timeout = self.calls.timeout;
        c.link_check_tries = self.link_check.1;
        c
    }
}

/// The session layer's event in CMPP's terms (`None`: one CMPP's events do not name).
fn event_of(e: EventOf<IsmgProtocol>) -> Option<IsmgEvent> {
    let submitted = |account: &Bytes, request: &Pdu, msg_ids, result| {
        let Body::Submit(s) = &request.body else {
            return None;
        };
        Some(IsmgEvent::Submitted {
            account: text_of(account),
            msg_ids,
            dest: s.dest_terminal_ids.iter().map(text_of).collect(),
            part: (s.pk_total, s.pk_number),
            result,
        })
    };
    match e {
        ServerEvent::LoggedIn {
            account,
            login,
            peer,
        } => Some(IsmgEvent::LoggedIn {
            account: text_of(&account),
            version: login,
            peer,
        }),
        ServerEvent::LoginRefused {
            account,
            status,
            peer,
        } => Some(IsmgEvent::LoginRefused {
            source_addr: text_of(&account),
            status: ConnectStatus(status),
            peer,
        }),
        ServerEvent::Submitted {
            account,
            ids,
            request,
        } => submitted(&account, &request, ids, SubmitResult::OK),
        ServerEvent::Throttled { account, request } => {
            submitted(&account, &request, Vec::new(), SubmitResult::FLOW_CONTROL)
        }
        ServerEvent::Message {
            account,
            to,
            text,
            parts,
        } => Some(IsmgEvent::Message {
            account: text_of(&account),
            dest: text_of(&to),
            text,
            parts,
        }),
        ServerEvent::ReportSent { account, id, acked } => Some(IsmgEvent::ReportSent {
            account: text_of(&account),
            msg_id: id,
            acked,
        }),
        ServerEvent::LoggedOut { account } => Some(IsmgEvent::Terminated {
            account: text_of(&account),
        }),
        ServerEvent::MoSent { .. } | ServerEvent::LinkLost => None,
    }
}

/// An ISMG simulator: SPs log in, submit, and get reports and MO messages.
///
/// ```no_run
/// use std::time::Duration;
/// use packwire_sms::cmpp::{Account, Ismg, IsmgConfig, IsmgEvent};
///
/// # async fn run() -> std::io::Result<()> {
/// // one SP account, a DELIVRD report a second after each submit
/// let cfg = IsmgConfig::new(vec![Account::new("901234", "s3cret")])
///     .reports(Duration::from_secs(1));
/// let mut ismg = Ismg::bind("127.0.0.1:7890", cfg).await?;
/// while let Some(event) = ismg.next_event().await {
///     if let IsmgEvent::LoggedIn { account, .. } = event {
///         // greet the SP with an MO message from a phone
///         let _ = ismg.push_mo(&account, "13800138000", "10690001", "hi").await;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Ismg {
    server: GatewayServer<IsmgProtocol>,
    events: mpsc::Receiver<IsmgEvent>,
    dropped: Arc<AtomicU64>,
    max_sends: u32,
}

/// Passes an event on; drops it (and counts it) when too many wait unread: a simulator
/// must not grow without bound because nobody reads its events.
fn pass(events: &mpsc::Sender<IsmgEvent>, dropped: &AtomicU64, e: IsmgEvent) {
    if events.try_send(e).is_err() {
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl Ismg {
    /// Starts an ISMG on `addr`.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs, cfg: IsmgConfig) -> io::Result<Ismg> {
        let (tx, events) = mpsc::channel(super::TRACE_BUFFER);
        let dropped = Arc::new(AtomicU64::new(0));
        let trace = cfg.trace.then(|| {
            let (trace_tx, mut trace_rx) = mpsc::channel::<(Direction, Pdu)>(super::TRACE_BUFFER);
            let (tx, dropped) = (tx.clone(), dropped.clone());
            tokio::spawn(async move {
                while let Some((direction, pdu)) = trace_rx.recv().await {
                    pass(&tx, &dropped, IsmgEvent::Pdu { direction, pdu });
                }
            });
            trace_tx
        });
        let make = move || Traced {
            inner: CmppCodec::new(Version::V30).following_connect(),
            trace: trace.clone(),
        };
        #[allow(unused_mut)]
        let mut opts = ServeOptions {
            login_timeout: cfg.login_timeout,
            queue: cfg.window,
            weigh: Some(Pdu::weight),
            limits: cfg.limits,
            ..ServeOptions::default()
        };
        #[cfg(feature = "tls")]
        {
            opts.tls = cfg.tls.clone();
        }
        let ids = IsmgIds::new(cfg.gateway_id);
        let d = dropped.clone();
        let server = GatewayServer::bind(
            addr,
            make,
            ServerShared::new(cfg.to_session()),
            move |_: &Conn<Pdu>| IsmgProtocol::new(ids.clone()),
            move |_: &Conn<Pdu>, e| {
                if let Some(e) = event_of(e) {
                    pass(&tx, &d, e);
                }
            },
            &opts,
        )
        .await?;
        Ok(Ismg {
            server,
            events,
            dropped,
            max_sends: cfg.calls.max_sends,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Status reports dropped because a session's backlog of unacknowledged ones was full
    /// ([`IsmgConfig::max_pending_reports`]).
    pub fn reports_dropped(&self) -> u64 {
        self.server.reports_dropped()
    }

    /// Events dropped because [`super::TRACE_BUFFER`] of them waited unread.
    pub fn events_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The next event; `None` after shutdown.
    pub async fn next_event(&mut self) -> Option<IsmgEvent> {
        self.events.recv().await
    }

    /// An event if one is waiting.
    pub fn try_event(&mut self) -> Option<IsmgEvent> {
        self.events.try_recv().ok()
    }

    /// The runtime's statistics.
    pub fn stats(&self) -> StatsSnapshot {
        self.server.server().stats()
    }

    /// The runtime server the simulator runs on (its registry, statistics, block list).
    pub fn server(&self) -> &ServerHandle<Pdu> {
        self.server.server()
    }

    /// Connections logged in as `account`.
    pub fn sessions(&self, account: &str) -> usize {
        self.server.connections(account).len()
    }

    /// Sends an MO message from `from` (a phone number) to `to` (the SP's number) to one
    /// connection of `account`, split into parts when long; resolves when every part's
    /// DELIVER was answered, with how many parts it took.
    ///
    /// # Errors
    /// [`CallError::Closed`] when the account has no connection (or it closed first),
    /// [`CallError::TimedOut`] when a part went unanswered, [`CallError::NotARequest`]
    /// when the text cannot be carried.
    pub async fn push_mo(
        &self,
        account: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<usize, CallError> {
        let conn = self
            .server
            .connections(account)
            .into_iter()
            .next()
            .ok_or(CallError::Closed)?;
        self.server
            .push_mo_to(&conn, from, to, text)
            .await
            .map_err(|e| match e {
                MoError::NotReceiving => CallError::NotARequest,
                MoError::Unanswered => CallError::TimedOut {
                    sends: self.max_sends,
                },
                _ => CallError::Closed,
            })
    }

    /// Ends every session of `account` with TERMINATE (waiting briefly for each
    /// answer) and closes them; returns how many there were.
    pub async fn terminate(&self, account: &str) -> usize {
        self.server.logout(account, Duration::from_secs(5)).await
    }

    /// Stops: every connection is closed after its queue is written; the statistics
    /// after the close.
    pub async fn shutdown(self) -> StatsSnapshot {
        self.server.shutdown(Duration::from_secs(2)).await
    }
}
