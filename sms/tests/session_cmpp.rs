//! The session layer's CMPP side (`session::cmpp::Sp`) on the runtime against the CMPP
//! ISMG simulator: the same client session and events as SMPP's, another protocol.

use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::cmpp::{CmppCodec, Submit, Version};
use packwire_net::Backoff;
use packwire_sms::cmpp::{Account, Ismg, IsmgConfig};
use packwire_sms::session::cmpp::Sp;
use packwire_sms::session::{ClientConfig, Event, GatewayClient};
use tokio::time::timeout;

fn submit(text: &str) -> Box<Submit> {
    Box::new(Submit {
        pk_total: 1,
        pk_number: 1,
        registered_delivery: 1,
        msg_fmt: 0,
        msg_src: Bytes::from_static(b"901234"),
        src_id: Bytes::from_static(b"1069"),
        dest_terminal_ids: vec![Bytes::from_static(b"13800138000")],
        msg_content: Bytes::copy_from_slice(text.as_bytes()),
        ..Submit::default()
    })
}

#[tokio::test]
async fn a_cmpp_sp_on_the_session_layer_logs_in_submits_and_matches_its_reports() {
    let cfg =
        IsmgConfig::new(vec![Account::new("901234", "secret")]).reports(Duration::from_millis(20));
    let ismg = Ismg::bind("127.0.0.1:0", cfg).await.unwrap();
    let sp = GatewayClient::start(
        || CmppCodec::new(Version::V30),
        &[ismg.local_addr()],
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        Sp::new("901234", "secret", Version::V30),
        ClientConfig::default(),
    );
    let requests: Vec<_> = ["one", "two"]
        .iter()
        .map(|t| sp.submit(submit(t)))
        .collect();
    let (mut ids, mut reports) = (Vec::new(), Vec::new());
    let mut logged_in = false;
    while reports.len() < 2 {
        let e = timeout(Duration::from_secs(10), sp.next_event())
            .await
            .expect("an event in time")
            .expect("running");
        match e {
            Event::LoggedIn => logged_in = true,
            Event::Accepted { request, id } => {
                assert_eq!(request, requests[ids.len()]);
                ids.push(id);
            }
            Event::Report(r) => {
                assert!(r.delivered, "{r:?}");
                reports.push(r.id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(logged_in);
    ids.sort();
    reports.sort();
    assert_eq!(ids, reports, "each report names a Msg_Id the ISMG gave");
    sp.shutdown(Duration::from_secs(2)).await;
    ismg.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_a_refused_login() {
    let ismg = Ismg::bind(
        "127.0.0.1:0",
        IsmgConfig::new(vec![Account::new("901234", "secret")]),
    )
    .await
    .unwrap();
    let sp = GatewayClient::start(
        || CmppCodec::new(Version::V30),
        &[ismg.local_addr()],
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        Sp::new("901234", "nope", Version::V30),
        ClientConfig::default(),
    );
    let e = timeout(Duration::from_secs(10), sp.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e,
        Event::LoginRefused(3),
        "CMPP status 3: authentication error"
    );
    sp.shutdown(Duration::from_millis(100)).await;
    ismg.shutdown().await;
}
