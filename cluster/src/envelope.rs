//! What crosses the broker: one envelope per send or presence change, binary, versioned.
//!
//! ```text
//! version u8 (1) | kind u8 | origin: u16 length + UTF-8
//! kind 1 (send):    target | payload (the rest: bytes already encoded by the origin)
//! kind 2 (joined), 3 (left): user: u16 length + UTF-8
//! target: tag u8, then
//!   0 conn:  node (u16 length + UTF-8) | id u64
//!   1 user, 2 group, 3 token, 4 business id: u16 length + UTF-8
//!   5 ip:    family u8 (4 or 6) | 4 or 16 address bytes
//!   6 all
//! ```
//!
//! Integers are big-endian. A node decodes what any publisher on the bus sent, so every
//! length is checked against what is there; a bad envelope is a typed error, never a
//! panic, and nothing is allocated from a claimed length (strings and the payload borrow
//! the received frame).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use packwire_net::{ConnId, Target};

const VERSION: u8 = 1;

/// Where a message goes, on any node: the registry's targets, and a connection named
/// with its node (a connection id means something only on the node that gave it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum To<'a> {
    /// One connection of one node.
    Conn {
        /// The node the connection is on.
        node: &'a str,
        /// Its id there.
        id: ConnId,
    },
    /// Every connection of a user, on every node.
    User(&'a str),
    /// Every connection in a group, on every node.
    Group(&'a str),
    /// The connection bound to a token, on whichever node it is.
    Token(&'a str),
    /// The connection bound to a business id, on whichever node it is.
    Bsid(&'a str),
    /// Every connection from an IP address, on every node.
    Ip(IpAddr),
    /// Every connection of every node.
    All,
}

/// The kinds of target, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// [`To::Conn`]
    Conn = 0,
    /// [`To::User`]
    User = 1,
    /// [`To::Group`]
    Group = 2,
    /// [`To::Token`]
    Token = 3,
    /// [`To::Bsid`]
    Bsid = 4,
    /// [`To::Ip`]
    Ip = 5,
    /// [`To::All`]
    All = 6,
}

impl TargetKind {
    /// Every kind, in tag order.
    pub const ALL: [TargetKind; 7] = [
        TargetKind::Conn,
        TargetKind::User,
        TargetKind::Group,
        TargetKind::Token,
        TargetKind::Bsid,
        TargetKind::Ip,
        TargetKind::All,
    ];

    /// Its name, as the statistics print it.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Conn => "conn",
            TargetKind::User => "user",
            TargetKind::Group => "group",
            TargetKind::Token => "token",
            TargetKind::Bsid => "bsid",
            TargetKind::Ip => "ip",
            TargetKind::All => "all",
        }
    }
}

impl<'a> To<'a> {
    /// Which kind of target this is.
    pub fn kind(&self) -> TargetKind {
        match self {
            To::Conn { .. } => TargetKind::Conn,
            To::User(_) => TargetKind::User,
            To::Group(_) => TargetKind::Group,
            To::Token(_) => TargetKind::Token,
            To::Bsid(_) => TargetKind::Bsid,
            To::Ip(_) => TargetKind::Ip,
            To::All => TargetKind::All,
        }
    }

    /// The same target in the registry of node `here`: `None` for a connection of
    /// another node.
    pub fn local(&self, here: &str) -> Option<Target<'a>> {
        Some(match *self {
            To::Conn { node, id } if node == here => Target::Conn(id),
            To::Conn { .. } => return None,
            To::User(u) => Target::User(u),
            To::Group(g) => Target::Group(g),
            To::Token(t) => Target::Token(t),
            To::Bsid(b) => Target::Bsid(b),
            To::Ip(ip) => Target::Ip(ip),
            To::All => Target::All,
        })
    }

    /// Whether this target can match connections on nodes other than `here`.
    pub fn reaches_others(&self, here: &str) -> bool {
        !matches!(self, To::Conn { node, .. } if *node == here)
    }
}

/// One envelope, decoded: borrowed from the frame it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope<'a> {
    /// Bytes for the connections `to` names.
    Send {
        /// The node that published it.
        origin: &'a str,
        /// Whom it is for.
        to: To<'a>,
        /// The message, encoded once by the origin.
        payload: Bytes,
    },
    /// A user's first connection on `origin` bound.
    Joined {
        /// The node.
        origin: &'a str,
        /// The user.
        user: &'a str,
    },
    /// A user's last connection on `origin` went.
    Left {
        /// The node.
        origin: &'a str,
        /// The user.
        user: &'a str,
    },
}

