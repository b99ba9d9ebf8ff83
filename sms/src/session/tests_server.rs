//! The client session against the gateway session, for SMPP and CMPP: both sans-IO, one
//! virtual clock, every PDU through the protocol's codec both ways.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use packwire_codecs::cmpp::{self, CmppCodec, Version};
use packwire_codecs::smpp::{self, Address, Body, CommandStatus, Sm, SmppCodec};
use tokio_util::codec::{Decoder, Encoder};

use super::cmpp::{IsmgIds, IsmgProtocol, Sp};
use super::smpp::{BindKind, Esme, SmscProtocol};
use super::{
    Account, ClientConfig, ClientSession, Event, EventOf, Message, Protocol, ServerConfig,
    ServerEvent, ServerProtocol, ServerSession, ServerShared,
};

fn smpp_wire(pdu: &smpp::Pdu) -> smpp::Pdu {
    let mut buf = BytesMut::new();
    SmppCodec::new()
        .encode(pdu, &mut buf)
        .expect("the session hands out valid PDUs");
    SmppCodec::new().decode(&mut buf).unwrap().unwrap()
}

fn cmpp_wire(pdu: &cmpp::Pdu) -> cmpp::Pdu {
    let mut buf = BytesMut::new();
    CmppCodec::new(Version::V30)
        .encode(pdu, &mut buf)
        .expect("the session hands out valid PDUs");
    CmppCodec::new(Version::V30)
        .decode(&mut buf)
        .unwrap()
        .unwrap()
}

/// A client session and a gateway session joined by a virtual wire.
struct Sessions<C: Protocol, S: ServerProtocol<Pdu = C::Pdu>> {
    now: Instant,
    client: ClientSession<C>,
    server: ServerSession<S>,
    wire: fn(&C::Pdu) -> C::Pdu,
    events: Vec<Event>,
    server_events: Vec<EventOf<S>>,
    /// the client reads nothing more (what the gateway sends is lost)
    deaf: bool,
    /// PDUs the gateway sent
    server_sent: Vec<C::Pdu>,
}

impl<C: Protocol, S: ServerProtocol<Pdu = C::Pdu>> Sessions<C, S> {
    fn new(
        client: C,
        cfg: ClientConfig,
        server: ServerSession<S>,
        wire: fn(&C::Pdu) -> C::Pdu,
    ) -> Self {
        let now = Instant::now();
        let mut client = ClientSession::new(client, cfg);
        client.connected(now);
        let mut s = Sessions {
            now,
            client,
            server,
            wire,
            events: Vec::new(),
            server_events: Vec::new(),
            deaf: false,
            server_sent: Vec::new(),
        };
        s.step();
        s
    }

    fn step(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(p) = self.client.poll_transmit() {
                self.server.handle(self.now, &(self.wire)(&p));
                moved = true;
            }
            while let Some(p) = self.server.poll_transmit() {
                if !self.deaf {
                    self.client.handle(self.now, &(self.wire)(&p));
                }
                self.server_sent.push(p);
                moved = true;
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            if !moved {
                return;
            }
        }
        panic!("the sessions never went quiet");
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|&t| t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.step();
        }
        self.now = end;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.step();
    }

    fn accepted(&self) -> Vec<Bytes> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Accepted { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }
}

fn smpp_shared(cfg: ServerConfig<Vec<BindKind>>) -> Arc<ServerShared<Vec<BindKind>>> {
    ServerShared::new(cfg)
}

fn smsc_cfg() -> ServerConfig<Vec<BindKind>> {
    ServerConfig::new(vec![Account::new("esme01", "secret")])
}

fn smsc(cfg: ServerConfig<Vec<BindKind>>) -> ServerSession<SmscProtocol> {
    ServerSession::new(smpp_shared(cfg), SmscProtocol::new(0x1000))
}

fn esme_pair(esme: Esme, cfg: ClientConfig, server: ServerSession<SmscProtocol>) -> Smpp {
    Sessions::new(esme, cfg, server, smpp_wire)
}

type Smpp = Sessions<Esme, SmscProtocol>;
type Cmpp = Sessions<Sp, IsmgProtocol>;

fn sm(text: &str) -> Sm {
    Sm::new(
        Address::new("10086"),
        Address::new("13800138000"),
        0,
        text.to_string(),
    )
}

