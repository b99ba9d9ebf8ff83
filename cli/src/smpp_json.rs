//! `--codec smpp`: SMPP 3.4 PDUs as JSON, field names as the spec writes them in
//! snake_case, TLVs by name.

use bytes::BytesMut;
use packwire_codecs::smpp::{Address, Body, Pdu, Sm, SmppCodec, Tlvs};
use packwire_core::FrameError;
use serde_json::{Map, Value, json};
use tokio_util::codec::Decoder;

use crate::spec::{JsonDecoder, hex};

/// A C-Octet String as text, each byte a Latin-1 character (lossless).
fn cs(b: &[u8]) -> Value {
    Value::String(b.iter().map(|&c| char::from(c)).collect())
}

/// An address's three fields under `prefix` (`source_addr_ton`, `source_addr_npi`,
/// `source_addr`).
fn addr(o: &mut Map<String, Value>, ton: &str, npi: &str, name: &str, a: &Address) {
    o.insert(ton.into(), json!(a.ton));
    o.insert(npi.into(), json!(a.npi));
    o.insert(name.into(), cs(&a.addr));
}

/// TLVs as a list of `{"tag": name or hex, "value": hex}`, in order.
fn tlvs(o: &mut Map<String, Value>, t: &Tlvs) {
    if t.is_empty() {
        return;
    }
    let list =
        t.0.iter()
            .map(|t| {
                json!({
                    "tag": t.tag.name().map_or_else(|| format!("{:#06x}", t.tag.0), str::to_string),
                    "value": hex(&t.value),
                })
            })
            .collect();
    o.insert("tlvs".into(), Value::Array(list));
}

/// The message bytes in hex, and as text for the codings that carry ASCII-compatible
/// or UCS2 text.
fn message(o: &mut Map<String, Value>, data_coding: u8, udhi: bool, m: &[u8]) {
    o.insert("sm_length".into(), json!(m.len()));
    o.insert("short_message".into(), json!(hex(m)));
    let text = if udhi {
        m.first()
            .and_then(|&l| m.get(1 + usize::from(l)..))
            .unwrap_or_default()
    } else {
        m
    };
    let decoded = match data_coding {
        1 | 3 => Some(text.iter().map(|&c| char::from(c)).collect::<String>()),
        0 if text.is_ascii() => Some(text.iter().map(|&c| char::from(c)).collect()),
        8 => Some(
            char::decode_utf16(
                text.chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
            )
            .map(|r| r.unwrap_or('\u{fffd}'))
            .collect(),
        ),
        _ => None,
    };
    if let Some(t) = decoded {
        o.insert("text".into(), json!(t));
    }
}

fn sm(s: &Sm) -> Value {
    let mut o = Map::new();
    o.insert("service_type".into(), cs(&s.service_type));
    addr(
        &mut o,
        "source_addr_ton",
        "source_addr_npi",
        "source_addr",
        &s.source,
    );
    addr(
        &mut o,
        "dest_addr_ton",
        "dest_addr_npi",
        "destination_addr",
        &s.dest,
    );
    o.insert("esm_class".into(), json!(s.esm_class));
    o.insert("protocol_id".into(), json!(s.protocol_id));
    o.insert("priority_flag".into(), json!(s.priority_flag));
    o.insert(
        "schedule_delivery_time".into(),
        cs(&s.schedule_delivery_time),
    );
    o.insert("validity_period".into(), cs(&s.validity_period));
    o.insert("registered_delivery".into(), json!(s.registered_delivery));
    o.insert(
        "replace_if_present_flag".into(),
        json!(s.replace_if_present_flag),
    );
    o.insert("data_coding".into(), json!(s.data_coding));
    o.insert("sm_default_msg_id".into(), json!(s.sm_default_msg_id));
    message(&mut o, s.data_coding, s.udhi(), &s.short_message);
    tlvs(&mut o, &s.tlvs);
    Value::Object(o)
}

