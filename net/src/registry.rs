//! The registry (t-io's "group context"): every open connection, and the users, groups,
//! tokens and business ids they are bound to.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::conn::{Conn, EncodeFn, Outbound};
use crate::stats::{GroupCounters, GroupStats};
use crate::{CloseReason, ConnId};

#[derive(Default)]
struct Bindings {
    user: Option<String>,
    token: Option<String>,
    bsid: Option<String>,
    groups: HashSet<String>,
}

struct Maps<M> {
    /// bumped on every change of a user binding or a group membership (see
    /// [`Registry::changed`])
    version: u64,
    /// bindings are boxed and made on first use: most connections never bind anything
    conns: HashMap<ConnId, (Conn<M>, Option<Box<Bindings>>)>,
    users: HashMap<String, HashSet<ConnId>>,
    groups: HashMap<String, HashSet<ConnId>>,
    /// each group's counters, while it has members
    group_counters: HashMap<String, Arc<GroupCounters>>,
    tokens: HashMap<String, ConnId>,
    bsids: HashMap<String, ConnId>,
}

/// Every open connection of a server and what it is bound to: a user id (several
/// connections per user: multi-device), a token, a business id, any number of groups.
///
/// Bindings go away by themselves when a connection closes. Binding and closing take the
/// same lock, and binding a connection that has already left the registry does nothing,
/// so a connection that closes while being bound leaves no stale entry.
///
/// The `send_to_*` methods queue without waiting: a connection whose queue is full is
/// skipped (and counted in the statistics); each returns how many connections the
/// message was queued for. A message sent to several connections is encoded once.
///
/// ```no_run
/// # use bytes::Bytes;
/// # use packwire_net::Conn;
/// // in a handler: t-io's bindUser / bindGroup / sendToGroup
/// # async fn handle(conn: Conn<Bytes>, line: Bytes) {
/// let registry = conn.registry().expect("a server's or client's connection");
/// registry.bind_user(&conn, "alice");
/// registry.join_group(&conn, "room-1");
/// let reached = registry.send_to_group("room-1", Bytes::from_static(b"alice joined"));
/// println!("{reached} connections in room-1");
/// # }
/// ```
pub struct Registry<M> {
    maps: Arc<Mutex<Maps<M>>>,
    encode: EncodeFn<M>,
    /// woken when `version` moves
    changes: Arc<tokio::sync::Notify>,
}