#[test]
fn the_gateway_refuses_a_wrong_password_and_an_unknown_account() {
    let s = esme_pair(
        Esme::transceiver("esme01", "nope"),
        ClientConfig::default(),
        smsc(smsc_cfg()),
    );
    assert_eq!(
        s.events,
        [Event::LoginRefused(CommandStatus::ESME_RINVPASWD.0)]
    );
    let s = esme_pair(
        Esme::transceiver("who", "secret"),
        ClientConfig::default(),
        smsc(smsc_cfg()),
    );
    assert_eq!(
        s.events,
        [Event::LoginRefused(CommandStatus::ESME_RINVSYSID.0)]
    );
    assert_eq!(s.server.ending(), None, "an SMPP client may bind again");
    // a submit before any bind is refused for the bind state
    let mut smsc = smsc(smsc_cfg());
    smsc.handle(Instant::now(), &smpp::Pdu::new(1, Body::SubmitSm(sm("a"))));
    assert_eq!(
        smsc.poll_transmit().unwrap().command_status,
        CommandStatus::ESME_RINVBNDSTS
    );
}

#[test]
fn the_gateways_rate_throttles_and_the_client_retries_until_every_message_is_in_once() {
    let mut cfg = smsc_cfg();
    cfg.rate = Some(2);
    let mut s = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
        smsc(cfg),
    );
    for i in 0..5 {
        s.client.submit(s.now, sm(&format!("m{i}")));
    }
    s.step();
    s.advance(Duration::from_secs(10));
    let mut texts: Vec<Bytes> = s
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Submitted { request, .. } => match &request.body {
                Body::SubmitSm(sm) => Some(sm.short_message.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    texts.sort();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"], "each taken once");
    assert!(
        s.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Throttled { .. }))
    );
    assert_eq!(s.accepted().len(), 5);
}

#[test]
fn the_rate_is_the_accounts_over_all_its_sessions() {
    let mut cfg = smsc_cfg();
    cfg.rate = Some(3);
    let shared = smpp_shared(cfg);
    let mut a = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
        ServerSession::new(shared.clone(), SmscProtocol::new(0)),
    );
    let mut b = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
        ServerSession::new(shared.clone(), SmscProtocol::new(1 << 24)),
    );
    assert_eq!(shared.sessions(b"esme01"), 2);
    // the same instant for both: two submits on one session and two on the other, three
    // per second for the account
    b.now = a.now;
    for s in [&mut a, &mut b] {
        s.client.submit(s.now, sm("x"));
        s.client.submit(s.now, sm("y"));
        s.step();
    }
    let throttled = |s: &Smpp| {
        s.server_events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Throttled { .. }))
            .count()
    };
    assert_eq!(a.accepted().len() + b.accepted().len(), 3);
    assert_eq!(throttled(&a) + throttled(&b), 1);
}

#[test]
fn receipts_arrive_after_their_delay_for_the_ids_the_gateway_gave() {
    let mut s = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
        smsc(smsc_cfg()),
    );
    let mut m = sm("report me");
    m.registered_delivery = 1;
    s.client.submit(s.now, m);
    s.step();
    let Some(Event::Accepted { id, .. }) = s.events.last().cloned() else {
        panic!("accepted: {:?}", s.events)
    };
    s.advance(Duration::from_millis(99));
    assert!(!s.events.iter().any(|e| matches!(e, Event::Report(_))));
    s.advance(Duration::from_millis(1));
    let Some(Event::Report(r)) = s.events.last() else {
        panic!("a report: {:?}", s.events)
    };
    assert_eq!(r.id, id);
    assert!(r.delivered);
    assert!(
        matches!(s.server_events.last(), Some(ServerEvent::ReportSent { id: i, acked: true, .. }) if *i == id)
    );
    // an MO pushed by the gateway reaches the client, and its answer is seen
    let (mo, parts) = s
        .server
        .push_mo(s.now, "13800138000", "10086", "hi back")
        .unwrap();
    assert_eq!(parts, 1);
    s.step();
    assert!(matches!(s.events.last(), Some(Event::Mo(m)) if m.text.as_deref() == Some("hi back")));
    assert_eq!(
        s.server_events.last(),
        Some(&ServerEvent::MoSent { mo, acked: true })
    );
}

