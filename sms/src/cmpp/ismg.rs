//! The ISMG side: accounts, login, SUBMIT_RESP with Msg_Ids, status reports, MO pushes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_codecs::cmpp::{
    Body, Cancel, CancelResp, CmppCodec, Connect, ConnectResp, ConnectStatus, Deliver, MsgFmt,
    MsgId, MsgIdParts, Pdu, Query, QueryResp, Reassembler, Report, Split, Submit, SubmitResp,
    SubmitResult, UdhRef, Version, authenticator_ismg, authenticator_source, decode_text,
    pick_format, split_text,
};
use tokio::net::ToSocketAddrs;
use tokio::sync::mpsc;

use super::{Direction, Traced, beijing_now};
use packwire_net::{
    CallConfig, CallError, CloseReason, Conn, Registry, Server, ServerHandle, StatsSnapshot,
};

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
        }
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

/// A logged-in connection's session.
#[derive(Debug, Clone)]
struct Session {
    account: Arc<Account>,
    version: Version,
    /// reports scheduled or in flight, not yet acknowledged
    pending_reports: Arc<AtomicUsize>,
}

struct State {
    cfg: IsmgConfig,
    accounts: HashMap<String, Arc<Account>>,
    registry: OnceLock<Registry<Pdu>>,
    events: mpsc::Sender<IsmgEvent>,
    dropped: AtomicU64,
    msg_seq: AtomicU16,
    udh_ref: AtomicU8,
    reassembler: Mutex<Reassembler>,
    /// per account: (second, SUBMITs in it)
    flow: Mutex<HashMap<String, (u64, u32)>>,
    /// reports dropped because a session's backlog was full
    reports_dropped: AtomicU64,
    start: Instant,
}

