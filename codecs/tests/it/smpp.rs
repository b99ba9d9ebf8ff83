//! SMPP 3.4: vectors from an independent encoder (PyPI smpplib 2.2.4, made by
//! `scripts/smpp_vectors.py`), the tolerances, the rejections, and generated PDUs of every
//! kind through the test kit.

use bytes::{Bytes, BytesMut};
use packwire_codecs::smpp::*;
use packwire_core::testkit::Kit;
use packwire_core::{Exchange, Role};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use crate::unhex;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

macro_rules! vector {
    ($name:literal) => {
        unhex(include_str!(concat!("../data/smpp/", $name, ".hex")))
    };
}

fn decode_one(wire: &[u8]) -> Pdu {
    let mut buf = BytesMut::from(wire);
    let pdu = SmppCodec::new()
        .decode(&mut buf)
        .unwrap()
        .expect("a whole PDU");
    assert!(buf.is_empty(), "one PDU, nothing after it");
    pdu
}

fn encode(pdu: &Pdu) -> Vec<u8> {
    let mut out = BytesMut::new();
    SmppCodec::new().encode(pdu, &mut out).unwrap();
    out.to_vec()
}

/// Decodes the vector to `want` and encodes `want` back to the vector's bytes.
fn check(wire: &[u8], want: &Pdu) {
    assert_eq!(&decode_one(wire), want);
    assert_eq!(encode(want), wire, "re-encoded byte for byte");
}

fn submit() -> Sm {
    Sm {
        source: Address {
            ton: 5,
            npi: 0,
            addr: b("packwire"),
        },
        dest: Address::international(b("8613800138000")),
        registered_delivery: 1,
        ..Sm::new(Address::default(), Address::default(), 0, "hello")
    }
}

#[test]
fn smpplib_vectors_decode_and_re_encode_byte_exact() {
    check(
        &vector!("bind_transceiver"),
        &Pdu::new(1, Body::BindTransceiver(Bind::new("esme01", "secret"))),
    );
    check(
        &vector!("bind_transceiver_resp"),
        &Pdu::new(
            1,
            Body::BindTransceiverResp(BindResp {
                system_id: b("SMSC"),
                tlvs: Tlvs::default(),
            }),
        ),
    );
    check(
        &vector!("submit_sm"),
        &Pdu::new(2, Body::SubmitSm(submit())),
    );
    check(
        &vector!("submit_sm_resp"),
        &Pdu::new(2, Body::SubmitSmResp(SmResp::new("0a1b2c3d"))),
    );
    check(&vector!("enquire_link"), &Pdu::new(4, Body::EnquireLink));
    check(&vector!("unbind"), &Pdu::new(5, Body::Unbind));
    check(
        &vector!("deliver_sm_resp"),
        &Pdu::new(6, Body::DeliverSmResp(SmResp::default())),
    );
    check(&vector!("generic_nack"), &Pdu::new(9, Body::GenericNack));
    check(
        &vector!("query_sm"),
        &Pdu::new(
            10,
            Body::QuerySm(QuerySm {
                message_id: b("0a1b2c3d"),
                source: Address::international(b("8613800138000")),
            }),
        ),
    );
}