#[test]
fn a_long_submitted_message_is_one_message_event_once_every_part_is_in() {
    let mut s = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
        smsc(smsc_cfg()),
    );
    let text = "a long message to a phone, ".repeat(12);
    s.client
        .send(s.now, &Message::new("13800138000", text.clone()))
        .unwrap();
    s.step();
    let messages: Vec<_> = s
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { text, parts, .. } => Some((text.clone(), *parts)),
            _ => None,
        })
        .collect();
    assert_eq!(messages, [(Some(text), 3)]);
}

/// Binds a fresh gateway session of `shared` as `kind`, from `peer`; the answer's status.
fn bind_status(
    shared: &Arc<ServerShared<Vec<BindKind>>>,
    peer: &str,
    kind: BindKind,
) -> (ServerSession<SmscProtocol>, CommandStatus) {
    use packwire_codecs::smpp::Bind;
    let mut s = ServerSession::new(shared.clone(), SmscProtocol::new(0))
        .with_peer(format!("{peer}:2775").parse().unwrap());
    let b = Bind::new("esme01", "secret");
    let body = match kind {
        BindKind::Transmitter => Body::BindTransmitter(b),
        BindKind::Receiver => Body::BindReceiver(b),
        BindKind::Transceiver => Body::BindTransceiver(b),
    };
    s.handle(Instant::now(), &smpp::Pdu::new(1, body));
    let status = s.poll_transmit().unwrap().command_status;
    (s, status)
}

#[test]
fn accounts_limit_bind_kinds_addresses_and_concurrent_binds() {
    use BindKind::{Receiver, Transceiver, Transmitter};
    let mut acc = Account::new("esme01", "secret");
    acc.allowed = vec![Transmitter, Receiver];
    acc.ips = vec!["192.0.2.1".parse().unwrap()];
    acc.max_sessions = Some(1);
    let shared = smpp_shared(ServerConfig::new(vec![acc]));
    let fail = CommandStatus::ESME_RBINDFAIL;
    assert_eq!(
        bind_status(&shared, "192.0.2.1", Transceiver).1,
        fail,
        "kind not allowed"
    );
    assert_eq!(
        bind_status(&shared, "192.0.2.9", Transmitter).1,
        fail,
        "address not listed"
    );
    let (mut first, ok) = bind_status(&shared, "192.0.2.1", Transmitter);
    assert_eq!(ok, CommandStatus::ESME_ROK);
    assert_eq!(shared.sessions(b"esme01"), 1);
    let (_, second) = bind_status(&shared, "192.0.2.1", Receiver);
    assert_eq!(second, fail, "one bind at a time");
    // a transmitter gets no MO pushed; a receiver may not submit
    assert!(first.push_mo(Instant::now(), "1", "2", "x").is_none());
    first.closed();
    assert_eq!(shared.sessions(b"esme01"), 0, "the bind is given back");
    let (mut rx, ok) = bind_status(&shared, "192.0.2.1", Receiver);
    assert_eq!(ok, CommandStatus::ESME_ROK);
    rx.handle(Instant::now(), &smpp::Pdu::new(2, Body::SubmitSm(sm("a"))));
    assert_eq!(
        rx.poll_transmit().unwrap().command_status,
        CommandStatus::ESME_RINVBNDSTS
    );
    assert!(rx.push_mo(Instant::now(), "1", "2", "x").is_some());
    drop(rx);
    assert_eq!(
        shared.sessions(b"esme01"),
        0,
        "a dropped session gives its bind back too"
    );
}

#[test]
fn the_gateway_checks_a_silent_esme_and_gives_up_on_one_that_does_not_answer() {
    // only the gateway checks the link here
    let cfg = ClientConfig {
        link_check_after: Duration::from_secs(3600),
        ..ClientConfig::default()
    };
    let shared = smpp_shared(smsc_cfg());
    let server = ServerSession::new(shared.clone(), SmscProtocol::new(0x1000));
    let mut s = esme_pair(Esme::transceiver("esme01", "secret"), cfg, server);
    assert_eq!(shared.sessions(b"esme01"), 1);
    let links = |s: &Smpp| {
        s.server_sent
            .iter()
            .filter(|p| matches!(p.body, Body::EnquireLink))
            .count()
    };
    let lost = |s: &Smpp| s.server_events.contains(&ServerEvent::LinkLost);
    s.advance(Duration::from_secs(29));
    assert_eq!(links(&s), 0, "not before 30 s of silence");
    s.advance(Duration::from_secs(2));
    assert_eq!(links(&s), 1);
    // answered: the link stands, and the next check waits for another silence
    s.advance(Duration::from_secs(28));
    assert_eq!(links(&s), 1);
    s.advance(Duration::from_secs(3));
    assert_eq!(links(&s), 2);
    assert!(!lost(&s));
    // traffic from the ESME counts as an answer too
    s.client.submit(s.now, sm("busy"));
    s.step();
    s.advance(Duration::from_secs(20));
    assert_eq!(links(&s), 2);
    // an ESME that no longer reads: one more check, unanswered for 10 s, and the link is
    // given up (the bind given back, nothing more sent)
    s.deaf = true;
    s.advance(Duration::from_secs(11));
    assert_eq!(links(&s), 3);
    s.advance(Duration::from_secs(8));
    assert!(!lost(&s));
    s.advance(Duration::from_secs(2));
    assert_eq!(s.server_events.last(), Some(&ServerEvent::LinkLost));
    assert_eq!(shared.sessions(b"esme01"), 0);
    let sent = s.server_sent.len();
    s.advance(Duration::from_secs(120));
    assert_eq!(s.server_sent.len(), sent);
    assert_eq!(s.server.poll_timeout(), None);
}

