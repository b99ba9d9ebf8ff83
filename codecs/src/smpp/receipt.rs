//! Delivery receipts: what a deliver_sm with esm_class "SMSC delivery receipt" says about
//! a message submitted earlier — from the TLVs when the SMSC sends them
//! (receipted_message_id, message_state, network_error_code), and from the text form of
//! the spec's Appendix B, read tolerantly (vendor variants: keys in any case, `submit_date`
//! for `submit date`, `txt` for `text`, fields missing or in another order).

use bytes::Bytes;

use super::sm::Sm;

/// What a delivery receipt says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The message's id: receipted_message_id if present, else the text's `id:`.
    pub id: Bytes,
    /// The final state: message_state if present, else from the text's `stat:` (see
    /// [`Receipt::state_of`]).
    pub state: Option<u8>,
    /// The text's `stat:` as it came (`DELIVRD`, `UNDELIV`, ...).
    pub stat: Bytes,
    /// The text's `err:`.
    pub err: Bytes,
    /// The text's `sub:` and `dlvrd:` (messages submitted, delivered).
    pub sub: Bytes,
    /// The text's `dlvrd:`.
    pub dlvrd: Bytes,
    /// The text's `submit date:` (`YYMMDDhhmm`, some send seconds too).
    pub submit_date: Bytes,
    /// The text's `done date:`.
    pub done_date: Bytes,
    /// The text's `text:` (the message's first characters).
    pub text: Bytes,
    /// network_error_code: the network type and its error code.
    pub network_error: Option<(u8, u16)>,
}

/// The text form's keys, as they are matched (lower case), and where each goes.
const KEYS: [&str; 10] = [
    "id",
    "sub",
    "dlvrd",
    "submit date",
    "submit_date",
    "done date",
    "done_date",
    "stat",
    "err",
    "text",
];

impl Receipt {
    /// The receipt in `sm` (a deliver_sm or data_sm's fields), if it is one: its
    /// esm_class says so, or it has a receipted_message_id, or its text starts `id:`.
    pub fn parse(sm: &Sm) -> Option<Receipt> {
        let text = sm.payload();
        let looks = sm.is_receipt()
            || sm.tlvs.receipted_message_id().is_some()
            || text
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"id:"));
        if !looks {
            return None;
        }
        let mut r = Receipt::parse_text(text);
        if let Some(id) = sm.tlvs.receipted_message_id() {
            r.id = Bytes::copy_from_slice(id);
        }
        if let Some(s) = sm.tlvs.message_state() {
            r.state = Some(s);
        }
        r.network_error = sm.tlvs.network_error_code();
        Some(r)
    }

    /// The text form alone: every field it has; those missing stay empty.
    ///
    /// ```
    /// use packwire_codecs::smpp::Receipt;
    /// let r = Receipt::parse_text(b"id:0A1B sub:001 dlvrd:001 submit date:2612031200 done date:2612031201 stat:DELIVRD err:000 text:hi");
    /// assert_eq!((&r.id[..], &r.stat[..], &r.done_date[..]), (&b"0A1B"[..], &b"DELIVRD"[..], &b"2612031201"[..]));
    /// assert_eq!(r.state, Some(2));
    /// let odd = Receipt::parse_text(b"ID:12345 STAT:undeliv Err:001 submit_date:2612031200");
    /// assert_eq!((&odd.id[..], odd.state, &odd.submit_date[..]), (&b"12345"[..], Some(5), &b"2612031200"[..]));
    /// ```
    pub fn parse_text(text: &[u8]) -> Receipt {
        let text = Bytes::copy_from_slice(text);
        // every key's position (at the start or after a space), in order
        let mut found: Vec<(usize, usize, usize)> = Vec::new(); // (key start, value start, key index)
        let lower = text.to_ascii_lowercase();
        let mut i = 0;
        while i < lower.len() {
            if i == 0 || lower[i - 1] == b' ' {
                if let Some((k, key)) = KEYS.iter().enumerate().find(|(_, key)| {
                    lower[i..].starts_with(key.as_bytes())
                        && lower.get(i + key.len()) == Some(&b':')
                }) {
                    found.push((i, i + key.len() + 1, k));
                    i += key.len() + 1;
                    // `text:` runs to the end
                    if *key == "text" {
                        break;
                    }
                    continue;
                }
            }
            i += 1;
        }
        let mut r = Receipt::default();
        for (n, &(_, start, k)) in found.iter().enumerate() {
            let end = found.get(n + 1).map_or(text.len(), |next| next.0);
            let raw = &text[start..end.max(start)];
            let value = if KEYS[k] == "text" {
                raw
            } else {
                raw.trim_ascii()
            };
            let v = text.slice_ref(value);
            match KEYS[k] {
                "id" => r.id = v,
                "sub" => r.sub = v,
                "dlvrd" => r.dlvrd = v,
                "submit date" | "submit_date" => r.submit_date = v,
                "done date" | "done_date" => r.done_date = v,
                "stat" => r.stat = v,
                "err" => r.err = v,
                _ => r.text = v,
            }
        }
        r.state = Receipt::state_of(&r.stat);
        r
    }

    /// The message_state a `stat:` word stands for (ENROUTE 1, DELIVRD 2, EXPIRED 3,
    /// DELETED 4, UNDELIV 5, ACCEPTD 6, UNKNOWN 7, REJECTD 8; either case, and the
    /// spelled-out forms some SMSCs send).
    pub fn state_of(stat: &[u8]) -> Option<u8> {
        let s = stat.to_ascii_uppercase();
        Some(match &s[..] {
            b"ENROUTE" => 1,
            b"DELIVRD" | b"DELIVERED" => 2,
            b"EXPIRED" => 3,
            b"DELETED" => 4,
            b"UNDELIV" | b"UNDELIVERABLE" => 5,
            b"ACCEPTD" | b"ACCEPTED" => 6,
            b"UNKNOWN" => 7,
            b"REJECTD" | b"REJECTED" => 8,
            _ => return None,
        })
    }

    /// Whether this receipt is for the message the SMSC answered with `message_id`: the
    /// same id (ignoring case), or the same number written in hex on one side and decimal
    /// on the other (SMSCs differ on which they use where).
    ///
    /// ```
    /// use packwire_codecs::smpp::Receipt;
    /// let r = Receipt::parse_text(b"id:1234567890 stat:DELIVRD");
    /// assert!(r.matches(b"499602D2"));
    /// assert!(r.matches(b"1234567890"));
    /// assert!(!r.matches(b"499602D3"));
    /// ```
    pub fn matches(&self, message_id: &[u8]) -> bool {
        if self.id.eq_ignore_ascii_case(message_id) {
            return true;
        }
        let num = |s: &[u8], radix| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|t| u128::from_str_radix(t, radix).ok())
        };
        let pairs = [
            (num(&self.id, 10), num(message_id, 16)),
            (num(&self.id, 16), num(message_id, 10)),
        ];
        pairs.iter().any(|(a, b)| a.is_some() && a == b)
    }
}
