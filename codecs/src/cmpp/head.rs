//! The 12-byte PDU header and the wire codes it carries ([CMPP3] §8.4.2, §8.7.1).

use std::fmt;

/// A Command_Id. Unknown values survive and print as hex; responses are the request with
/// the high bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u32);

macro_rules! command_ids {
    ($($name:ident = $v:expr, $text:expr;)*) => {
        impl CommandId {
            $(
                #[doc = concat!("`", $text, "`")]
                pub const $name: CommandId = CommandId($v);
            )*

            /// The spec's name (`CMPP_SUBMIT`, `CMPP_SUBMIT_RESP`), or `None` for an
            /// unknown id.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(CommandId::$name => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

command_ids! {
    CONNECT = 0x0000_0001, "CMPP_CONNECT";
    CONNECT_RESP = 0x8000_0001, "CMPP_CONNECT_RESP";
    TERMINATE = 0x0000_0002, "CMPP_TERMINATE";
    TERMINATE_RESP = 0x8000_0002, "CMPP_TERMINATE_RESP";
    SUBMIT = 0x0000_0004, "CMPP_SUBMIT";
    SUBMIT_RESP = 0x8000_0004, "CMPP_SUBMIT_RESP";
    DELIVER = 0x0000_0005, "CMPP_DELIVER";
    DELIVER_RESP = 0x8000_0005, "CMPP_DELIVER_RESP";
    QUERY = 0x0000_0006, "CMPP_QUERY";
    QUERY_RESP = 0x8000_0006, "CMPP_QUERY_RESP";
    CANCEL = 0x0000_0007, "CMPP_CANCEL";
    CANCEL_RESP = 0x8000_0007, "CMPP_CANCEL_RESP";
    ACTIVE_TEST = 0x0000_0008, "CMPP_ACTIVE_TEST";
    ACTIVE_TEST_RESP = 0x8000_0008, "CMPP_ACTIVE_TEST_RESP";
    FWD = 0x0000_0009, "CMPP_FWD";
    FWD_RESP = 0x8000_0009, "CMPP_FWD_RESP";
}

impl CommandId {
    /// Whether this is a response (the high bit is set).
    pub fn is_response(self) -> bool {
        self.0 & 0x8000_0000 != 0
    }

    /// The response id for this request id.
    pub fn response(self) -> CommandId {
        CommandId(self.0 | 0x8000_0000)
    }
}

impl fmt::Debug for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "CommandId({:#010x})", self.0),
        }
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// A Sequence_Id: a per-sender counter echoed in the response. It wraps, and peers are
/// never assumed to use it monotonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SequenceId(pub u32);

impl SequenceId {
    /// The next id, wrapping.
    pub fn next(self) -> SequenceId {
        SequenceId(self.0.wrapping_add(1))
    }
}

/// The PDU header: Total_Length, Command_Id, Sequence_Id (12 bytes, big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The whole PDU length, header included.
    pub total_length: u32,
    /// What the PDU is.
    pub command_id: CommandId,
    /// The sender's sequence number.
    pub sequence_id: SequenceId,
}

impl Head {
    /// The header length.
    pub const LEN: usize = 12;

    /// The header at the front of `bytes`; `None` when fewer than [`Head::LEN`] bytes.
    ///
    /// ```
    /// use packwire_codecs::cmpp::{CommandId, Head, SequenceId};
    /// let h = Head::parse(&[0, 0, 0, 12, 0, 0, 0, 8, 0, 0, 0, 7]).unwrap();
    /// assert_eq!(h, Head { total_length: 12, command_id: CommandId::ACTIVE_TEST, sequence_id: SequenceId(7) });
    /// assert_eq!(Head::parse(&[0; 11]), None);
    /// ```
    pub fn parse(bytes: &[u8]) -> Option<Head> {
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(bytes.get(i..i + 4)?.try_into().ok()?))
        };
        Some(Head {
            total_length: word(0)?,
            command_id: CommandId(word(4)?),
            sequence_id: SequenceId(word(8)?),
        })
    }

    /// Appends the header's 12 bytes to `dst`.
    pub fn encode(&self, dst: &mut bytes::BytesMut) {
        use bytes::BufMut;
        dst.put_u32(self.total_length);
        dst.put_u32(self.command_id.0);
        dst.put_u32(self.sequence_id.0);
    }
}

/// The protocol version byte: high nibble major, low nibble minor (0x20, 0x21, 0x30).
///
/// Any 0x2x uses the 2.0 layout; 0x3x the 3.0 layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version(pub u8);

impl Version {
    /// CMPP 2.0 (0x20).
    pub const V20: Version = Version(0x20);
    /// "CMPP 2.1" as gocmpp and many gateways send it: the 2.0 layout.
    pub const V21: Version = Version(0x21);
    /// CMPP 3.0 (0x30).
    pub const V30: Version = Version(0x30);

    /// Whether messages use the 3.0 layout (4-byte status fields, 32-byte terminal ids).
    pub fn is_v3(self) -> bool {
        self.0 >> 4 == 3
    }

    /// The version whose layout a CONNECT with this version byte asks for: 0x3x is 3.0,
    /// anything else 2.0 (what a tolerant server answers with).
    pub fn layout(self) -> Version {
        if self.is_v3() {
            Version::V30
        } else {
            Version::V20
        }
    }

    /// The width of a terminal id field: 21 bytes in 2.0, 32 in 3.0.
    pub fn terminal_id_len(self) -> usize {
        if self.is_v3() { 32 } else { 21 }
    }

    /// The width of a status / result field: 1 byte in 2.0, 4 in 3.0.
    pub fn status_len(self) -> usize {
        if self.is_v3() { 4 } else { 1 }
    }
}