#[test]
fn the_gateways_requests_keep_to_the_window_go_again_unanswered_and_are_then_given_up() {
    let mut cfg = smsc_cfg();
    cfg.window = 2;
    cfg.request_timeout = Duration::from_secs(5);
    cfg.request_sends = 2;
    cfg.link_check_after = None;
    let mut s = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig {
            link_check_after: Duration::from_secs(3600),
            ..ClientConfig::default()
        },
        smsc(cfg),
    );
    s.deaf = true;
    let mos: Vec<u64> = (0..3)
        .map(|i| {
            s.server
                .push_mo(s.now, "1", "2", &format!("mo {i}"))
                .unwrap()
                .0
        })
        .collect();
    s.step();
    let delivers = |s: &Smpp| {
        s.server_sent
            .iter()
            .filter(|p| matches!(p.body, Body::DeliverSm(_)))
            .count()
    };
    assert_eq!(delivers(&s), 2, "the window");
    s.advance(Duration::from_secs(5));
    assert_eq!(delivers(&s), 4, "each sent again after its timeout");
    s.advance(Duration::from_secs(5));
    // the first two given up; the third goes, answered this time
    assert_eq!(delivers(&s), 5);
    let given_up: Vec<u64> = s
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::MoSent { mo, acked: false } => Some(*mo),
            _ => None,
        })
        .collect();
    assert_eq!(given_up, mos[..2]);
    s.deaf = false;
    s.advance(Duration::from_secs(5));
    assert_eq!(
        s.server_events.last(),
        Some(&ServerEvent::MoSent {
            mo: mos[2],
            acked: true
        })
    );
}

#[test]
fn unanswered_reports_are_capped_and_given_up_when_the_connection_closes() {
    let mut cfg = smsc_cfg();
    cfg.max_pending_reports = 3;
    let mut s = esme_pair(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
        smsc(cfg),
    );
    s.deaf = true;
    let mut m = sm("report me");
    m.registered_delivery = 1;
    for _ in 0..5 {
        s.client.submit(s.now, m.clone());
    }
    s.step();
    assert_eq!(s.server.take_reports_dropped(), 2);
    s.advance(Duration::from_secs(1));
    s.server.closed();
    s.step();
    let unacked = s
        .server_events
        .iter()
        .filter(|e| matches!(e, ServerEvent::ReportSent { acked: false, .. }))
        .count();
    assert_eq!(unacked, 3);
}

fn ismg(cfg: ServerConfig<Vec<Version>>) -> ServerSession<IsmgProtocol> {
    ServerSession::new(ServerShared::new(cfg), IsmgProtocol::new(IsmgIds::new(7)))
}

fn ismg_cfg() -> ServerConfig<Vec<Version>> {
    ServerConfig::new(vec![Account::new("901234", "s3cret")])
}

fn sp_pair(sp: Sp, server: ServerSession<IsmgProtocol>) -> Cmpp {
    Sessions::new(sp, ClientConfig::default(), server, cmpp_wire)
}

