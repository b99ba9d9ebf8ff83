//! One application, two protocols: the same code sends through `Gateway` to the CMPP ISMG
//! simulator and to the SMPP SMSC simulator — message ids, long texts, reports by id, MO.

use std::future::Future;
use std::time::Duration;

use packwire_codecs::cmpp::Version;
use packwire_sms::cmpp::{Account as CmppAccount, Ismg, IsmgConfig};
use packwire_sms::gateway::{Gateway, GatewayConfig, Login};
use packwire_sms::session::cmpp::Sp;
use packwire_sms::session::smpp::Esme;
use packwire_sms::session::{Account, Event, Message, SendError, SmscConfig};
use packwire_sms::smpp::Smsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// What the application does, whatever the protocol: a short and a long text with
/// reports, each report found by the id its part got, then an MO message read.
async fn application<F: Future<Output = ()>>(gw: &Gateway, push_mo: impl FnOnce() -> F) {
    let short = Message::new("13800138000", "hello").with_report();
    let one = gw.send_wait(&short, WAIT).await.expect("accepted");
    assert_eq!(one.len(), 1);
    let long = Message::new("13800138000", "你好，世界。".repeat(25)).with_report();
    let three = gw.send_wait(&long, WAIT).await.expect("accepted");
    assert_eq!(three.len(), 3, "150 UCS2 characters are three parts");
    let mut all: Vec<_> = one.iter().chain(&three).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "every part has its own id");
    for id in &all {
        let r = gw.report_for(id, WAIT).await.expect("a report in time");
        assert!(r.delivered, "{r:?}");
        assert_eq!(&r.id, id);
    }
    // a report asked for again is still there
    assert!(gw.report_for(&all[0], Duration::ZERO).await.is_some());
    push_mo().await;
    let mo = timeout(WAIT, async {
        loop {
            match gw.next_event().await.expect("running") {
                Event::Mo(m) => return m,
                _ => continue,
            }
        }
    })
    .await
    .expect("the MO message in time");
    assert_eq!(mo.text.as_deref(), Some("hi from a phone"));
    assert_eq!(&mo.from[..], b"13800138000");
}

#[tokio::test]
async fn the_same_application_runs_over_cmpp() {
    let cfg = IsmgConfig::new(vec![CmppAccount::new("901234", "secret")])
        .reports(Duration::from_millis(50));
    let ismg = Ismg::bind("127.0.0.1:0", cfg).await.unwrap();
    let login = Login::Cmpp(Sp::new("901234", "secret", Version::V30));
    let gw = Gateway::connect(GatewayConfig::new(vec![ismg.local_addr()], login));
    application(&gw, || async {
        let n = ismg
            .push_mo("901234", "13800138000", "1069", "hi from a phone")
            .await
            .unwrap();
        assert_eq!(n, 1);
    })
    .await;
    gw.shutdown(Duration::from_secs(2)).await;
    ismg.shutdown().await;
}

#[tokio::test]
async fn the_same_application_runs_over_smpp() {
    let smsc = Smsc::bind(
        "127.0.0.1:0",
        SmscConfig::new(vec![Account::new("esme01", "secret")]),
    )
    .await
    .unwrap();
    let login = Login::Smpp(Esme::transceiver("esme01", "secret"));
    let gw = Gateway::connect(GatewayConfig::new(vec![smsc.local_addr()], login));
    application(&gw, || async {
        let n = smsc
            .push_mo("esme01", "13800138000", "10086", "hi from a phone")
            .await;
        assert_eq!(n, 1);
    })
    .await;
    gw.shutdown(Duration::from_secs(2)).await;
    smsc.shutdown().await;
}

#[tokio::test]
async fn a_refused_message_is_an_error_with_the_status() {
    // SMPP: a receiver may not submit, and the SMSC says so
    let smsc = Smsc::bind(
        "127.0.0.1:0",
        SmscConfig::new(vec![Account::new("esme01", "secret")]),
    )
    .await
    .unwrap();
    let login = Login::Smpp(Esme::receiver("esme01", "secret"));
    let gw = Gateway::connect(GatewayConfig::new(vec![smsc.local_addr()], login));
    let err = gw
        .send_wait(&Message::new("13800138000", "no"), WAIT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Rejected(packwire_codecs::smpp::CommandStatus::ESME_RINVBNDSTS.0)
    );
    gw.shutdown(Duration::from_secs(1)).await;
    smsc.shutdown().await;
}

/// An SMSC that answers the bind, then holds the first submit's answer until told.
async fn held_smsc(release: tokio::sync::oneshot::Receiver<()>) -> std::net::SocketAddr {
    use bytes::BytesMut;
    use packwire_codecs::smpp::{BindResp, Body, CommandStatus, SmResp, SmppCodec};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::codec::{Decoder, Encoder};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut codec = SmppCodec::new();
        let (mut rd, mut wr) = (BytesMut::new(), BytesMut::new());
        let mut release = Some(release);
        loop {
            while let Ok(Some(pdu)) = codec.decode(&mut rd) {
                let ok = CommandStatus::ESME_ROK;
                let answer = match &pdu.body {
                    Body::BindTransmitter(_) => {
                        pdu.answer(ok, Body::BindTransmitterResp(BindResp::default()))
                    }
                    Body::SubmitSm(_) => {
                        if let Some(r) = release.take() {
                            let _ = r.await;
                        }
                        pdu.answer(ok, Body::SubmitSmResp(SmResp::new("late")))
                    }
                    Body::EnquireLink => pdu.answer(ok, Body::EnquireLinkResp),
                    Body::Unbind => pdu.answer(ok, Body::UnbindResp),
                    _ => continue,
                };
                codec.encode(answer, &mut wr).unwrap();
                if tcp.write_all(&wr).await.is_err() {
                    return;
                }
                wr.clear();
            }
            match tcp.read_buf(&mut rd).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    addr
}

#[tokio::test]
async fn an_answer_after_the_wait_is_not_lost_it_comes_as_an_event() {
    let (release, held) = tokio::sync::oneshot::channel();
    let addr = held_smsc(held).await;
    let gw = Gateway::connect(GatewayConfig::new(
        vec![addr],
        Login::Smpp(Esme::transmitter("esme01", "secret")),
    ));
    let e = gw
        .send_wait(&Message::new("1", "x"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(e, SendError::NoAnswer);
    release.send(()).unwrap();
    let id = timeout(WAIT, async {
        loop {
            if let Some(Event::Accepted { id, .. }) = gw.next_event().await {
                return id;
            }
        }
    })
    .await
    .expect("the late answer comes as an event");
    assert_eq!(&id[..], b"late");
    gw.shutdown(Duration::from_secs(1)).await;
}
