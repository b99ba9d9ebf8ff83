//! `--codec cmpp2|cmpp3`: CMPP PDUs as JSON, field names as the spec writes them in
//! snake_case.

use bytes::BytesMut;
use packwire_codecs::cmpp::{Body, CmppCodec, Deliver, MsgFmt, Pdu, Report, Submit, decode_text};
use packwire_core::FrameError;
use serde_json::{Map, Value, json};
use tokio_util::codec::Decoder;

use crate::spec::{JsonDecoder, hex};

/// An octet string as text, each byte a Latin-1 character (lossless).
fn os(b: &[u8]) -> Value {
    Value::String(b.iter().map(|&c| char::from(c)).collect())
}

fn content(obj: &mut Map<String, Value>, msg_fmt: u8, content: &[u8]) {
    obj.insert("msg_length".into(), json!(content.len()));
    obj.insert("msg_content".into(), json!(hex(content)));
    if matches!(msg_fmt, 0 | 8 | 15) {
        if let Some(t) = decode_text(MsgFmt(msg_fmt), content) {
            obj.insert("text".into(), json!(t));
        }
    }
}

fn submit(s: &Submit, v3: bool) -> Value {
    let mut o = Map::new();
    o.insert("msg_id".into(), json!(s.msg_id.0));
    o.insert("pk_total".into(), json!(s.pk_total));
    o.insert("pk_number".into(), json!(s.pk_number));
    o.insert("registered_delivery".into(), json!(s.registered_delivery));
    o.insert("msg_level".into(), json!(s.msg_level));
    o.insert("service_id".into(), os(&s.service_id));
    o.insert("fee_user_type".into(), json!(s.fee_user_type));
    o.insert("fee_terminal_id".into(), os(&s.fee_terminal_id));
    if v3 {
        o.insert("fee_terminal_type".into(), json!(s.fee_terminal_type));
    }
    o.insert("tp_pid".into(), json!(s.tp_pid));
    o.insert("tp_udhi".into(), json!(s.tp_udhi));
    o.insert("msg_fmt".into(), json!(s.msg_fmt));
    o.insert("msg_src".into(), os(&s.msg_src));
    o.insert("fee_type".into(), os(&s.fee_type));
    o.insert("fee_code".into(), os(&s.fee_code));
    o.insert("valid_time".into(), os(&s.valid_time));
    o.insert("at_time".into(), os(&s.at_time));
    o.insert("src_id".into(), os(&s.src_id));
    o.insert("dest_usr_tl".into(), json!(s.dest_terminal_ids.len()));
    o.insert(
        "dest_terminal_ids".into(),
        Value::Array(s.dest_terminal_ids.iter().map(|d| os(d)).collect()),
    );
    if v3 {
        o.insert("dest_terminal_type".into(), json!(s.dest_terminal_type));
    }
    content(&mut o, s.msg_fmt, &s.msg_content);
    o.insert("link_id".into(), os(&s.link_id));
    Value::Object(o)
}

fn report(r: &Report) -> Value {
    json!({
        "msg_id": r.msg_id.0,
        "stat": os(&r.stat),
        "submit_time": os(&r.submit_time),
        "done_time": os(&r.done_time),
        "dest_terminal_id": os(&r.dest_terminal_id),
        "smsc_sequence": r.smsc_sequence,
    })
}

fn deliver(d: &Deliver, v3: bool) -> Value {
    let mut o = Map::new();
    o.insert("msg_id".into(), json!(d.msg_id.0));
    o.insert("dest_id".into(), os(&d.dest_id));
    o.insert("service_id".into(), os(&d.service_id));
    o.insert("tp_pid".into(), json!(d.tp_pid));
    o.insert("tp_udhi".into(), json!(d.tp_udhi));
    o.insert("msg_fmt".into(), json!(d.msg_fmt));
    o.insert("src_terminal_id".into(), os(&d.src_terminal_id));
    if v3 {
        o.insert("src_terminal_type".into(), json!(d.src_terminal_type));
    }
    o.insert("registered_delivery".into(), json!(d.registered_delivery));
    content(&mut o, d.msg_fmt, &d.msg_content);
    if let Some(r) = d.report() {
        o.insert(
            "report".into(),
            match r {
                Ok(r) => report(&r),
                Err(e) => json!({ "error": e.to_string() }),
            },
        );
    }
    o.insert("link_id".into(), os(&d.link_id));
    Value::Object(o)
}

/// A PDU as JSON; 3.0-only fields are shown only for the 3.0 layout.
pub(crate) fn pdu_json(p: &Pdu, v3: bool) -> Value {
    let body = match &p.body {
        Body::Connect(c) => json!({
            "source_addr": os(&c.source_addr),
            "authenticator_source": hex(&c.authenticator_source),
            "version": c.version.0,
            "timestamp": c.timestamp,
        }),
        Body::ConnectResp(c) => json!({
            "status": c.status.0,
            "authenticator_ismg": hex(&c.authenticator_ismg),
            "version": c.version.0,
        }),
        Body::Submit(s) => submit(s, v3),
        Body::SubmitResp(r) => json!({ "msg_id": r.msg_id.0, "result": r.result.0 }),
        Body::Deliver(d) => deliver(d, v3),
        Body::DeliverResp(r) => json!({ "msg_id": r.msg_id.0, "result": r.result.0 }),
        Body::Query(q) => json!({
            "time": os(&q.time), "query_type": q.query_type, "query_code": os(&q.query_code), "reserve": os(&q.reserve),
        }),
        Body::QueryResp(q) => json!({
            "time": os(&q.time), "query_type": q.query_type, "query_code": os(&q.query_code),
            "mt_tlmsg": q.mt_tl_msg, "mt_tlusr": q.mt_tl_usr, "mt_scs": q.mt_scs, "mt_wt": q.mt_wt,
            "mt_fl": q.mt_fl, "mo_scs": q.mo_scs, "mo_wt": q.mo_wt, "mo_fl": q.mo_fl,
        }),
        Body::Cancel(c) => json!({ "msg_id": c.msg_id.0 }),
        Body::CancelResp(c) => json!({ "success_id": c.success_id }),
        Body::ActiveTestResp { reserved } => json!({ "reserved": reserved }),
        Body::Terminate | Body::TerminateResp | Body::ActiveTest => json!({}),
        Body::Unknown { body, .. } => json!({ "hex": hex(body) }),
    };
    let id = p.body.command_id();
    json!({
        "command": id.name().unwrap_or("UNKNOWN"),
        "command_id": format!("{:#010x}", id.0),
        "sequence_id": p.sequence_id.0,
        "body": body,
    })
}

pub(crate) struct CmppJson(pub(crate) CmppCodec);

impl JsonDecoder for CmppJson {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        let v3 = self.0.version().is_v3();
        Ok(self.0.decode(src)?.map(|p| pdu_json(&p, v3)))
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        let v3 = self.0.version().is_v3();
        Ok(self.0.decode_eof(src)?.map(|p| pdu_json(&p, v3)))
    }
}