#[test]
fn smpplib_vectors_with_tlvs_keep_them_in_order_and_typed() {
    let Body::SubmitSm(sar) = decode_one(&vector!("submit_sm_sar")).body else {
        panic!("a submit_sm")
    };
    assert_eq!(sar.tlvs.sar(), Some((0x1234, 2, 1)));
    let tags: Vec<Tag> = sar.tlvs.0.iter().map(|t| t.tag).collect();
    assert_eq!(
        tags,
        [
            Tag::SAR_MSG_REF_NUM,
            Tag::SAR_TOTAL_SEGMENTS,
            Tag::SAR_SEGMENT_SEQNUM
        ]
    );
    assert_eq!(
        (sar.data_coding, &sar.short_message[..]),
        (8, &[0x4f, 0x60][..])
    );
    assert_eq!(
        encode(&Pdu::new(3, Body::SubmitSm(sar))),
        vector!("submit_sm_sar")
    );

    let wire = vector!("submit_sm_payload");
    let Body::SubmitSm(p) = decode_one(&wire).body else {
        panic!("a submit_sm")
    };
    assert!(p.short_message.is_empty());
    assert_eq!(p.payload(), &Bytes::from(vec![b'x'; 300]));
    assert_eq!(encode(&Pdu::new(7, Body::SubmitSm(p))), wire);

    let wire = vector!("deliver_sm_receipt");
    let pdu = decode_one(&wire);
    let Body::DeliverSm(r) = &pdu.body else {
        panic!("a deliver_sm")
    };
    assert!(r.is_receipt());
    assert_eq!(r.tlvs.receipted_message_id(), Some(&b"0a1b2c3d"[..]));
    assert_eq!(r.tlvs.message_state(), Some(2));
    assert!(r.short_message.starts_with(b"id:0a1b2c3d sub:001"));
    assert_eq!(encode(&pdu), wire);

    let wire = vector!("data_sm");
    let pdu = decode_one(&wire);
    let Body::DataSm(d) = &pdu.body else {
        panic!("a data_sm")
    };
    assert_eq!(d.tlvs.message_payload(), Some(&b("data")));
    assert_eq!(encode(&pdu), wire);
}

#[test]
fn every_vector_decodes_the_same_in_every_chunking() {
    let names = [
        vector!("bind_transceiver"),
        vector!("submit_sm"),
        vector!("submit_sm_sar"),
        vector!("deliver_sm_receipt"),
        vector!("enquire_link"),
        vector!("submit_sm_payload"),
        vector!("data_sm"),
        vector!("unbind"),
    ];
    let wire: Vec<u8> = names.concat();
    let expected: Vec<Pdu> = names.iter().map(|v| decode_one(v)).collect();
    Kit::new(SmppCodec::new).decodes(&wire, &expected);
}

#[test]
fn unknown_tags_are_kept_byte_exact_and_unknown_commands_as_bytes() {
    // submit_sm with a vendor TLV (0x1400) and a known tag of the wrong size after it
    let mut wire = vector!("submit_sm");
    wire.extend_from_slice(&[0x14, 0x00, 0x00, 0x03, 0xaa, 0xbb, 0xcc]);
    wire.extend_from_slice(&[0x02, 0x0c, 0x00, 0x01, 0x07]); // sar_msg_ref_num of 1 byte
    let len = wire.len() as u32;
    wire[..4].copy_from_slice(&len.to_be_bytes());
    let pdu = decode_one(&wire);
    let Body::SubmitSm(s) = &pdu.body else {
        panic!("a submit_sm")
    };
    assert_eq!(
        s.tlvs.get(Tag(0x1400)),
        Some(&Bytes::from_static(&[0xaa, 0xbb, 0xcc]))
    );
    assert_eq!(
        s.tlvs.u16(Tag::SAR_MSG_REF_NUM),
        None,
        "the typed view refuses it"
    );
    assert_eq!(s.tlvs.get(Tag::SAR_MSG_REF_NUM).map(|v| v.len()), Some(1));
    // strict encoding refuses the wrong size; without it the rest re-encodes exactly
    let mut out = BytesMut::new();
    assert!(SmppCodec::new().encode(&pdu, &mut out).is_err());
    assert!(out.is_empty(), "nothing written for a refused PDU");
    let mut fixed = s.clone();
    fixed.tlvs.0.pop();
    let mut want = wire.clone();
    want.truncate(wire.len() - 5);
    let len = want.len() as u32;
    want[..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(encode(&Pdu::new(2, Body::SubmitSm(fixed))), want);

    let unknown = unhex("00000014 00000199 00000000 00000003 deadbeef");
    let pdu = decode_one(&unknown);
    assert_eq!(
        pdu.body,
        Body::Unknown {
            command_id: CommandId(0x199),
            body: Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])
        }
    );
    assert_eq!(pdu.command_id().name(), None);
    assert_eq!(encode(&pdu), unknown);
}

