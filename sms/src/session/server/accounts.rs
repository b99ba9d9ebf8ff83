//! The accounts of a gateway and what its sessions share: configuration, sessions per
//! account, each account's rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// An account at the gateway (an SP's, an ESME's).
#[derive(Debug, Clone)]
pub struct Account<A> {
    /// What it logs in as (SMPP's system_id, CMPP's Source_Addr).
    pub name: Bytes,
    /// Its password or shared secret.
    pub secret: Bytes,
    /// What the protocol restricts further (SMPP: the bind kinds; CMPP: the versions);
    /// empty: anything the protocol speaks.
    pub allowed: A,
    /// The addresses it may log in from (empty: any).
    pub ips: Vec<IpAddr>,
    /// How many sessions it may have logged in at once (`None`: no limit).
    pub max_sessions: Option<usize>,
    /// Submits per second over all its sessions (overrides [`ServerConfig::rate`]).
    pub rate: Option<u32>,
}

impl<A: Default> Account<A> {
    /// An account that may log in any way, from anywhere, any number of times.
    pub fn new(name: impl Into<Bytes>, secret: impl Into<Bytes>) -> Self {
        Account {
            name: name.into(),
            secret: secret.into(),
            allowed: A::default(),
            ips: Vec::new(),
            max_sessions: None,
            rate: None,
        }
    }
}

/// How the gateway side behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig<A> {
    /// The accounts that may log in.
    pub accounts: Vec<Account<A>>,
    /// Submits per second one account may make over all its sessions; past it, the
    /// protocol's "throttled" answer. `None`: no limit.
    pub rate: Option<u32>,
    /// Whether a submit that asks for a delivery report gets one.
    pub reports: bool,
    /// A report this long after the submit.
    pub report_after: Duration,
    /// The reports' final state word.
    pub report_stat: Bytes,
    /// Reports per session scheduled or sent but not yet acknowledged; beyond it a report
    /// is dropped and counted ([`ServerSession::take_reports_dropped`](super::ServerSession::take_reports_dropped)) rather than held for a
    /// client that does not acknowledge.
    pub max_pending_reports: usize,
    /// The gateway's own requests (reports, MO messages) unanswered at once.
    pub window: usize,
    /// How long one of them waits for its answer before it goes again.
    pub request_timeout: Duration,
    /// How often each is sent in all, the first included.
    pub request_sends: u32,
    /// A link check goes to a logged-in client silent for this long (`None`: never).
    pub link_check_after: Option<Duration>,
    /// How long a link check waits for its answer.
    pub link_check_timeout: Duration,
    /// Link checks unanswered one after the other before the link is given up
    /// ([`ServerEvent::LinkLost`](super::ServerEvent::LinkLost)).
    pub link_check_tries: u32,
}

impl<A> ServerConfig<A> {
    /// A gateway for `accounts`: no rate limit, reports (when asked for) after 100 ms, a
    /// window of 16 requests resent after 60 s up to 3 sends, a link check after 30 s of
    /// silence given up after 10 s.
    pub fn new(accounts: Vec<Account<A>>) -> Self {
        ServerConfig {
            accounts,
            rate: None,
            reports: true,
            report_after: Duration::from_millis(100),
            report_stat: Bytes::from_static(b"DELIVRD"),
            max_pending_reports: 1024,
            window: 16,
            request_timeout: Duration::from_secs(60),
            request_sends: 3,
            link_check_after: Some(Duration::from_secs(30)),
            link_check_timeout: Duration::from_secs(10),
            link_check_tries: 1,
        }
    }
}

#[derive(Debug, Default)]
struct Use {
    sessions: usize,
    /// the second of the rate window, and the submits in it
    second: u64,
    submits: u32,
}

#[derive(Debug, Default)]
struct Uses {
    by_account: HashMap<Bytes, Use>,
    /// what the rate's seconds count from
    epoch: Option<Instant>,
}

/// What the sessions of one gateway share: its configuration, its accounts by name, and
/// each account's sessions and rate.
#[derive(Debug)]
pub struct ServerShared<A> {
    pub(super) cfg: ServerConfig<A>,
    index: HashMap<Bytes, usize>,
    uses: Mutex<Uses>,
}

impl<A> ServerShared<A> {
    /// Shares `cfg` between sessions.
    pub fn new(cfg: ServerConfig<A>) -> Arc<Self> {
        let index = cfg
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i))
            .collect();
        Arc::new(ServerShared {
            cfg,
            index,
            uses: Mutex::new(Uses::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig<A> {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Uses> {
        self.uses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions logged in as `name` now.
    pub fn sessions(&self, name: &[u8]) -> usize {
        self.lock().by_account.get(name).map_or(0, |u| u.sessions)
    }

    pub(super) fn account(&self, name: &[u8]) -> Option<&Account<A>> {
        self.index.get(name).map(|&i| &self.cfg.accounts[i])
    }

    /// Takes a session for `name` unless `max` are logged in.
    pub(super) fn take(&self, name: &Bytes, max: Option<usize>) -> bool {
        let mut u = self.lock();
        let n = &mut u.by_account.entry(name.clone()).or_default().sessions;
        if max.is_some_and(|max| *n >= max) {
            return false;
        }
        *n += 1;
        true
    }

    pub(super) fn release(&self, name: &Bytes) {
        let mut u = self.lock();
        if let Some(a) = u.by_account.get_mut(name) {
            a.sessions = a.sessions.saturating_sub(1);
            if a.sessions == 0 {
                u.by_account.remove(name);
            }
        }
    }

    /// Whether `name`'s rate lets one more submit in at `now` (a window per second).
    pub(super) fn admit(&self, name: &Bytes, limit: u32, now: Instant) -> bool {
        let mut u = self.lock();
        let epoch = *u.epoch.get_or_insert(now);
        let second = now.saturating_duration_since(epoch).as_secs();
        let a = u.by_account.entry(name.clone()).or_default();
        if a.second != second {
            a.second = second;
            a.submits = 0;
        }
        if a.submits >= limit {
            return false;
        }
        a.submits += 1;
        true
    }
}
