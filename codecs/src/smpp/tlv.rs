//! Optional parameters (TLVs): tag, length, value. Kept in the order they came, unknown
//! tags byte-exact, so a PDU re-encodes to the bytes it was decoded from.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

/// A TLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16);

/// How long a known tag's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    /// exactly this many bytes
    Fixed(usize),
    /// a C-Octet String of at most this many bytes, NUL included
    CStr(usize),
    /// from `min` to `max` bytes
    Range(usize, usize),
}

macro_rules! tags {
    ($($name:ident = $v:expr, $text:literal, $size:expr;)*) => {
        impl Tag {
            $(#[doc = concat!("`", $text, "`.")] pub const $name: Tag = Tag($v);)*

            /// The spec's name in snake_case, or `None` for a tag 3.4 does not define
            /// (0x1400-0x3fff are vendors').
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($text),)*
                    _ => None,
                }
            }

            fn size(self) -> Option<Size> {
                match self.0 {
                    $($v => Some($size),)*
                    _ => None,
                }
            }
        }
    };
}

use Size::{CStr, Fixed, Range};

tags! {
    DEST_ADDR_SUBUNIT = 0x0005, "dest_addr_subunit", Fixed(1);
    DEST_NETWORK_TYPE = 0x0006, "dest_network_type", Fixed(1);
    DEST_BEARER_TYPE = 0x0007, "dest_bearer_type", Fixed(1);
    DEST_TELEMATICS_ID = 0x0008, "dest_telematics_id", Fixed(2);
    SOURCE_ADDR_SUBUNIT = 0x000d, "source_addr_subunit", Fixed(1);
    SOURCE_NETWORK_TYPE = 0x000e, "source_network_type", Fixed(1);
    SOURCE_BEARER_TYPE = 0x000f, "source_bearer_type", Fixed(1);
    SOURCE_TELEMATICS_ID = 0x0010, "source_telematics_id", Fixed(1);
    QOS_TIME_TO_LIVE = 0x0017, "qos_time_to_live", Fixed(4);
    PAYLOAD_TYPE = 0x0019, "payload_type", Fixed(1);
    ADDITIONAL_STATUS_INFO_TEXT = 0x001d, "additional_status_info_text", CStr(256);
    RECEIPTED_MESSAGE_ID = 0x001e, "receipted_message_id", CStr(65);
    MS_MSG_WAIT_FACILITIES = 0x0030, "ms_msg_wait_facilities", Fixed(1);
    PRIVACY_INDICATOR = 0x0201, "privacy_indicator", Fixed(1);
    SOURCE_SUBADDRESS = 0x0202, "source_subaddress", Range(2, 23);
    DEST_SUBADDRESS = 0x0203, "dest_subaddress", Range(2, 23);
    USER_MESSAGE_REFERENCE = 0x0204, "user_message_reference", Fixed(2);
    USER_RESPONSE_CODE = 0x0205, "user_response_code", Fixed(1);
    SOURCE_PORT = 0x020a, "source_port", Fixed(2);
    DESTINATION_PORT = 0x020b, "destination_port", Fixed(2);
    SAR_MSG_REF_NUM = 0x020c, "sar_msg_ref_num", Fixed(2);
    LANGUAGE_INDICATOR = 0x020d, "language_indicator", Fixed(1);
    SAR_TOTAL_SEGMENTS = 0x020e, "sar_total_segments", Fixed(1);
    SAR_SEGMENT_SEQNUM = 0x020f, "sar_segment_seqnum", Fixed(1);
    SC_INTERFACE_VERSION = 0x0210, "sc_interface_version", Fixed(1);
    CALLBACK_NUM_PRES_IND = 0x0302, "callback_num_pres_ind", Fixed(1);
    CALLBACK_NUM_ATAG = 0x0303, "callback_num_atag", Range(0, 65);
    NUMBER_OF_MESSAGES = 0x0304, "number_of_messages", Fixed(1);
    CALLBACK_NUM = 0x0381, "callback_num", Range(4, 19);
    DPF_RESULT = 0x0420, "dpf_result", Fixed(1);
    SET_DPF = 0x0421, "set_dpf", Fixed(1);
    MS_AVAILABILITY_STATUS = 0x0422, "ms_availability_status", Fixed(1);
    NETWORK_ERROR_CODE = 0x0423, "network_error_code", Fixed(3);
    MESSAGE_PAYLOAD = 0x0424, "message_payload", Range(0, 65_535);
    DELIVERY_FAILURE_REASON = 0x0425, "delivery_failure_reason", Fixed(1);
    MORE_MESSAGES_TO_SEND = 0x0426, "more_messages_to_send", Fixed(1);
    MESSAGE_STATE = 0x0427, "message_state", Fixed(1);
    USSD_SERVICE_OP = 0x0501, "ussd_service_op", Fixed(1);
    DISPLAY_TIME = 0x1201, "display_time", Fixed(1);
    SMS_SIGNAL = 0x1203, "sms_signal", Fixed(2);
    MS_VALIDITY = 0x1204, "ms_validity", Fixed(1);
    ALERT_ON_MESSAGE_DELIVERY = 0x130c, "alert_on_message_delivery", Fixed(0);
    ITS_REPLY_TYPE = 0x1380, "its_reply_type", Fixed(1);
    ITS_SESSION_INFO = 0x1383, "its_session_info", Fixed(2);
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "tag 0x{:04x}", self.0),
        }
    }
}