/// Whom a send is for: one of the registry's `send_to_*` targets as a value, so a
/// message can name its target on the wire (a cluster's broker, a log) and be delivered
/// with [`Registry::send_encoded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// One connection, by id.
    Conn(ConnId),
    /// Every connection of a user.
    User(&'a str),
    /// Every connection in a group.
    Group(&'a str),
    /// The connection bound to a token.
    Token(&'a str),
    /// The connection bound to a business id.
    Bsid(&'a str),
    /// Every connection from an IP address.
    Ip(IpAddr),
    /// Every open connection.
    All,
}

/// A message the registry's codec could not encode (see [`Registry::encode`]).
#[derive(Debug)]
pub struct EncodeError(Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the message could not be encoded: {}", self.0)
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl<M> Clone for Registry<M> {
    fn clone(&self) -> Self {
        Registry {
            maps: self.maps.clone(),
            encode: self.encode.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<M> fmt::Debug for Registry<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = lock(&self.maps);
        f.debug_struct("Registry")
            .field("connections", &m.conns.len())
            .field("users", &m.users.len())
            .field("groups", &m.groups.len())
            .finish()
    }
}

impl<M: Send + 'static> Conn<M> {
    /// The registry this connection is in: the server's (every connection of it), or the
    /// client's (its current connection). Bind the user when the login message arrives,
    /// right in the handler:
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use packwire_codecs::LineCodec;
    /// use packwire_net::{Conn, Server};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let server = Server::builder(LineCodec::new, |conn: Conn<Bytes>, line: Bytes| async move {
    ///     if let Some(user) = line.strip_prefix(b"LOGIN ") {
    ///         let registry = conn.registry().expect("a server connection is registered");
    ///         registry.bind_user(&conn, &String::from_utf8_lossy(user));
    ///         registry.send_to_user("admin", Bytes::from_static(b"someone logged in"));
    ///     }
    /// })
    /// .bind("127.0.0.1:0")
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn registry(&self) -> Option<Registry<M>> {
        let any = self.inner.set.registry.as_ref()?;
        any.downcast_ref::<Registry<M>>().cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unlink(map: &mut HashMap<String, HashSet<ConnId>>, key: &str, id: ConnId) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl<M> Maps<M> {
    /// Takes `id` out of `group`; a group left empty goes, its counters with it.
    fn unlink_group(&mut self, group: &str, id: ConnId) {
        unlink(&mut self.groups, group, id);
        if !self.groups.contains_key(group) {
            self.group_counters.remove(group);
        }
    }
}

impl<M: Send + 'static> Registry<M> {
    pub(crate) fn new(encode: EncodeFn<M>) -> Self {
        Registry {
            maps: Arc::new(Mutex::new(Maps {
                version: 0,
                conns: HashMap::new(),
                users: HashMap::new(),
                groups: HashMap::new(),
                group_counters: HashMap::new(),
                tokens: HashMap::new(),
                bsids: HashMap::new(),
            })),
            encode,
            changes: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Marks a change of who is bound where, for [`changed`](Self::changed).
    fn touch(&self, m: &mut Maps<M>) {
        m.version = m.version.wrapping_add(1);
        self.changes.notify_waiters();
        self.changes.notify_one();
    }

    /// A number that moves whenever a user binding or a group membership changes
    /// (including a bound connection closing): compare two readings to know whether
    /// [`users`](Self::users) or [`groups_stats`](Self::groups_stats) may differ.
    pub fn version(&self) -> u64 {
        lock(&self.maps).version
    }

    /// Waits until a user binding or a group membership changes after this call (or
    /// had changed since the last wait that returned). Changes coalesce: one wake-up may
    /// stand for many; read [`version`](Self::version) and the snapshot after it. This
    /// is what a cluster's presence follows.
    pub async fn changed(&self) {
        self.changes.notified().await;
    }

    /// The users with at least one connection, each with how many.
    pub fn users(&self) -> Vec<(String, usize)> {
        let m = lock(&self.maps);
        let mut all: Vec<(String, usize)> = m
            .users
            .iter()
            .map(|(u, ids)| (u.clone(), ids.len()))
            .collect();
        all.sort_unstable();
        all
    }

    /// Encodes `msg` with the connections' codec, once, for
    /// [`send_encoded`](Self::send_encoded) (to this registry or, as bytes, elsewhere).
    pub fn encode(&self, msg: M) -> Result<Bytes, EncodeError> {
        (self.encode)(msg).map_err(EncodeError)
    }

    /// Queues bytes already encoded (by [`encode`](Self::encode), here or on another
    /// node) for every connection `target` names, without waiting; returns how many.
    /// The bytes are written as they are: nothing re-encodes them.
    pub fn send_encoded(&self, target: Target<'_>, bytes: Bytes) -> usize {
        Self::queue_raw(&self.conns(target), &bytes)
    }

    /// The connections `target` names.
    pub fn conns(&self, target: Target<'_>) -> Vec<Conn<M>> {
        match target {
            Target::Conn(id) => self.get(id).into_iter().collect(),
            Target::User(u) => self.user(u),
            Target::Group(g) => self.group(g),
            Target::Token(t) => self.by_token(t).into_iter().collect(),
            Target::Bsid(b) => self.by_bsid(b).into_iter().collect(),
            Target::Ip(ip) => self.ip(ip),
            Target::All => self.all(),
        }
    }

    /// Encodes `msg` once and queues it for every connection `target` names; returns how
    /// many.
    pub fn send_to_target(&self, target: Target<'_>, msg: M) -> usize {
        match target {
            Target::Conn(id) => self.send_to(id, msg),
            Target::Token(t) => self
                .by_token(t)
                .map_or(0, |c| usize::from(c.try_send(msg).is_ok())),
            Target::Bsid(b) => self
                .by_bsid(b)
                .map_or(0, |c| usize::from(c.try_send(msg).is_ok())),
            Target::User(u) => self.send_to_user(u, msg),
            Target::Group(g) => self.send_to_group(g, msg),
            Target::Ip(ip) => self.send_to_ip(ip, msg),
            Target::All => self.send_to_all(msg),
        }
    }

    fn queue_raw(conns: &[Conn<M>], bytes: &Bytes) -> usize {
        conns
            .iter()
            .filter(|c| c.try_queue(Outbound::Raw(bytes.clone())).is_ok())
            .count()
    }

    pub(crate) fn add(&self, conn: Conn<M>) {
        lock(&self.maps).conns.insert(conn.id(), (conn, None));
    }

    pub(crate) fn remove(&self, id: ConnId) {
        let mut m = lock(&self.maps);
        let Some((_, Some(b))) = m.conns.remove(&id) else {
            return;
        };
        if b.user.is_some() || !b.groups.is_empty() {
            self.touch(&mut m);
        }
        if let Some(u) = &b.user {
            unlink(&mut m.users, u, id);
        }
        for g in &b.groups {
            m.unlink_group(g, id);
        }
        if let Some(t) = &b.token {
            m.tokens.remove(t);
        }
        if let Some(s) = &b.bsid {
            m.bsids.remove(s);
        }
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        lock(&self.maps).conns.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The connection with this id.
    pub fn get(&self, id: ConnId) -> Option<Conn<M>> {
        lock(&self.maps).conns.get(&id).map(|(c, _)| c.clone())
    }

    /// Binds `conn` to a user id, replacing an earlier user of this connection; returns
    /// false if the connection has closed.
    pub fn bind_user(&self, conn: &Conn<M>, user: &str) -> bool {
        let mut m = lock(&self.maps);
        let id = conn.id();
        let Some((_, b)) = m.conns.get_mut(&id) else {
            return false;
        };
        let old = b
            .get_or_insert_with(Box::default)
            .user
            .replace(user.to_string());
        if let Some(old) = old {
            unlink(&mut m.users, &old, id);
        }
        m.users.entry(user.to_string()).or_default().insert(id);
        self.touch(&mut m);
        true
    }

    /// Removes `conn`'s user binding.
    pub fn unbind_user(&self, conn: &Conn<M>) {
        let mut m = lock(&self.maps);
        let id = conn.id();
        if let Some(old) = m
            .conns
            .get_mut(&id)
            .and_then(|(_, b)| b.as_mut()?.user.take())
        {
            unlink(&mut m.users, &old, id);
            self.touch(&mut m);
        }
    }

    /// Adds `conn` to a group; returns false if the connection has closed.
    pub fn join_group(&self, conn: &Conn<M>, group: &str) -> bool {
        let mut m = lock(&self.maps);
        let id = conn.id();
        let Some((_, b)) = m.conns.get_mut(&id) else {
            return false;
        };
        if !b
            .get_or_insert_with(Box::default)
            .groups
            .insert(group.to_string())
        {
            return true; // a member already
        }
        m.groups.entry(group.to_string()).or_default().insert(id);
        self.touch(&mut m);
        let counters = m
            .group_counters
            .entry(group.to_string())
            .or_default()
            .clone();
        conn.with_groups(|gs| gs.push((group.to_string(), counters)));
        true
    }

    /// Removes `conn` from a group.
    pub fn leave_group(&self, conn: &Conn<M>, group: &str) {
        let mut m = lock(&self.maps);
        let id = conn.id();
        if let Some((_, Some(b))) = m.conns.get_mut(&id) {
            if !b.groups.remove(group) {
                return; // not a member
            }
        } else {
            return;
        }
        m.unlink_group(group, id);
        self.touch(&mut m);
        conn.with_groups(|gs| gs.retain(|(g, _)| g != group));
    }

    /// What the members of `group` did while they were members; `None` for a group with
    /// no members.
    pub fn group_stats(&self, group: &str) -> Option<GroupStats> {
        let m = lock(&self.maps);
        let members = m.groups.get(group)?.len();
        Some(m.group_counters.get(group)?.snapshot(members))
    }

    /// [`group_stats`](Self::group_stats) of every group with members, by name.
    pub fn groups_stats(&self) -> Vec<(String, GroupStats)> {
        let m = lock(&self.maps);
        let mut all: Vec<(String, GroupStats)> = m
            .groups
            .iter()
            .filter_map(|(g, ids)| {
                let c = m.group_counters.get(g)?;
                Some((g.clone(), c.snapshot(ids.len())))
            })
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Binds a token (one connection per token: a later binding moves it); returns false
    /// if the connection has closed.
    pub fn bind_token(&self, conn: &Conn<M>, token: &str) -> bool {
        self.bind_unique(conn, token, |m| &mut m.tokens, |b| &mut b.token)
    }

    /// Binds a business id (one connection per id); returns false if the connection has
    /// closed.
    pub fn bind_bsid(&self, conn: &Conn<M>, bsid: &str) -> bool {
        self.bind_unique(conn, bsid, |m| &mut m.bsids, |b| &mut b.bsid)
    }

    fn bind_unique(
        &self,
        conn: &Conn<M>,
        key: &str,
        map: fn(&mut Maps<M>) -> &mut HashMap<String, ConnId>,
        slot: fn(&mut Bindings) -> &mut Option<String>,
    ) -> bool {
        let mut m = lock(&self.maps);
        let id = conn.id();
        if !m.conns.contains_key(&id) {
            return false;
        }
        if let Some(prev) = map(&mut m).insert(key.to_string(), id) {
            if prev != id {
                if let Some((_, Some(b))) = m.conns.get_mut(&prev) {
                    *slot(b) = None;
                }
            }
        }
        if let Some((_, b)) = m.conns.get_mut(&id) {
            if let Some(old) = slot(b.get_or_insert_with(Box::default)).replace(key.to_string()) {
                if old != key {
                    map(&mut m).remove(&old);
                }
            }
        }
        true
    }

    /// The connections of a user.
    pub fn user(&self, user: &str) -> Vec<Conn<M>> {
        let m = lock(&self.maps);
        m.users.get(user).map_or_else(Vec::new, |ids| {
            ids.iter()
                .filter_map(|id| m.conns.get(id).map(|(c, _)| c.clone()))
                .collect()
        })
    }

    /// The connections in a group.
    pub fn group(&self, group: &str) -> Vec<Conn<M>> {
        let m = lock(&self.maps);
        m.groups.get(group).map_or_else(Vec::new, |ids| {
            ids.iter()
                .filter_map(|id| m.conns.get(id).map(|(c, _)| c.clone()))
                .collect()
        })
    }

    /// The connection bound to a token.
    pub fn by_token(&self, token: &str) -> Option<Conn<M>> {
        let m = lock(&self.maps);
        m.tokens
            .get(token)
            .and_then(|id| m.conns.get(id))
            .map(|(c, _)| c.clone())
    }

    /// The connection bound to a business id.
    pub fn by_bsid(&self, bsid: &str) -> Option<Conn<M>> {
        let m = lock(&self.maps);
        m.bsids
            .get(bsid)
            .and_then(|id| m.conns.get(id))
            .map(|(c, _)| c.clone())
    }

    /// Every open connection; behind an auth gate, every authenticated one (a peer
    /// still logging in, or mid-handshake, is not in a broadcast: a WebSocket frame
    /// written before the handshake's answer would break it).
    pub fn all(&self) -> Vec<Conn<M>> {
        lock(&self.maps)
            .conns
            .values()
            .filter(|(c, _)| c.is_admitted())
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Every open connection, authenticated or not (for shutdown and reports).
    pub(crate) fn every(&self) -> Vec<Conn<M>> {
        lock(&self.maps)
            .conns
            .values()
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// The connections from an IP address (behind an auth gate, the authenticated ones).
    pub fn ip(&self, ip: IpAddr) -> Vec<Conn<M>> {
        lock(&self.maps)
            .conns
            .values()
            .filter(|(c, _)| c.is_admitted() && c.peer_addr().ip() == ip)
            .map(|(c, _)| c.clone())
            .collect()
    }

    fn fan_out(&self, conns: Vec<Conn<M>>, msg: M) -> usize {
        if conns.is_empty() {
            return 0;
        }
        let bytes = match (self.encode)(msg) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "a message for several connections could not be encoded");
                return 0;
            }
        };
        Self::queue_raw(&conns, &bytes)
    }

    /// Queues `msg` for one connection by id; 1 if queued, 0 if not.
    pub fn send_to(&self, id: ConnId, msg: M) -> usize {
        self.get(id)
            .map_or(0, |c| usize::from(c.try_send(msg).is_ok()))
    }

    /// Queues `msg` for every connection of a user.
    pub fn send_to_user(&self, user: &str, msg: M) -> usize {
        self.fan_out(self.user(user), msg)
    }

    /// Queues `msg` for every connection in a group.
    pub fn send_to_group(&self, group: &str, msg: M) -> usize {
        self.fan_out(self.group(group), msg)
    }

    /// Queues `msg` for every open connection.
    pub fn send_to_all(&self, msg: M) -> usize {
        self.fan_out(self.all(), msg)
    }

    /// Queues `msg` for every connection from an IP address.
    pub fn send_to_ip(&self, ip: IpAddr, msg: M) -> usize {
        self.fan_out(self.ip(ip), msg)
    }

    /// Closes every connection of a user; returns how many.
    pub fn close_user(&self, user: &str, reason: CloseReason) -> usize {
        Self::close_all(self.user(user), reason)
    }

    /// Closes every connection in a group; returns how many.
    pub fn close_group(&self, group: &str, reason: CloseReason) -> usize {
        Self::close_all(self.group(group), reason)
    }

    /// Closes every connection from an IP address; returns how many.
    pub fn close_ip(&self, ip: IpAddr, reason: CloseReason) -> usize {
        Self::close_all(self.ip(ip), reason)
    }

    fn close_all(conns: Vec<Conn<M>>, reason: CloseReason) -> usize {
        conns.iter().for_each(|c| c.close(reason.clone()));
        conns.len()
    }
}
