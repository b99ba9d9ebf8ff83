//! Both SMS gateways over TLS: an ESME binds to the SMSC and an SP logs in to the ISMG,
//! each through rustls, and a submit is answered with a message id. Certificates are
//! made by rcgen for the test.
#![cfg(feature = "tls")]

use std::time::Duration;

use packwire_codecs::cmpp::Version;
use packwire_net::tls::{TlsAcceptor, TlsClientConfig, TlsConnector, TlsServerConfig, rustls};
use packwire_sms::cmpp::{Account as CmppAccount, Ismg, IsmgConfig, Outgoing, SpClient, SpConfig};
use packwire_sms::gateway::{Gateway, GatewayConfig, Login};
use packwire_sms::session::smpp::{Esme, SmscProtocol};
use packwire_sms::session::{Account, Message, SmscConfig};
use packwire_sms::smpp::Smsc;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const WAIT: Duration = Duration::from_secs(10);

/// A server acceptor for `localhost` and a client connector trusting its CA.
fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let acceptor = TlsServerConfig::new(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(issuer.der().clone()).unwrap();
    let connector = TlsClientConfig::with_roots(roots)
        .server_name("localhost")
        .unwrap()
        .build()
        .unwrap();
    (acceptor, connector)
}

#[tokio::test]
async fn an_esme_submits_to_the_smsc_over_tls() {
    let (acceptor, connector) = tls_pair();
    let cfg = SmscConfig::new(vec![Account::new("esme01", "secret")]);
    let smsc = Smsc::bind_tls("127.0.0.1:0", cfg, SmscProtocol::new(0), acceptor.clone())
        .await
        .unwrap();
    let mut gw = GatewayConfig::new(
        vec![smsc.local_addr()],
        Login::Smpp(Esme::transceiver("esme01", "secret")),
    );
    gw.tls = Some(connector);
    let gw = Gateway::connect(gw);
    let ids = gw
        .send_wait(&Message::new("13800138000", "over tls"), WAIT)
        .await
        .expect("accepted");
    assert_eq!(ids.len(), 1);
    assert_eq!(acceptor.stats().ok(), 1);
    gw.shutdown(Duration::from_secs(1)).await;
    smsc.shutdown().await;
}

#[tokio::test]
async fn an_sp_submits_to_the_ismg_over_tls() {
    let (acceptor, connector) = tls_pair();
    let cfg = IsmgConfig::new(vec![CmppAccount::new("901234", "secret")]).tls(acceptor.clone());
    let ismg = Ismg::bind("127.0.0.1:0", cfg).await.unwrap();
    let sp = SpClient::connect(
        SpConfig::new(ismg.local_addr(), "901234", "secret", Version::V30).tls(connector),
    )
    .await
    .unwrap();
    let ids = sp
        .submit(&Outgoing::text("13800138000", "你好, tls"))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(acceptor.stats().ok(), 1);
    sp.terminate().await;
    ismg.shutdown().await;
}