/// One optional parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Its tag.
    pub tag: Tag,
    /// Its value, byte-exact (a C-Octet String value keeps its NUL).
    pub value: Bytes,
}

/// A PDU's optional parameters, in order.
///
/// ```
/// use packwire_codecs::smpp::{Tag, Tlvs};
/// let mut tlvs = Tlvs::default();
/// tlvs.push(Tag::SAR_MSG_REF_NUM, 0x1234u16.to_be_bytes().to_vec());
/// tlvs.push(Tag::SAR_TOTAL_SEGMENTS, vec![3]);
/// tlvs.push(Tag::SAR_SEGMENT_SEQNUM, vec![1]);
/// assert_eq!(tlvs.sar(), Some((0x1234, 3, 1)));
/// assert_eq!(tlvs.u8(Tag::SAR_TOTAL_SEGMENTS), Some(3));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tlvs(pub Vec<Tlv>);

impl Tlvs {
    /// Appends a parameter.
    pub fn push(&mut self, tag: Tag, value: impl Into<Bytes>) {
        self.0.push(Tlv {
            tag,
            value: value.into(),
        });
    }

    /// The first value with `tag`.
    pub fn get(&self, tag: Tag) -> Option<&Bytes> {
        self.0.iter().find(|t| t.tag == tag).map(|t| &t.value)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A one-byte value.
    pub fn u8(&self, tag: Tag) -> Option<u8> {
        match self.get(tag)?[..] {
            [b] => Some(b),
            _ => None,
        }
    }

    /// A two-byte value.
    pub fn u16(&self, tag: Tag) -> Option<u16> {
        match self.get(tag)?[..] {
            [a, b] => Some(u16::from_be_bytes([a, b])),
            _ => None,
        }
    }

    /// A C-Octet String value without its NUL (tolerant: a value sent without one too).
    pub fn cstr(&self, tag: Tag) -> Option<&[u8]> {
        let v = self.get(tag)?;
        Some(v.strip_suffix(&[0]).unwrap_or(v))
    }

    /// `receipted_message_id` (a delivery receipt's message id).
    pub fn receipted_message_id(&self) -> Option<&[u8]> {
        self.cstr(Tag::RECEIPTED_MESSAGE_ID)
    }

    /// `message_state` (1 ENROUTE, 2 DELIVERED, 3 EXPIRED, 4 DELETED, 5 UNDELIVERABLE,
    /// 6 ACCEPTED, 7 UNKNOWN, 8 REJECTED).
    pub fn message_state(&self) -> Option<u8> {
        self.u8(Tag::MESSAGE_STATE)
    }

    /// `network_error_code`: the network type (1 ANSI-136, 2 IS-95, 3 GSM, ...) and the
    /// error code.
    pub fn network_error_code(&self) -> Option<(u8, u16)> {
        match self.get(Tag::NETWORK_ERROR_CODE)?[..] {
            [t, a, b] => Some((t, u16::from_be_bytes([a, b]))),
            _ => None,
        }
    }

    /// The SAR segment parameters: (reference, total segments, this segment's number).
    pub fn sar(&self) -> Option<(u16, u8, u8)> {
        Some((
            self.u16(Tag::SAR_MSG_REF_NUM)?,
            self.u8(Tag::SAR_TOTAL_SEGMENTS)?,
            self.u8(Tag::SAR_SEGMENT_SEQNUM)?,
        ))
    }

    /// `message_payload`, the message when it is not in `short_message`.
    pub fn message_payload(&self) -> Option<&Bytes> {
        self.get(Tag::MESSAGE_PAYLOAD)
    }

    /// Reads TLVs to the end of the body. Decoding is tolerant: a known tag with a value
    /// of an unexpected length is kept as it came (its typed accessor says `None`).
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            let tag = Tag(r.u16("TLV tag")?);
            let len = usize::from(r.u16("TLV length")?);
            let v = r.bytes("TLV value", len)?;
            out.push(Tlv {
                tag,
                value: if v.is_empty() {
                    Bytes::new()
                } else {
                    frame.slice_ref(v)
                },
            });
        }
        Ok(Tlvs(out))
    }

    /// Writes the TLVs in order. Strict: a known tag's value must have the size the spec
    /// gives it.
    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        for t in &self.0 {
            let n = t.value.len();
            let fits = match t.tag.size() {
                None => true,
                Some(Fixed(k)) => n == k,
                Some(Range(lo, hi)) => (lo..=hi).contains(&n),
                Some(CStr(max)) => {
                    n >= 1 && n <= max && t.value.iter().position(|&b| b == 0) == Some(n - 1)
                }
            };
            if !fits {
                return Err(EncodeError::Invalid {
                    rule: "a TLV's value does not have the size its tag requires",
                });
            }
            let len = u16::try_from(n).map_err(|_| EncodeError::Invalid {
                rule: "a TLV's value is longer than 65535 bytes",
            })?;
            dst.put_u16(t.tag.0);
            dst.put_u16(len);
            dst.put_slice(&t.value);
        }
        Ok(())
    }
}