/// Why a frame from the broker is not an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// It ended inside a field.
    #[error("cluster envelope: truncated in {0}")]
    Truncated(&'static str),
    /// A version this node does not speak.
    #[error("cluster envelope: version {0}, this node speaks 1")]
    Version(u8),
    /// An unknown kind of envelope.
    #[error("cluster envelope: unknown kind {0}")]
    Kind(u8),
    /// An unknown target tag.
    #[error("cluster envelope: unknown target tag {0}")]
    Target(u8),
    /// An IP family other than 4 or 6.
    #[error("cluster envelope: IP family {0}, not 4 or 6")]
    Family(u8),
    /// A name that is not UTF-8.
    #[error("cluster envelope: {0} is not UTF-8")]
    Utf8(&'static str),
    /// Bytes after a presence envelope.
    #[error("cluster envelope: {0} bytes after the end")]
    Trailing(usize),
}

fn put_str(buf: &mut BytesMut, s: &str) {
    // names are bounded by the sender: a longer one is cut at a char boundary
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    buf.put_u16(end as u16);
    buf.put_slice(&s.as_bytes()[..end]);
}

fn head(kind: u8, origin: &str, extra: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(4 + origin.len() + extra);
    buf.put_u8(VERSION);
    buf.put_u8(kind);
    put_str(&mut buf, origin);
    buf
}

/// Encodes a send: the payload is copied once, behind a short header.
pub fn encode_send(origin: &str, to: &To<'_>, payload: &[u8]) -> Bytes {
    let mut buf = head(1, origin, 24 + payload.len());
    buf.put_u8(to.kind() as u8);
    match *to {
        To::Conn { node, id } => {
            put_str(&mut buf, node);
            buf.put_u64(id.0);
        }
        To::User(s) | To::Group(s) | To::Token(s) | To::Bsid(s) => put_str(&mut buf, s),
        To::Ip(IpAddr::V4(a)) => {
            buf.put_u8(4);
            buf.put_slice(&a.octets());
        }
        To::Ip(IpAddr::V6(a)) => {
            buf.put_u8(6);
            buf.put_slice(&a.octets());
        }
        To::All => {}
    }
    buf.put_slice(payload);
    buf.freeze()
}

/// Encodes a presence change of `user` on `origin`.
pub fn encode_presence(origin: &str, user: &str, joined: bool) -> Bytes {
    let mut buf = head(if joined { 2 } else { 3 }, origin, 2 + user.len());
    put_str(&mut buf, user);
    buf.freeze()
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(EnvelopeError::Truncated(field))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EnvelopeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, EnvelopeError> {
        Ok(self.take(1, field)?[0])
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, EnvelopeError> {
        let len = self.take(2, field)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        std::str::from_utf8(self.take(len, field)?).map_err(|_| EnvelopeError::Utf8(field))
    }
}

/// Decodes one frame from the broker.
pub fn decode(frame: &Bytes) -> Result<Envelope<'_>, EnvelopeError> {
    let mut r = Reader { buf: frame, at: 0 };
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(EnvelopeError::Version(version));
    }
    let kind = r.u8("kind")?;
    let origin = r.str("origin")?;
    match kind {
        1 => {
            let to = match r.u8("target")? {
                0 => {
                    let node = r.str("target node")?;
                    let id = u64::from_be_bytes(r.array("connection id")?);
                    To::Conn {
                        node,
                        id: ConnId(id),
                    }
                }
                1 => To::User(r.str("user")?),
                2 => To::Group(r.str("group")?),
                3 => To::Token(r.str("token")?),
                4 => To::Bsid(r.str("business id")?),
                5 => match r.u8("IP family")? {
                    4 => {
                        let a: [u8; 4] = r.array("IPv4 address")?;
                        To::Ip(IpAddr::V4(Ipv4Addr::from(a)))
                    }
                    6 => {
                        let a: [u8; 16] = r.array("IPv6 address")?;
                        To::Ip(IpAddr::V6(Ipv6Addr::from(a)))
                    }
                    f => return Err(EnvelopeError::Family(f)),
                },
                6 => To::All,
                t => return Err(EnvelopeError::Target(t)),
            };
            let payload = frame.slice(r.at..);
            Ok(Envelope::Send {
                origin,
                to,
                payload,
            })
        }
        2 | 3 => {
            let user = r.str("user")?;
            if r.at != frame.len() {
                return Err(EnvelopeError::Trailing(frame.len() - r.at));
            }
            Ok(if kind == 2 {
                Envelope::Joined { origin, user }
            } else {
                Envelope::Left { origin, user }
            })
        }
        k => Err(EnvelopeError::Kind(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<To<'static>> {
        vec![
            To::Conn {
                node: "node-b",
                id: ConnId(u64::MAX - 3),
            },
            To::User("alice"),
            To::Group("röom"),
            To::Token("t-1"),
            To::Bsid(""),
            To::Ip("127.0.0.9".parse().unwrap()),
            To::Ip("::1".parse().unwrap()),
            To::All,
        ]
    }

    #[test]
    fn every_target_round_trips_and_the_payload_is_not_copied() {
        for to in targets() {
            let frame = encode_send("node-a", &to, b"FROM bob hi\n");
            let env = decode(&frame).unwrap();
            let Envelope::Send {
                origin,
                to: got,
                payload,
            } = env
            else {
                panic!("not a send: {env:?}");
            };
            assert_eq!((origin, got), ("node-a", to));
            assert_eq!(&payload[..], b"FROM bob hi\n");
            // the payload is a view of the received frame
            assert_eq!(payload.as_ptr(), frame[frame.len() - 12..].as_ptr());
        }
    }

    #[test]
    fn presence_round_trips() {
        let f = encode_presence("n1", "bob", true);
        assert_eq!(
            decode(&f).unwrap(),
            Envelope::Joined {
                origin: "n1",
                user: "bob"
            }
        );
        let f = encode_presence("n1", "bob", false);
        assert_eq!(
            decode(&f).unwrap(),
            Envelope::Left {
                origin: "n1",
                user: "bob"
            }
        );
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let mut frames: Vec<Bytes> = targets()
            .iter()
            .map(|to| encode_send("node-a", to, b""))
            .collect();
        frames.push(encode_presence("n", "user", true));
        for frame in frames {
            // a send with an empty payload may end anywhere after its target
            for cut in 0..frame.len() {
                let part = frame.slice(..cut);
                match decode(&part) {
                    Err(EnvelopeError::Truncated(_)) => {}
                    other => panic!("{cut} of {frame:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(
            decode(&Bytes::from_static(&[2, 1, 0, 0])),
            Err(EnvelopeError::Version(2))
        );
        assert_eq!(
            decode(&Bytes::from_static(&[1, 9, 0, 0])),
            Err(EnvelopeError::Kind(9))
        );
        assert_eq!(
            decode(&Bytes::from_static(&[1, 1, 0, 0, 7])),
            Err(EnvelopeError::Target(7))
        );
        assert_eq!(
            decode(&Bytes::from_static(&[1, 1, 0, 0, 5, 5])),
            Err(EnvelopeError::Family(5))
        );
        assert_eq!(
            decode(&Bytes::from_static(&[1, 1, 0, 1, 0xff, 6])),
            Err(EnvelopeError::Utf8("origin"))
        );
        assert_eq!(
            decode(&Bytes::from_static(&[1, 2, 0, 0, 0, 1, b'a', b'!'])),
            Err(EnvelopeError::Trailing(1))
        );
        // a claimed length far past the frame is a truncation, not an allocation
        assert_eq!(
            decode(&Bytes::from_static(&[1, 1, 0xff, 0xff, b'a'])),
            Err(EnvelopeError::Truncated("origin"))
        );
    }

    #[test]
    fn a_conn_target_is_local_only_on_its_node() {
        let to = To::Conn {
            node: "a",
            id: ConnId(7),
        };
        assert_eq!(to.local("a"), Some(Target::Conn(ConnId(7))));
        assert_eq!(to.local("b"), None);
        assert!(!to.reaches_others("a"));
        assert!(to.reaches_others("b"));
        assert!(To::User("u").reaches_others("a"));
    }
}