#[test]
fn a_failed_responses_body_may_be_missing() {
    // submit_sm_resp with ESME_RTHROTTLED and no body, as the spec has it
    let wire = unhex("00000010 80000004 00000058 00000002");
    let pdu = decode_one(&wire);
    assert_eq!(pdu.command_status, CommandStatus::ESME_RTHROTTLED);
    assert!(pdu.command_status.is_transient());
    assert_eq!(pdu.body, Body::SubmitSmResp(SmResp::default()));
    // and the encoder leaves an empty body out when the status is not 0
    assert_eq!(encode(&pdu), wire);
    let mut with_id = pdu.clone();
    with_id.body = Body::SubmitSmResp(SmResp::new("kept"));
    assert_eq!(
        decode_one(&encode(&with_id)),
        with_id,
        "a body given is written"
    );
    // a failed bind answer too; one that carries its body anyway is read
    let bind = unhex("00000015 80000002 0000000e 00000001 534d534300");
    let Body::BindTransmitterResp(r) = decode_one(&bind).body else {
        panic!("a bind_transmitter_resp")
    };
    assert_eq!(r.system_id, b("SMSC"));
    assert_eq!(
        CommandStatus::ESME_RINVPASWD.to_string(),
        "ESME_RINVPASWD (0x0e)"
    );
}

#[test]
fn malformed_bodies_are_typed_errors_naming_the_field() {
    // a system_id of 16 bytes without its NUL
    let mut bind = unhex("00000000 00000009 00000000 00000001");
    bind.extend_from_slice(b"0123456789abcdef\0pw\0\0\x34\0\0\0");
    let len = bind.len() as u32;
    bind[..4].copy_from_slice(&len.to_be_bytes());
    Kit::new(SmppCodec::new).rejects(
        &bind,
        &[],
        "malformed: system_id has no NUL within its 16 bytes",
    );
    // a short_message running past the end of the PDU
    let mut s = vector!("submit_sm");
    let n = s.len();
    s[n - 6] = 200; // sm_length
    Kit::new(SmppCodec::new).rejects(&s, &[], "short: short_message");
    // an enquire_link with a body
    let e = unhex("00000011 00000015 00000000 00000004 00");
    Kit::new(SmppCodec::new).rejects(&e, &[], "malformed: enquire_link has no body");
    // a command_length below the header, or over the maximum
    Kit::new(SmppCodec::new).rejects(
        &unhex("0000000f 00000015 00000000 00000001"),
        &[],
        "too_short",
    );
    let big = unhex("00ffffff 00000004 00000000 00000001");
    Kit::new(SmppCodec::new).rejects(&big, &[], "too_large");
    // a dest_flag that is neither 1 nor 2
    let mut m = unhex("00000000 00000021 00000000 00000001");
    m.extend_from_slice(b"\0\x00\x001\0\x01\x03");
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_be_bytes());
    Kit::new(SmppCodec::new).rejects(&m, &[], "malformed: dest_flag must be 1 (SME) or 2 (list)");
    // a PDU decoded before the bad one comes out first
    let mut two = vector!("enquire_link");
    two.extend_from_slice(&e);
    Kit::new(SmppCodec::new).rejects(&two, &[decode_one(&vector!("enquire_link"))], "malformed");
}

#[test]
fn a_claimed_length_reserves_no_more_than_the_bound() {
    Kit::new(SmppCodec::new).bounded_memory(&[0x00, 0x01, 0x1f, 0xff], 4096);
}

