//! The 16-byte header's command ids and statuses.

use std::fmt;

/// A command_id. Responses are the request's id with the high bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u32);

macro_rules! ids {
    ($($(#[$m:meta])* $name:ident = $v:expr, $text:literal;)*) => {
        impl CommandId {
            $($(#[$m])* pub const $name: CommandId = CommandId($v);)*

            /// The spec's name in snake_case (`submit_sm_resp`), or `None` for an id 3.4
            /// does not define.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

ids! {
    /// generic_nack: the answer to a PDU that could not be taken (unknown id, bad length).
    GENERIC_NACK = 0x8000_0000, "generic_nack";
    /// bind_receiver.
    BIND_RECEIVER = 0x0000_0001, "bind_receiver";
    /// bind_receiver_resp.
    BIND_RECEIVER_RESP = 0x8000_0001, "bind_receiver_resp";
    /// bind_transmitter.
    BIND_TRANSMITTER = 0x0000_0002, "bind_transmitter";
    /// bind_transmitter_resp.
    BIND_TRANSMITTER_RESP = 0x8000_0002, "bind_transmitter_resp";
    /// query_sm.
    QUERY_SM = 0x0000_0003, "query_sm";
    /// query_sm_resp.
    QUERY_SM_RESP = 0x8000_0003, "query_sm_resp";
    /// submit_sm.
    SUBMIT_SM = 0x0000_0004, "submit_sm";
    /// submit_sm_resp.
    SUBMIT_SM_RESP = 0x8000_0004, "submit_sm_resp";
    /// deliver_sm.
    DELIVER_SM = 0x0000_0005, "deliver_sm";
    /// deliver_sm_resp.
    DELIVER_SM_RESP = 0x8000_0005, "deliver_sm_resp";
    /// unbind.
    UNBIND = 0x0000_0006, "unbind";
    /// unbind_resp.
    UNBIND_RESP = 0x8000_0006, "unbind_resp";
    /// replace_sm.
    REPLACE_SM = 0x0000_0007, "replace_sm";
    /// replace_sm_resp.
    REPLACE_SM_RESP = 0x8000_0007, "replace_sm_resp";
    /// cancel_sm.
    CANCEL_SM = 0x0000_0008, "cancel_sm";
    /// cancel_sm_resp.
    CANCEL_SM_RESP = 0x8000_0008, "cancel_sm_resp";
    /// bind_transceiver.
    BIND_TRANSCEIVER = 0x0000_0009, "bind_transceiver";
    /// bind_transceiver_resp.
    BIND_TRANSCEIVER_RESP = 0x8000_0009, "bind_transceiver_resp";
    /// outbind (no response).
    OUTBIND = 0x0000_000b, "outbind";
    /// enquire_link: the link check.
    ENQUIRE_LINK = 0x0000_0015, "enquire_link";
    /// enquire_link_resp.
    ENQUIRE_LINK_RESP = 0x8000_0015, "enquire_link_resp";
    /// submit_multi.
    SUBMIT_MULTI = 0x0000_0021, "submit_multi";
    /// submit_multi_resp.
    SUBMIT_MULTI_RESP = 0x8000_0021, "submit_multi_resp";
    /// alert_notification (no response).
    ALERT_NOTIFICATION = 0x0000_0102, "alert_notification";
    /// data_sm.
    DATA_SM = 0x0000_0103, "data_sm";
    /// data_sm_resp.
    DATA_SM_RESP = 0x8000_0103, "data_sm_resp";
}

impl CommandId {
    /// Whether this is a response (the high bit set; generic_nack included).
    pub fn is_response(self) -> bool {
        self.0 & 0x8000_0000 != 0
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "command 0x{:08x}", self.0),
        }
    }
}

/// A command_status: 0 in requests and in successful responses, an error code otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct CommandStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $v:expr, $text:literal;)*) => {
        impl CommandStatus {
            $(#[doc = $text] pub const $name: CommandStatus = CommandStatus($v);)*

            /// What the spec says the status means, or `None` for a code it does not
            /// define (0x400-0x4ff are the SMSC vendor's).
            pub fn meaning(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($text),)*
                    _ => None,
                }
            }

            /// The spec's constant name (`ESME_RTHROTTLED`), if it defines the code.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    ESME_ROK = 0x00, "No error";
    ESME_RINVMSGLEN = 0x01, "Message length is invalid";
    ESME_RINVCMDLEN = 0x02, "Command length is invalid";
    ESME_RINVCMDID = 0x03, "Invalid command id";
    ESME_RINVBNDSTS = 0x04, "Incorrect bind status for the given command";
    ESME_RALYBND = 0x05, "ESME already in bound state";
    ESME_RINVPRTFLG = 0x06, "Invalid priority flag";
    ESME_RINVREGDLVFLG = 0x07, "Invalid registered delivery flag";
    ESME_RSYSERR = 0x08, "System error";
    ESME_RINVSRCADR = 0x0a, "Invalid source address";
    ESME_RINVDSTADR = 0x0b, "Invalid destination address";
    ESME_RINVMSGID = 0x0c, "Message id is invalid";
    ESME_RBINDFAIL = 0x0d, "Bind failed";
    ESME_RINVPASWD = 0x0e, "Invalid password";
    ESME_RINVSYSID = 0x0f, "Invalid system id";
    ESME_RCANCELFAIL = 0x11, "cancel_sm failed";
    ESME_RREPLACEFAIL = 0x13, "replace_sm failed";
    ESME_RMSGQFUL = 0x14, "Message queue full";
    ESME_RINVSERTYP = 0x15, "Invalid service type";
    ESME_RINVNUMDESTS = 0x33, "Invalid number of destinations";
    ESME_RINVDLNAME = 0x34, "Invalid distribution list name";
    ESME_RINVDESTFLAG = 0x40, "Destination flag is invalid (submit_multi)";
    ESME_RINVSUBREP = 0x42, "Invalid submit with replace request";
    ESME_RINVESMCLASS = 0x43, "Invalid esm_class field data";
    ESME_RCNTSUBDL = 0x44, "Cannot submit to distribution list";
    ESME_RSUBMITFAIL = 0x45, "submit_sm or submit_multi failed";
    ESME_RINVSRCTON = 0x48, "Invalid source address TON";
    ESME_RINVSRCNPI = 0x49, "Invalid source address NPI";
    ESME_RINVDSTTON = 0x50, "Invalid destination address TON";
    ESME_RINVDSTNPI = 0x51, "Invalid destination address NPI";
    ESME_RINVSYSTYP = 0x53, "Invalid system_type field";
    ESME_RINVREPFLAG = 0x54, "Invalid replace_if_present flag";
    ESME_RINVNUMMSGS = 0x55, "Invalid number of messages";
    ESME_RTHROTTLED = 0x58, "Throttling error (ESME has exceeded allowed message limits)";
    ESME_RINVSCHED = 0x61, "Invalid scheduled delivery time";
    ESME_RINVEXPIRY = 0x62, "Invalid message validity period (expiry time)";
    ESME_RINVDFTMSGID = 0x63, "Predefined message invalid or not found";
    ESME_RX_T_APPN = 0x64, "ESME receiver temporary app error code";
    ESME_RX_P_APPN = 0x65, "ESME receiver permanent app error code";
    ESME_RX_R_APPN = 0x66, "ESME receiver reject message error code";
    ESME_RQUERYFAIL = 0x67, "query_sm request failed";
    ESME_RINVOPTPARSTREAM = 0xc0, "Error in the optional part of the PDU body";
    ESME_ROPTPARNOTALLWD = 0xc1, "Optional parameter not allowed";
    ESME_RINVPARLEN = 0xc2, "Invalid parameter length";
    ESME_RMISSINGOPTPARAM = 0xc3, "Expected optional parameter missing";
    ESME_RINVOPTPARAMVAL = 0xc4, "Invalid optional parameter value";
    ESME_RDELIVERYFAILURE = 0xfe, "Delivery failure (data_sm_resp)";
    ESME_RUNKNOWNERR = 0xff, "Unknown error";
}

impl CommandStatus {
    /// Whether it says the request succeeded.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Whether the request may succeed if sent again later: the peer was throttling
    /// (`ESME_RTHROTTLED`) or its queue was full (`ESME_RMSGQFUL`).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            CommandStatus::ESME_RTHROTTLED | CommandStatus::ESME_RMSGQFUL
        )
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:02x})", self.0),
            None => write!(f, "status 0x{:08x}", self.0),
        }
    }
}