#[test]
fn an_sp_logs_in_to_the_ismg_in_either_version_and_each_side_proves_the_secret() {
    for v in [Version::V20, Version::V30] {
        let s = sp_pair(Sp::new("901234", "s3cret", v), ismg(ismg_cfg()));
        assert_eq!(s.events, [Event::LoggedIn], "{v:?}");
        assert!(matches!(
            &s.server_events[..],
            [ServerEvent::LoggedIn { login, .. }] if *login == v
        ));
    }
    let s = sp_pair(Sp::new("901234", "wrong", Version::V30), ismg(ismg_cfg()));
    assert_eq!(
        s.events,
        [Event::LoginRefused(cmpp::ConnectStatus::AUTH_FAILED.0)]
    );
    assert!(s.server.ending().is_some(), "a refused CONNECT closes");
    let mut cfg = ismg_cfg();
    cfg.accounts[0].allowed = vec![Version::V20];
    let s = sp_pair(Sp::new("901234", "s3cret", Version::V30), ismg(cfg));
    assert_eq!(
        s.events,
        [Event::LoginRefused(cmpp::ConnectStatus::VERSION_TOO_HIGH.0)]
    );
}

#[test]
fn the_ismgs_msg_ids_are_the_ones_its_reports_name_and_mo_messages_arrive_whole() {
    let mut cfg = ismg_cfg();
    cfg.report_after = Duration::from_secs(1);
    let mut s = sp_pair(Sp::new("901234", "s3cret", Version::V30), ismg(cfg));
    let text = "一条很长的短信，".repeat(20);
    s.client
        .send(
            s.now,
            &Message::new("13800138000", text.clone()).with_report(),
        )
        .unwrap();
    s.step();
    let ids = s.accepted();
    assert_eq!(ids.len(), 3, "one Msg_Id per part");
    s.advance(Duration::from_secs(1));
    let mut reported: Vec<Bytes> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Report(r) => Some(r.id.clone()),
            _ => None,
        })
        .collect();
    reported.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(reported, sorted);
    assert!(matches!(
        s.server_events.iter().find(|e| matches!(e, ServerEvent::Message { .. })),
        Some(ServerEvent::Message { text: Some(t), parts: 3, .. }) if *t == text
    ));
    s.server
        .push_mo(s.now, "13800138000", "10690001", &text)
        .unwrap();
    s.step();
    assert!(matches!(
        s.events.last(),
        Some(Event::Mo(m)) if m.text.as_deref() == Some(&text[..]) && m.parts == 3
    ));
}

#[test]
fn the_ismg_logs_an_sp_out_and_the_session_ends_with_its_answer() {
    let mut s = sp_pair(Sp::new("901234", "s3cret", Version::V30), ismg(ismg_cfg()));
    s.server.logout();
    s.step();
    assert_eq!(
        s.server_events.last(),
        Some(&ServerEvent::LoggedOut {
            account: Bytes::from_static(b"901234")
        })
    );
    assert!(s.server.ending().is_some());
}

#[test]
fn a_strict_smsc_refuses_what_a_tolerant_one_takes_naming_the_field() {
    use packwire_codecs::smpp::Tag;
    let mut bad = sm("odd");
    // sar_msg_ref_num is two bytes; the tolerant decoder keeps a one-byte value as it came
    bad.tlvs.push(Tag::SAR_MSG_REF_NUM, vec![7]);
    let mut late = sm("late");
    late.schedule_delivery_time = Bytes::from_static(b"2612");
    for strict in [false, true] {
        let shared = smpp_shared(smsc_cfg());
        let mut protocol = SmscProtocol::new(0);
        protocol.strict = strict;
        let mut s = ServerSession::new(shared, protocol);
        let now = Instant::now();
        s.handle(
            now,
            &smpp::Pdu::new(
                1,
                Body::BindTransceiver(smpp::Bind::new("esme01", "secret")),
            ),
        );
        s.handle(now, &smpp::Pdu::new(2, Body::SubmitSm(bad.clone())));
        s.handle(now, &smpp::Pdu::new(3, Body::SubmitSm(late.clone())));
        s.handle(now, &smpp::Pdu::new(4, Body::SubmitSm(sm("fine"))));
        let statuses: Vec<CommandStatus> = std::iter::from_fn(|| s.poll_transmit())
            .map(|p| p.command_status)
            .collect();
        let expected = if strict {
            [
                CommandStatus::ESME_ROK,
                CommandStatus::ESME_RINVPARLEN,
                CommandStatus::ESME_RINVSCHED,
                CommandStatus::ESME_ROK,
            ]
        } else {
            [CommandStatus::ESME_ROK; 4]
        };
        assert_eq!(statuses, expected, "strict: {strict}");
    }
}
