//! The ESME client and the SMSC simulator over loopback TCP: bind, submits, receipts, MO
//! pushes, and a bind again after the SMSC drops the connection.

use std::time::Duration;

use packwire_codecs::smpp::{Address, Sm};
use packwire_net::CloseReason;
use packwire_sms::session::{Account, ClientConfig, Event, SmscConfig, SmscEvent};
use packwire_sms::smpp::{self, Esme, EsmeClient, Smsc};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn next(esme: &EsmeClient) -> Event {
    timeout(WAIT, esme.next_event())
        .await
        .expect("an event in time")
        .expect("the client runs")
}

/// Events until one matches `f`.
async fn until(esme: &EsmeClient, f: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = next(esme).await;
        let done = f(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn sm(text: &str) -> Sm {
    let mut m = Sm::new(
        Address::new("10086"),
        Address::new("13800138000"),
        0,
        text.to_string(),
    );
    m.registered_delivery = 1;
    m
}

#[tokio::test]
async fn an_esme_binds_submits_gets_receipts_and_mo_and_binds_again_after_a_drop() {
    let mut cfg = SmscConfig::new(vec![Account::new("esme01", "secret")]);
    cfg.report_after = Duration::from_millis(20);
    let smsc = Smsc::bind("127.0.0.1:0", cfg).await.unwrap();
    let esme = smpp::connect(
        &[smsc.local_addr()],
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
    );
    let requests: Vec<_> = ["a", "b", "c"].iter().map(|t| esme.submit(sm(t))).collect();
    assert_eq!(next(&esme).await, Event::LoggedIn);
    let mut ids = Vec::new();
    let mut reports = Vec::new();
    while reports.len() < 3 {
        match next(&esme).await {
            Event::Accepted { request, id } => {
                assert_eq!(request, requests[ids.len()], "answered in order");
                ids.push(id);
            }
            Event::Report(r) => {
                assert!(r.delivered);
                reports.push(r.id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    reports.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(reports, sorted, "a receipt for every id given");

    // an MO pushed to the bound account (bound before its bind_resp went)
    let pushed = smsc.push_mo("esme01", "13800138000", "10086", "hi").await;
    assert_eq!(pushed, 1);
    let got = until(&esme, |e| matches!(e, Event::Mo(_))).await;
    let Some(Event::Mo(mo)) = got.last() else {
        unreachable!()
    };
    assert_eq!(&mo.payload[..], b"hi");

    // the SMSC drops the connection: the client reconnects and binds again
    assert_eq!(
        smsc.server()
            .registry()
            .close_user("esme01", CloseReason::Kicked),
        1
    );
    until(&esme, |e| *e == Event::LoggedIn).await;
    let again = esme.submit(sm("d"));
    let got = until(&esme, |e| matches!(e, Event::Accepted { .. })).await;
    assert!(matches!(got.last(), Some(Event::Accepted { request, .. }) if *request == again));

    let mut bound = 0;
    while let Some(e) = smsc.try_event() {
        bound += usize::from(matches!(e, SmscEvent::LoggedIn { .. }));
    }
    assert_eq!(bound, 2);
    assert_eq!(esme.dropped_events(), 0);
    esme.shutdown(Duration::from_secs(2)).await;
    smsc.shutdown().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_its_status() {
    let smsc = Smsc::bind(
        "127.0.0.1:0",
        SmscConfig::new(vec![Account::new("esme01", "secret")]),
    )
    .await
    .unwrap();
    let esme = smpp::connect(
        &[smsc.local_addr()],
        Esme::transceiver("esme01", "nope"),
        ClientConfig::default(),
    );
    assert_eq!(
        next(&esme).await,
        Event::LoginRefused(packwire_codecs::smpp::CommandStatus::ESME_RINVPASWD.0)
    );
    esme.shutdown(Duration::from_millis(100)).await;
    smsc.shutdown().await;
}

/// An ESME that binds and then reads nothing: the SMSC's own enquire_link goes
/// unanswered and the SMSC closes the connection.
#[tokio::test]
async fn the_smsc_closes_an_esme_that_stops_answering_its_enquire_link() {
    use bytes::BytesMut;
    use packwire_codecs::smpp::{Bind, Body, Pdu, SmppCodec};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::codec::{Decoder, Encoder};

    let mut cfg = SmscConfig::new(vec![Account::new("esme01", "secret")]);
    cfg.link_check_after = Some(Duration::from_millis(300));
    cfg.link_check_timeout = Duration::from_millis(300);
    let smsc = Smsc::bind("127.0.0.1:0", cfg).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(smsc.local_addr())
        .await
        .unwrap();
    let mut codec = SmppCodec::new();
    let mut out = BytesMut::new();
    let bind = Bind::new("esme01", "secret");
    codec
        .encode(Pdu::new(1, Body::BindTransceiver(bind)), &mut out)
        .unwrap();
    tcp.write_all(&out).await.unwrap();
    // read what comes until the SMSC closes: the bind_resp, then its enquire_link
    let mut got = BytesMut::new();
    let closed = timeout(WAIT, async {
        loop {
            let mut buf = [0u8; 512];
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the SMSC closed the silent ESME");
    let mut bodies = Vec::new();
    while let Some(p) = codec.decode(&mut got).unwrap() {
        bodies.push(p.body);
    }
    assert!(matches!(bodies[0], Body::BindTransceiverResp(_)));
    assert!(bodies.iter().any(|b| matches!(b, Body::EnquireLink)));
    let mut lost = false;
    while let Some(e) = smsc.try_event() {
        lost |= e == SmscEvent::LinkLost;
    }
    assert!(lost, "the SMSC says why");
    smsc.shutdown().await;
}

/// A submit_sm with a TLV one byte short (as some ESMEs send): the tolerant SMSC takes
/// it, the strict one answers ESME_RINVPARLEN; both go on serving the connection.
#[tokio::test]
async fn a_strict_smsc_refuses_a_malformed_tlv_that_a_tolerant_one_takes() {
    use bytes::{BufMut, BytesMut};
    use packwire_codecs::smpp::{Bind, Body, CommandStatus, Pdu, SmppCodec, Tag};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::codec::{Decoder, Encoder};

    for strict in [false, true] {
        let mut protocol = smpp::SmscProtocol::new(0);
        protocol.strict = strict;
        let cfg = SmscConfig::new(vec![Account::new("esme01", "secret")]);
        let smsc = Smsc::bind_with("127.0.0.1:0", cfg, protocol).await.unwrap();
        let mut codec = SmppCodec::new();
        let mut out = BytesMut::new();
        codec
            .encode(
                Pdu::new(1, Body::BindTransceiver(Bind::new("esme01", "secret"))),
                &mut out,
            )
            .unwrap();
        // the submit with a one-byte sar_msg_ref_num, written by hand
        let mut good = BytesMut::new();
        let mut m = sm("odd");
        m.registered_delivery = 0;
        codec
            .encode(Pdu::new(2, Body::SubmitSm(m)), &mut good)
            .unwrap();
        let mut bad = BytesMut::new();
        bad.put_u32(good.len() as u32 + 5);
        bad.extend_from_slice(&good[4..]);
        bad.put_u16(Tag::SAR_MSG_REF_NUM.0);
        bad.put_u16(1);
        bad.put_u8(7);
        out.extend_from_slice(&bad);
        codec
            .encode(Pdu::new(3, Body::SubmitSm(sm("fine"))), &mut out)
            .unwrap();
        let mut tcp = tokio::net::TcpStream::connect(smsc.local_addr())
            .await
            .unwrap();
        tcp.write_all(&out).await.unwrap();
        let mut got = BytesMut::new();
        let mut answers = Vec::new();
        timeout(WAIT, async {
            while answers.len() < 3 {
                assert!(tcp.read_buf(&mut got).await.unwrap() > 0, "closed");
                while let Some(p) = codec.decode(&mut got).unwrap() {
                    answers.push((p.sequence_number, p.command_status));
                }
            }
        })
        .await
        .expect("three answers");
        let status = if strict {
            CommandStatus::ESME_RINVPARLEN
        } else {
            CommandStatus::ESME_ROK
        };
        assert_eq!(
            answers,
            [
                (1, CommandStatus::ESME_ROK),
                (2, status),
                (3, CommandStatus::ESME_ROK)
            ],
            "strict: {strict}"
        );
        drop(tcp);
        smsc.shutdown().await;
    }
}
