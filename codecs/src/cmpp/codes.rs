//! Status codes and formats as named newtypes: unknown values survive and print as numbers
//! (the default is 0: ok, ASCII).

use std::fmt;

macro_rules! code {
    ($(#[$m:meta])* $name:ident($t:ty) { $($c:ident = $v:expr, $text:expr;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $t);

        impl $name {
            $(
                #[doc = $text]
                pub const $c: $name = $name($v);
            )*

            /// What the spec says the value means, or `None` for a value it does not name.
            pub fn meaning(self) -> Option<&'static str> {
                match self {
                    $($name::$c => Some($text),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.meaning() {
                    Some(m) => write!(f, "{} ({m})", self.0),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}

code! {
    /// CONNECT_RESP Status.
    ConnectStatus(u32) {
        OK = 0, "ok";
        BAD_STRUCTURE = 1, "message structure error";
        BAD_SOURCE = 2, "illegal source address";
        AUTH_FAILED = 3, "authentication error";
        VERSION_TOO_HIGH = 4, "version too high";
        OTHER = 5, "other error";
    }
}

code! {
    /// SUBMIT_RESP / DELIVER_RESP Result.
    SubmitResult(u32) {
        OK = 0, "ok";
        BAD_STRUCTURE = 1, "message structure error";
        BAD_COMMAND = 2, "command word error";
        DUPLICATE_SEQUENCE = 3, "duplicate sequence id";
        BAD_LENGTH = 4, "message length error";
        BAD_FEE_CODE = 5, "fee code error";
        TOO_LONG = 6, "exceeds the maximum message length";
        BAD_SERVICE = 7, "service code error";
        FLOW_CONTROL = 8, "flow control: resend later";
        NOT_SERVED = 9, "this fee number is not served";
        BAD_SRC_ID = 10, "Src_Id error";
        BAD_MSG_SRC = 11, "Msg_src error";
        BAD_FEE_TERMINAL = 12, "Fee_terminal_Id error";
        BAD_DEST = 13, "Dest_terminal_Id error";
    }
}

code! {
    /// Msg_Fmt: how Msg_Content is encoded.
    MsgFmt(u8) {
        ASCII = 0, "ASCII";
        SIM_WRITE = 3, "SIM write-card";
        BINARY = 4, "binary";
        UCS2 = 8, "UCS2";
        GBK = 15, "GB (GBK)";
    }
}

/// Whether a TP_udhi value says a user data header is present: the spec's 1, or the 0x40
/// real gateways send (bit 0 or bit 6 set).
pub fn udhi(tp_udhi: u8) -> bool {
    tp_udhi & 0x41 != 0
}