impl State {
    /// Reports an event; drops it when too many wait unread (a simulator must not grow
    /// without bound because nobody reads its events).
    fn event(&self, e: IsmgEvent) {
        if self.events.try_send(e).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text_of(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
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
    server: ServerHandle<Pdu>,
    state: Arc<State>,
    events: mpsc::Receiver<IsmgEvent>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl Ismg {
    /// Starts an ISMG on `addr`.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs, cfg: IsmgConfig) -> io::Result<Ismg> {
        let (tx, events) = mpsc::channel(super::TRACE_BUFFER);
        let (trace_tx, mut trace_rx) = mpsc::channel::<(Direction, Pdu)>(super::TRACE_BUFFER);
        let state = Arc::new(State {
            accounts: cfg
                .accounts
                .iter()
                .map(|a| (a.id.clone(), Arc::new(a.clone())))
                .collect(),
            registry: OnceLock::new(),
            events: tx,
            dropped: AtomicU64::new(0),
            msg_seq: AtomicU16::new(1),
            udh_ref: AtomicU8::new(1),
            reassembler: Mutex::new(Reassembler::new(Duration::from_secs(600), 10_000)),
            flow: Mutex::new(HashMap::new()),
            reports_dropped: AtomicU64::new(0),
            start: Instant::now(),
            cfg,
        });
        let trace = state.cfg.trace.then_some(trace_tx);
        if trace.is_some() {
            let st = state.clone();
            tokio::spawn(async move {
                while let Some((direction, pdu)) = trace_rx.recv().await {
                    st.event(IsmgEvent::Pdu { direction, pdu });
                }
            });
        }
        let make = move || Traced {
            inner: CmppCodec::new(Version::V30).following_connect(),
            trace: trace.clone(),
        };
        let st = state.clone();
        let server = Server::builder(make, move |conn: Conn<Pdu>, pdu: Pdu| {
            let st = st.clone();
            async move { handle(&st, &conn, pdu).await }
        })
        .queue_capacity(state.cfg.window)
        .message_size(Pdu::weight)
        .calls(state.cfg.calls)
        .link_check(state.cfg.link_check.0, state.cfg.link_check.1)
        .auth_gate(state.cfg.login_timeout)
        .limits(&state.cfg.limits)
        .bind(addr)
        .await?;
        let _ = state.registry.set(server.registry().clone());
        Ok(Ismg {
            server,
            state,
            events,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Status reports dropped because a session's backlog of unacknowledged ones was full
    /// ([`IsmgConfig::max_pending_reports`]).
    pub fn reports_dropped(&self) -> u64 {
        self.state.reports_dropped.load(Ordering::Relaxed)
    }

    /// Events dropped because [`super::TRACE_BUFFER`] of them waited unread.
    pub fn events_dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
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
        self.server.stats()
    }

    /// The runtime server the simulator runs on (its registry, statistics, block list).
    pub fn server(&self) -> &ServerHandle<Pdu> {
        &self.server
    }

    /// Connections logged in as `account`.
    pub fn sessions(&self, account: &str) -> usize {
        self.server.registry().user(account).len()
    }

    /// Sends an MO message from `from` (a phone number) to `to` (the SP's number) to one
    /// connection of `account`, split into parts when long; resolves when every part's
    /// DELIVER was answered.
    ///
    /// # Errors
    /// [`CallError::Closed`] when the account has no connection; the call's error
    /// otherwise.
    pub async fn push_mo(
        &self,
        account: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<usize, CallError> {
        let conn = self
            .server
            .registry()
            .user(account)
            .into_iter()
            .next()
            .ok_or(CallError::Closed)?;
        let fmt = pick_format(text);
        let reference = UdhRef::Eight(self.state.udh_ref.fetch_add(1, Ordering::Relaxed));
        let parts = split_text(
            text,
            &Split {
                fmt,
                reference,
                signature: None,
            },
        )
        .map_err(|_| CallError::NotARequest)?;
        let n = parts.len();
        for p in parts {
            let d = Deliver {
                msg_id: next_msg_id(&self.state, 1),
                dest_id: Bytes::copy_from_slice(to.as_bytes()),
                tp_udhi: p.tp_udhi,
                msg_fmt: fmt.0,
                src_terminal_id: Bytes::copy_from_slice(from.as_bytes()),
                registered_delivery: 0,
                msg_content: p.content,
                ..Deliver::default()
            };
            conn.call(Pdu::new(0, Body::Deliver(Box::new(d)))).await?;
        }
        Ok(n)
    }

    /// Ends every session of `account` with TERMINATE (waiting briefly for each
    /// answer) and closes them; returns how many there were.
    pub async fn terminate(&self, account: &str) -> usize {
        let conns = self.server.registry().user(account);
        for c in &conns {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), c.call(Pdu::new(0, Body::Terminate)))
                    .await;
            c.close(CloseReason::Kicked);
        }
        conns.len()
    }

    /// Stops: every connection is closed after its queue is written; the statistics
    /// after the close.
    pub async fn shutdown(self) -> StatsSnapshot {
        self.server.shutdown(Duration::from_secs(2)).await
    }
}

/// Assigns `n` consecutive Msg_Ids (a group send) and returns the first.
fn next_msg_id(st: &State, n: usize) -> MsgId {
    let (_, month, day, hour, minute, second) = beijing_now();
    let seq = st.msg_seq.fetch_add(n.max(1) as u16, Ordering::Relaxed);
    MsgId::from_parts(MsgIdParts {
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        gateway: st.cfg.gateway_id,
        sequence: seq,
    })
}

/// Answers a request. Never dropped: when the SP's window of unwritten answers is full
/// this waits, and the ISMG reads nothing more from that SP meanwhile (back-pressure).
async fn reply(conn: &Conn<Pdu>, seq: u32, body: Body) {
    // only a closed connection refuses it, and then nobody is left to read it
    let _ = conn
        .respond(Pdu {
            sequence_id: packwire_codecs::cmpp::SequenceId(seq),
            body,
        })
        .await;
}

async fn handle(st: &Arc<State>, conn: &Conn<Pdu>, pdu: Pdu) {
    let seq = pdu.sequence_id.0;
    let session = conn.attr::<Session>();
    match (pdu.body, session) {
        (Body::Connect(c), None) => login(st, conn, seq, &c).await,
        (Body::Connect(_), Some(sess)) => {
            // a second CONNECT on a logged-in connection: refused with status 5 (other
            // error); the session it already has goes on unchanged
            reply(
                conn,
                seq,
                Body::ConnectResp(ConnectResp {
                    status: ConnectStatus::OTHER,
                    authenticator_ismg: [0; 16],
                    version: sess.version,
                }),
            )
            .await;
        }
        (Body::Submit(s), Some(sess)) => submit(st, conn, seq, *s, &sess).await,
        (Body::Query(q), Some(_)) => query(conn, seq, q).await,
        (Body::Cancel(Cancel { .. }), Some(_)) => {
            reply(conn, seq, Body::CancelResp(CancelResp { success_id: 0 })).await;
        }
        (Body::Terminate, sess) => {
            reply(conn, seq, Body::TerminateResp).await;
            if let Some(s) = sess {
                st.event(IsmgEvent::Terminated {
                    account: s.account.id.clone(),
                });
            }
            conn.close(CloseReason::Kicked);
        }
        // responses to the ISMG's own requests are matched by the runtime; a late one
        // and anything else is left alone
        _ => {}
    }
}

async fn login(st: &Arc<State>, conn: &Conn<Pdu>, seq: u32, c: &Connect) {
    let source = text_of(&c.source_addr);
    let account = st.accounts.get(&source).cloned();
    let refuse = async |status: ConnectStatus, version: Version| {
        reply(
            conn,
            seq,
            Body::ConnectResp(ConnectResp {
                status,
                authenticator_ismg: [0; 16],
                version,
            }),
        )
        .await;
        st.event(IsmgEvent::LoginRefused {
            source_addr: source.clone(),
            status,
            peer: conn.peer_addr(),
        });
        conn.close(CloseReason::Kicked);
    };
    let Some(account) = account else {
        return refuse(ConnectStatus::BAD_SOURCE, Version::V30).await;
    };
    let highest = account
        .versions
        .iter()
        .copied()
        .max_by_key(|v| v.0)
        .unwrap_or(Version::V30);
    if !account.ips.is_empty() && !account.ips.contains(&conn.peer_addr().ip()) {
        return refuse(ConnectStatus::BAD_SOURCE, highest).await;
    }
    let expected = authenticator_source(&c.source_addr, account.secret.as_bytes(), c.timestamp);
    if expected != c.authenticator_source {
        return refuse(ConnectStatus::AUTH_FAILED, highest).await;
    }
    // only 2.x and 3.x are spoken, and only the layouts this account allows; any other
    // Version byte (0x00, 0x10, 0x40, 0xFF) is status 4, the version error, answered with
    // the version the ISMG does speak
    let spoken = matches!(c.version.0 >> 4, 2 | 3);
    if !spoken || !account.versions.contains(&c.version.layout()) {
        return refuse(ConnectStatus::VERSION_TOO_HIGH, highest).await;
    }
    let registry = st.registry.get();
    if registry.is_some_and(|r| r.user(&account.id).len() >= account.max_connections) {
        return refuse(ConnectStatus::OTHER, c.version).await;
    }
    reply(
        conn,
        seq,
        Body::ConnectResp(ConnectResp {
            status: ConnectStatus::OK,
            authenticator_ismg: authenticator_ismg(
                0,
                &c.authenticator_source,
                account.secret.as_bytes(),
                c.version,
            ),
            // the negotiated version: the SP's, which this account allows
            version: c.version,
        }),
    )
    .await;
    conn.set_attr(Session {
        account: account.clone(),
        version: c.version,
        pending_reports: Arc::new(AtomicUsize::new(0)),
    });
    conn.authenticate();
    if let Some(r) = registry {
        r.bind_user(conn, &account.id);
    }
    st.event(IsmgEvent::LoggedIn {
        account: account.id.clone(),
        version: c.version,
        peer: conn.peer_addr(),
    });
}

async fn submit(st: &Arc<State>, conn: &Conn<Pdu>, seq: u32, s: Submit, sess: &Session) {
    let dest: Vec<String> = s.dest_terminal_ids.iter().map(text_of).collect();
    let part = (s.pk_total, s.pk_number);
    if let Some(limit) = sess.account.rate.or(st.cfg.flow_limit) {
        let throttled = {
            let sec = st.start.elapsed().as_secs();
            let mut flows = lock(&st.flow);
            let f = flows.entry(sess.account.id.clone()).or_insert((sec, 0));
            if f.0 != sec {
                *f = (sec, 0);
            }
            if f.1 >= limit {
                true
            } else {
                f.1 += 1;
                false
            }
        };
        if throttled {
            reply(
                conn,
                seq,
                Body::SubmitResp(SubmitResp {
                    msg_id: MsgId(0),
                    result: SubmitResult::FLOW_CONTROL,
                }),
            )
            .await;
            st.event(IsmgEvent::Submitted {
                account: sess.account.id.clone(),
                msg_ids: Vec::new(),
                dest,
                part,
                result: SubmitResult::FLOW_CONTROL,
            });
            return;
        }
    }
    let first = next_msg_id(st, dest.len());
    let ids: Vec<MsgId> = first.group(dest.len().max(1)).collect();
    reply(
        conn,
        seq,
        Body::SubmitResp(SubmitResp {
            msg_id: first,
            result: SubmitResult::OK,
        }),
    )
    .await;
    st.event(IsmgEvent::Submitted {
        account: sess.account.id.clone(),
        msg_ids: ids.clone(),
        dest: dest.clone(),
        part,
        result: SubmitResult::OK,
    });
    let whole = lock(&st.reassembler).push(
        Instant::now(),
        sess.account.id.as_bytes(),
        dest.first().map_or(&b""[..], |d| d.as_bytes()),
        s.msg_fmt,
        s.tp_udhi,
        &s.msg_content,
    );
    if let Some(w) = whole {
        st.event(IsmgEvent::Message {
            account: sess.account.id.clone(),
            dest: dest.first().cloned().unwrap_or_default(),
            text: w
                .text
                .or_else(|| decode_text(MsgFmt(s.msg_fmt), &s.msg_content)),
            parts: w.parts.len(),
        });
    }
    if let (Some(delay), 1) = (st.cfg.report_delay, s.registered_delivery) {
        let n = ids.len();
        let pending = &sess.pending_reports;
        if pending.fetch_add(n, Ordering::AcqRel) + n > st.cfg.max_pending_reports {
            // the SP does not acknowledge what it has: this report is not held for it
            pending.fetch_sub(n, Ordering::AcqRel);
            st.reports_dropped.fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        let (st, conn, sess) = (st.clone(), conn.clone(), sess.clone());
        let src_id = s.src_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for (id, d) in ids.iter().zip(&dest) {
                // a closed session's reports go with it
                let acked =
                    !conn.is_closed() && send_report(&st, &conn, &sess, *id, d, &src_id).await;
                st.event(IsmgEvent::ReportSent {
                    account: sess.account.id.clone(),
                    msg_id: *id,
                    acked,
                });
            }
            sess.pending_reports.fetch_sub(n, Ordering::AcqRel);
        });
    }
}

async fn send_report(
    st: &State,
    conn: &Conn<Pdu>,
    sess: &Session,
    id: MsgId,
    dest: &str,
    src_id: &Bytes,
) -> bool {
    let (year, month, day, hour, minute, _) = beijing_now();
    let stamp = Bytes::from(format!(
        "{:02}{month:02}{day:02}{hour:02}{minute:02}",
        year % 100
    ));
    let report = Report {
        msg_id: id,
        stat: Bytes::copy_from_slice(st.cfg.report_stat.as_bytes()),
        submit_time: stamp.clone(),
        done_time: stamp,
        dest_terminal_id: Bytes::copy_from_slice(dest.as_bytes()),
        smsc_sequence: 0,
    };
    let Ok(content) = report.encode(sess.version) else {
        return false;
    };
    let d = Deliver {
        msg_id: next_msg_id(st, 1),
        dest_id: src_id.clone(),
        src_terminal_id: Bytes::copy_from_slice(dest.as_bytes()),
        registered_delivery: 1,
        msg_content: content,
        ..Deliver::default()
    };
    conn.call(Pdu::new(0, Body::Deliver(Box::new(d))))
        .await
        .is_ok()
}

async fn query(conn: &Conn<Pdu>, seq: u32, q: Query) {
    reply(
        conn,
        seq,
        Body::QueryResp(Box::new(QueryResp {
            time: q.time,
            query_type: q.query_type,
            query_code: q.query_code,
            ..Default::default()
        })),
    )
    .await;
}