#[test]
fn the_encoder_is_strict() {
    let refuse = |pdu: Pdu, why: &str| {
        let mut out = BytesMut::from(&b"kept"[..]);
        let e = SmppCodec::new().encode(&pdu, &mut out).unwrap_err();
        assert!(e.to_string().contains(why), "{e} does not say {why:?}");
        assert_eq!(&out[..], b"kept");
    };
    refuse(
        Pdu::new(
            1,
            Body::BindTransmitter(Bind::new("0123456789abcdef", "pw")),
        ),
        "system_id must be shorter than 16 bytes",
    );
    refuse(
        Pdu::new(1, Body::BindTransmitter(Bind::new("a\0b", "pw"))),
        "system_id",
    );
    let mut s = submit();
    s.schedule_delivery_time = b("2612031200");
    refuse(
        Pdu::new(1, Body::SubmitSm(s)),
        "schedule_delivery_time must be empty or 16",
    );
    let mut s = submit();
    s.short_message = Bytes::from(vec![b'x'; 255]);
    refuse(Pdu::new(1, Body::SubmitSm(s)), "longer than 254");
    let mut s = submit();
    s.tlvs.push(Tag::MESSAGE_PAYLOAD, b("more"));
    refuse(Pdu::new(1, Body::SubmitSm(s)), "must not both carry");
    let mut s = submit();
    s.tlvs.push(Tag::SAR_TOTAL_SEGMENTS, vec![1, 2]);
    refuse(Pdu::new(1, Body::SubmitSm(s)), "size its tag requires");
    refuse(Pdu::new(0, Body::EnquireLink), "sequence_number");
    refuse(Pdu::new(0x8000_0000, Body::EnquireLink), "sequence_number");
    refuse(
        Pdu {
            command_status: CommandStatus::ESME_RSYSERR,
            ..Pdu::new(1, Body::EnquireLink)
        },
        "command_status must be 0",
    );
    refuse(
        Pdu::new(1, Body::SubmitMulti(SubmitMulti::default())),
        "1 to 254 destinations",
    );
    let big = SmppCodec::with_max_pdu(64);
    let mut s = submit();
    s.short_message = Bytes::from(vec![b'x'; 100]);
    let mut out = BytesMut::new();
    assert!(matches!(
        { big }.encode(Pdu::new(1, Body::SubmitSm(s)), &mut out),
        Err(packwire_core::EncodeError::TooLarge { .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn requests_and_responses_pair_by_sequence_number() {
    let req = Pdu::new(5, Body::SubmitSm(submit()));
    assert_eq!(req.role(), Role::Request(5));
    let resp = req.answer(
        CommandStatus::ESME_ROK,
        Body::SubmitSmResp(SmResp::new("1")),
    );
    assert_eq!(resp.role(), Role::Response(5));
    assert_eq!(
        Pdu::generic_nack(5, CommandStatus::ESME_RINVCMDID).role(),
        Role::Response(5)
    );
    assert_eq!(
        Pdu::new(1, Body::Outbind(Outbind::default())).role(),
        Role::Other
    );
    let check = Pdu::link_check(0x8000_0003).unwrap();
    assert_eq!(check.body, Body::EnquireLink);
    assert_eq!(
        check.sequence_number, 3,
        "numbers stay within 1..=0x7FFFFFFF"
    );
    let mut p = Pdu::new(1, Body::EnquireLink);
    p.set_sequence(0x8000_0000);
    assert_eq!(p.sequence_number, 1);
    let answer = check.answer_link_check().unwrap();
    assert_eq!(
        (answer.body, answer.sequence_number),
        (Body::EnquireLinkResp, 3)
    );
    assert!(Pdu::new(1, Body::Unbind).answer_link_check().is_none());
}

fn cstr(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(prop_oneof![b'0'..=b'9', b'a'..=b'z'], 0..max).prop_map(Bytes::from)
}

fn time() -> impl Strategy<Value = Bytes> {
    prop_oneof![Just(Bytes::new()), Just(b("261203120000000+"))]
}

fn address(max: usize) -> impl Strategy<Value = Address> {
    (any::<u8>(), any::<u8>(), cstr(max)).prop_map(|(ton, npi, addr)| Address { ton, npi, addr })
}

fn tlvs() -> impl Strategy<Value = Tlvs> {
    let one = prop_oneof![
        any::<u16>().prop_map(|r| Tlv {
            tag: Tag::SAR_MSG_REF_NUM,
            value: Bytes::copy_from_slice(&r.to_be_bytes())
        }),
        any::<u8>().prop_map(|s| Tlv {
            tag: Tag::MESSAGE_STATE,
            value: Bytes::copy_from_slice(&[s])
        }),
        cstr(64).prop_map(|id| {
            let mut v = id.to_vec();
            v.push(0);
            Tlv {
                tag: Tag::RECEIPTED_MESSAGE_ID,
                value: Bytes::from(v),
            }
        }),
        (
            0x1400u16..0x3fff,
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(t, v)| Tlv {
                tag: Tag(t),
                value: Bytes::from(v)
            }),
    ];
    proptest::collection::vec(one, 0..4).prop_map(Tlvs)
}

fn sm() -> impl Strategy<Value = Sm> {
    (
        (cstr(6), address(21), address(21)),
        (any::<u8>(), any::<u8>(), any::<u8>(), time(), time()),
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
        proptest::collection::vec(any::<u8>(), 0..=254),
        tlvs(),
    )
        .prop_map(
            |((st, s, d), (e, p, pr, sch, val), (rd, rep, dc, def), m, tlvs)| Sm {
                service_type: st,
                source: s,
                dest: d,
                esm_class: e,
                protocol_id: p,
                priority_flag: pr,
                schedule_delivery_time: sch,
                validity_period: val,
                registered_delivery: rd,
                replace_if_present_flag: rep,
                data_coding: dc,
                sm_default_msg_id: def,
                short_message: Bytes::from(m),
                tlvs,
            },
        )
}

fn bind() -> impl Strategy<Value = Bind> {
    (
        cstr(16),
        cstr(9),
        cstr(13),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        cstr(41),
    )
        .prop_map(|(a, b, c, d, e, f, g)| Bind {
            system_id: a,
            password: b,
            system_type: c,
            interface_version: d,
            addr_ton: e,
            addr_npi: f,
            address_range: g,
        })
}

fn body() -> impl Strategy<Value = Body> {
    let dest = prop_oneof![
        address(21).prop_map(Dest::Sme),
        cstr(21).prop_map(Dest::List)
    ];
    let multi = (address(21), proptest::collection::vec(dest, 1..5), sm()).prop_map(
        |(source, dests, s)| SubmitMulti {
            service_type: s.service_type,
            source,
            dests,
            esm_class: s.esm_class,
            protocol_id: s.protocol_id,
            priority_flag: s.priority_flag,
            schedule_delivery_time: s.schedule_delivery_time,
            validity_period: s.validity_period,
            registered_delivery: s.registered_delivery,
            replace_if_present_flag: s.replace_if_present_flag,
            data_coding: s.data_coding,
            sm_default_msg_id: s.sm_default_msg_id,
            short_message: s.short_message,
            tlvs: s.tlvs,
        },
    );
    let unsuccess = proptest::collection::vec(
        (address(21), any::<u32>()).prop_map(|(dest, error_status_code)| Unsuccess {
            dest,
            error_status_code,
        }),
        0..4,
    );
    prop_oneof![
        bind().prop_map(Body::BindTransmitter),
        bind().prop_map(Body::BindReceiver),
        bind().prop_map(Body::BindTransceiver),
        (cstr(16), tlvs())
            .prop_map(|(system_id, tlvs)| Body::BindTransceiverResp(BindResp { system_id, tlvs })),
        (cstr(16), cstr(9)).prop_map(|(system_id, password)| Body::Outbind(Outbind {
            system_id,
            password
        })),
        Just(Body::Unbind),
        Just(Body::UnbindResp),
        sm().prop_map(Body::SubmitSm),
        sm().prop_map(Body::DeliverSm),
        cstr(65).prop_map(|m| Body::SubmitSmResp(SmResp::new(m))),
        Just(Body::DeliverSmResp(SmResp::default())),
        multi.prop_map(Body::SubmitMulti),
        (cstr(65), unsuccess).prop_map(|(message_id, unsuccess)| Body::SubmitMultiResp(
            SubmitMultiResp {
                message_id,
                unsuccess
            }
        )),
        (
            cstr(6),
            address(65),
            address(65),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            tlvs()
        )
            .prop_map(
                |(
                    service_type,
                    source,
                    dest,
                    esm_class,
                    registered_delivery,
                    data_coding,
                    tlvs,
                )| Body::DataSm(DataSm {
                    service_type,
                    source,
                    dest,
                    esm_class,
                    registered_delivery,
                    data_coding,
                    tlvs
                })
            ),
        (cstr(65), tlvs())
            .prop_map(|(message_id, tlvs)| Body::DataSmResp(SmResp { message_id, tlvs })),
        (cstr(65), address(21))
            .prop_map(|(message_id, source)| Body::QuerySm(QuerySm { message_id, source })),
        (cstr(65), time(), any::<u8>(), any::<u8>()).prop_map(
            |(message_id, final_date, message_state, error_code)| {
                Body::QuerySmResp(QuerySmResp {
                    message_id,
                    final_date,
                    message_state,
                    error_code,
                })
            }
        ),
        (cstr(6), cstr(65), address(21), address(21)).prop_map(
            |(service_type, message_id, source, dest)| {
                Body::CancelSm(CancelSm {
                    service_type,
                    message_id,
                    source,
                    dest,
                })
            }
        ),
        Just(Body::CancelSmResp),
        (
            cstr(65),
            address(21),
            time(),
            time(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..=254)
        )
            .prop_map(
                |(message_id, source, s, v, rd, d, m)| Body::ReplaceSm(ReplaceSm {
                    message_id,
                    source,
                    schedule_delivery_time: s,
                    validity_period: v,
                    registered_delivery: rd,
                    sm_default_msg_id: d,
                    short_message: Bytes::from(m)
                })
            ),
        Just(Body::ReplaceSmResp),
        Just(Body::EnquireLink),
        Just(Body::EnquireLinkResp),
        Just(Body::GenericNack),
        (address(65), address(65), tlvs()).prop_map(
            |(source, esme, tlvs)| Body::AlertNotification(AlertNotification {
                source,
                esme,
                tlvs
            })
        ),
    ]
}

fn pdus() -> impl Strategy<Value = Vec<Pdu>> {
    let pdu = (1u32..=0x7fff_ffff, body(), any::<u32>()).prop_map(|(seq, body, status)| {
        let mut p = Pdu::new(seq, body);
        if p.command_id().is_response()
            && !matches!(p.body, Body::SubmitSmResp(_) | Body::BindTransceiverResp(_))
        {
            p.command_status = CommandStatus(status);
        }
        p
    });
    proptest::collection::vec(pdu, 0..6)
}

#[test]
fn generated_pdus_of_every_kind_round_trip_under_random_chunking() {
    Kit::new(SmppCodec::new)
        .random_cases(128)
        .round_trip(pdus());
}

fn reassemble(parts: &[Sm]) -> String {
    use packwire_codecs::sms::Parts;
    let mut p: Parts<u8> = Parts::new(std::time::Duration::from_secs(60), 16);
    let now = std::time::Instant::now();
    let mut out = None;
    // in reverse: the order they arrive in must not matter
    for sm in parts.iter().rev() {
        let (at, payload) = part_of(sm);
        let at = at.expect("a part of a long message");
        if let Some(whole) = p.push(
            now,
            &sm.source.addr,
            &sm.dest.addr,
            at,
            sm.data_coding,
            payload,
        ) {
            out = Some(
                whole
                    .iter()
                    .map(|(dc, b)| Coding::from_data_coding(*dc).unwrap().decode(b))
                    .collect::<String>(),
            );
        }
    }
    out.expect("every part arrived")
}

#[test]
fn long_texts_split_by_udh_sar_or_payload_and_come_back_whole() {
    use packwire_codecs::sms::UdhRef;
    let template = Sm::new(Address::new("10086"), Address::new("13800138000"), 0, "");
    // GSM 7-bit: 153 septets a part; an extension character's two septets are never cut
    let text = format!("{}€{}", "a".repeat(152), "b".repeat(100));
    let parts = split_sm(
        &text,
        Coding::Gsm7,
        LongMode::Udh(UdhRef::Eight(1)),
        &template,
    )
    .unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0].short_message.len(),
        6 + 152,
        "the € moved to part 2"
    );
    assert_eq!(&parts[1].short_message[6..8], &[0x1b, 0x65]);
    assert_eq!(reassemble(&parts), text);
    // UCS2 with a 16-bit reference: 66 units a part (132 bytes); pairs stay whole
    let text = "😀".repeat(40);
    let parts = split_sm(
        &text,
        Coding::Ucs2,
        LongMode::Udh(UdhRef::Sixteen(0x1234)),
        &template,
    )
    .unwrap();
    assert!(parts.iter().all(|p| p.udhi() && p.data_coding == 8));
    assert!(
        parts.iter().all(|p| (p.short_message.len() - 7) % 4 == 0),
        "whole pairs only"
    );
    assert_eq!(reassemble(&parts), text);
    // SAR: the parameters instead of a header
    let text = "x".repeat(300);
    let parts = split_sm(&text, Coding::Latin1, LongMode::Sar(77), &template).unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| !p.udhi()));
    assert_eq!(parts[2].tlvs.sar(), Some((77, 3, 3)));
    assert_eq!(reassemble(&parts), text);
    // message_payload: one PDU, short_message empty, and it encodes
    let parts = split_sm(&text, Coding::Latin1, LongMode::Payload, &template).unwrap();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].short_message.is_empty());
    assert_eq!(parts[0].payload().len(), 300);
    assert!(!encode(&Pdu::new(1, Body::SubmitSm(parts[0].clone()))).is_empty());
    // what fits one message is one PDU without a header, whatever the mode
    let one = split_sm(
        "hi",
        Coding::Gsm7,
        LongMode::Udh(UdhRef::Eight(1)),
        &template,
    )
    .unwrap();
    assert_eq!(
        (one.len(), one[0].udhi(), &one[0].short_message[..]),
        (1, false, &b"hi"[..])
    );
    assert!(split_sm("好", Coding::Gsm7, LongMode::Payload, &template).is_err());
    assert_eq!(Coding::pick("hi €"), Coding::Gsm7);
    assert_eq!(Coding::pick("好"), Coding::Ucs2);
}