/// A PDU as JSON.
pub(crate) fn pdu_json(p: &Pdu) -> Value {
    let mut o = Map::new();
    match &p.body {
        Body::BindTransmitter(b) | Body::BindReceiver(b) | Body::BindTransceiver(b) => {
            o.insert("system_id".into(), cs(&b.system_id));
            o.insert("password".into(), cs(&b.password));
            o.insert("system_type".into(), cs(&b.system_type));
            o.insert("interface_version".into(), json!(b.interface_version));
            o.insert("addr_ton".into(), json!(b.addr_ton));
            o.insert("addr_npi".into(), json!(b.addr_npi));
            o.insert("address_range".into(), cs(&b.address_range));
        }
        Body::BindTransmitterResp(r) | Body::BindReceiverResp(r) | Body::BindTransceiverResp(r) => {
            o.insert("system_id".into(), cs(&r.system_id));
            tlvs(&mut o, &r.tlvs);
        }
        Body::Outbind(b) => {
            o.insert("system_id".into(), cs(&b.system_id));
            o.insert("password".into(), cs(&b.password));
        }
        Body::SubmitSm(s) | Body::DeliverSm(s) => return wrap(p, sm(s)),
        Body::SubmitSmResp(r) | Body::DeliverSmResp(r) | Body::DataSmResp(r) => {
            o.insert("message_id".into(), cs(&r.message_id));
            tlvs(&mut o, &r.tlvs);
        }
        Body::DataSm(d) => {
            o.insert("service_type".into(), cs(&d.service_type));
            addr(
                &mut o,
                "source_addr_ton",
                "source_addr_npi",
                "source_addr",
                &d.source,
            );
            addr(
                &mut o,
                "dest_addr_ton",
                "dest_addr_npi",
                "destination_addr",
                &d.dest,
            );
            o.insert("esm_class".into(), json!(d.esm_class));
            o.insert("registered_delivery".into(), json!(d.registered_delivery));
            o.insert("data_coding".into(), json!(d.data_coding));
            tlvs(&mut o, &d.tlvs);
        }
        Body::SubmitMulti(m) => {
            o.insert("service_type".into(), cs(&m.service_type));
            addr(
                &mut o,
                "source_addr_ton",
                "source_addr_npi",
                "source_addr",
                &m.source,
            );
            o.insert("number_of_dests".into(), json!(m.dests.len()));
            let dests = m
                .dests
                .iter()
                .map(|d| match d {
                    packwire_codecs::smpp::Dest::Sme(a) => json!({
                        "dest_flag": 1, "dest_addr_ton": a.ton, "dest_addr_npi": a.npi,
                        "destination_addr": cs(&a.addr),
                    }),
                    packwire_codecs::smpp::Dest::List(n) => {
                        json!({ "dest_flag": 2, "dl_name": cs(n) })
                    }
                })
                .collect();
            o.insert("dest_address".into(), Value::Array(dests));
            o.insert("esm_class".into(), json!(m.esm_class));
            o.insert("data_coding".into(), json!(m.data_coding));
            message(
                &mut o,
                m.data_coding,
                m.esm_class & 0x40 != 0,
                &m.short_message,
            );
            tlvs(&mut o, &m.tlvs);
        }
        Body::SubmitMultiResp(r) => {
            o.insert("message_id".into(), cs(&r.message_id));
            o.insert("no_unsuccess".into(), json!(r.unsuccess.len()));
            let list = r
                .unsuccess
                .iter()
                .map(|u| {
                    json!({
                        "dest_addr_ton": u.dest.ton, "dest_addr_npi": u.dest.npi,
                        "destination_addr": cs(&u.dest.addr), "error_status_code": u.error_status_code,
                    })
                })
                .collect();
            o.insert("unsuccess_sme".into(), Value::Array(list));
        }
        Body::QuerySm(q) => {
            o.insert("message_id".into(), cs(&q.message_id));
            addr(
                &mut o,
                "source_addr_ton",
                "source_addr_npi",
                "source_addr",
                &q.source,
            );
        }
        Body::QuerySmResp(q) => {
            o.insert("message_id".into(), cs(&q.message_id));
            o.insert("final_date".into(), cs(&q.final_date));
            o.insert("message_state".into(), json!(q.message_state));
            o.insert("error_code".into(), json!(q.error_code));
        }
        Body::CancelSm(c) => {
            o.insert("service_type".into(), cs(&c.service_type));
            o.insert("message_id".into(), cs(&c.message_id));
            addr(
                &mut o,
                "source_addr_ton",
                "source_addr_npi",
                "source_addr",
                &c.source,
            );
            addr(
                &mut o,
                "dest_addr_ton",
                "dest_addr_npi",
                "destination_addr",
                &c.dest,
            );
        }
        Body::ReplaceSm(r) => {
            o.insert("message_id".into(), cs(&r.message_id));
            addr(
                &mut o,
                "source_addr_ton",
                "source_addr_npi",
                "source_addr",
                &r.source,
            );
            o.insert(
                "schedule_delivery_time".into(),
                cs(&r.schedule_delivery_time),
            );
            o.insert("validity_period".into(), cs(&r.validity_period));
            o.insert("registered_delivery".into(), json!(r.registered_delivery));
            o.insert("sm_default_msg_id".into(), json!(r.sm_default_msg_id));
            message(&mut o, 0, false, &r.short_message);
        }
        Body::AlertNotification(a) => {
            addr(
                &mut o,
                "source_addr_ton",
                "source_addr_npi",
                "source_addr",
                &a.source,
            );
            addr(
                &mut o,
                "esme_addr_ton",
                "esme_addr_npi",
                "esme_addr",
                &a.esme,
            );
            tlvs(&mut o, &a.tlvs);
        }
        Body::Unknown { body, .. } => {
            o.insert("hex".into(), json!(hex(body)));
        }
        _ => {}
    }
    wrap(p, Value::Object(o))
}

fn wrap(p: &Pdu, body: Value) -> Value {
    let id = p.command_id();
    json!({
        "command": id.name().unwrap_or("unknown"),
        "command_id": format!("{:#010x}", id.0),
        "command_status": p.command_status.0,
        "sequence_number": p.sequence_number,
        "body": body,
    })
}

pub(crate) struct SmppJson(pub(crate) SmppCodec);

impl JsonDecoder for SmppJson {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode(src)?.map(|p| pdu_json(&p)))
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode_eof(src)?.map(|p| pdu_json(&p)))
    }
}