#[test]
fn a_part_with_both_a_header_and_sar_parameters_is_taken_by_its_header() {
    let mut sm = Sm::new(
        Address::new("1"),
        Address::new("2"),
        0,
        &[0x05, 0x00, 0x03, 9, 2, 1, b'a'][..],
    );
    sm.esm_class = ESM_UDHI;
    sm.tlvs.push(Tag::SAR_MSG_REF_NUM, vec![0, 5]);
    sm.tlvs.push(Tag::SAR_TOTAL_SEGMENTS, vec![3]);
    sm.tlvs.push(Tag::SAR_SEGMENT_SEQNUM, vec![3]);
    let (at, payload) = part_of(&sm);
    let at = at.unwrap();
    assert_eq!((at.reference, at.total, at.number), (9, 2, 1));
    assert_eq!(&payload[..], b"a");
    // a header that claims more than there is: no panic, no part
    let mut bad = sm.clone();
    bad.short_message = Bytes::from_static(&[0x20, 0x00]);
    assert_eq!(part_of(&bad), (None, Bytes::new()));
}

#[test]
fn receipts_are_read_from_the_tlvs_and_the_text_form() {
    let Body::DeliverSm(sm) = decode_one(&vector!("deliver_sm_receipt")).body else {
        panic!("a deliver_sm")
    };
    let r = Receipt::parse(&sm).expect("a receipt");
    assert_eq!(&r.id[..], b"0a1b2c3d");
    assert_eq!(r.state, Some(2));
    assert_eq!(&r.stat[..], b"DELIVRD");
    assert_eq!(
        (&r.sub[..], &r.dlvrd[..], &r.err[..]),
        (&b"001"[..], &b"001"[..], &b"000"[..])
    );
    assert_eq!(&r.submit_date[..], b"2612031200");
    assert_eq!(&r.text[..], b"hello");
    assert!(r.matches(b"0A1B2C3D"));
    // a text-only receipt from an SMSC that writes decimal ids and its own spelling
    let mut t = Sm::new(
        Address::new("1"),
        Address::new("2"),
        0,
        &b"id:4294967297 Sub:1 DLVRD:0 Submit_Date:2612031200 Done_Date:2612031300 Stat:UNDELIV Err:0x0B"[..],
    );
    t.esm_class = ESM_DELIVERY_RECEIPT;
    let r = Receipt::parse(&t).unwrap();
    assert_eq!((r.state, &r.err[..]), (Some(5), &b"0x0B"[..]));
    assert_eq!(&r.done_date[..], b"2612031300");
    assert!(
        r.matches(b"100000001"),
        "decimal 4294967297 is hex 100000001"
    );
    assert!(r.text.is_empty(), "no text: field");
    // network_error_code from its TLV
    t.tlvs.push(Tag::NETWORK_ERROR_CODE, vec![3, 0x00, 0x0b]);
    assert_eq!(Receipt::parse(&t).unwrap().network_error, Some((3, 11)));
    // an ordinary MO message is not a receipt
    let mo = Sm::new(Address::new("1"), Address::new("2"), 0, "hello id:1");
    assert!(Receipt::parse(&mo).is_none());
}
