//! The client session against a scripted SMSC, stepped with no sockets and a virtual
//! clock (quinn's `Pair` is the model). Every PDU goes through the SMPP codec both ways,
//! so what the session hands out is what would be on the wire.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use packwire_codecs::smpp::{
    Address, BindResp, Body, CommandStatus, ESM_DELIVERY_RECEIPT, Pdu, Sm, SmResp, SmppCodec, Tag,
};
use tokio_util::codec::{Decoder, Encoder};

use super::smpp::Esme;
use super::{ClientConfig, ClientSession, Event, RequestId};

/// An SMSC that answers as a test tells it to.
#[derive(Default)]
struct Smsc {
    /// submits answered ESME_RTHROTTLED before the next is taken
    throttle_next: usize,
    /// submits not answered at all (held)
    hold: bool,
    held: Vec<Pdu>,
    /// every submit_sm's short_message, in the order they came
    submits: Vec<Bytes>,
    /// deliver_sm answers received
    acks: usize,
    /// enquire_links answered
    answer_links: bool,
    links: usize,
    next_id: u32,
    next_seq: u32,
    out: VecDeque<Pdu>,
}

impl Smsc {
    fn new() -> Self {
        Smsc {
            answer_links: true,
            next_seq: 1000,
            ..Smsc::default()
        }
    }

    fn handle(&mut self, pdu: Pdu) {
        let ok = CommandStatus::ESME_ROK;
        match &pdu.body {
            Body::BindTransceiver(b) => {
                let status = if &b.password[..] == b"secret" {
                    ok
                } else {
                    CommandStatus::ESME_RINVPASWD
                };
                let resp = BindResp {
                    system_id: Bytes::from_static(b"SMSC"),
                    ..BindResp::default()
                };
                self.out
                    .push_back(pdu.answer(status, Body::BindTransceiverResp(resp)));
            }
            Body::SubmitSm(sm) => {
                self.submits.push(sm.short_message.clone());
                if self.throttle_next > 0 {
                    self.throttle_next -= 1;
                    self.out.push_back(pdu.answer(
                        CommandStatus::ESME_RTHROTTLED,
                        Body::SubmitSmResp(SmResp::default()),
                    ));
                } else if self.hold {
                    self.held.push(pdu);
                } else {
                    self.accept(&pdu);
                }
            }
            Body::DeliverSmResp(_) => self.acks += 1,
            Body::EnquireLink => {
                self.links += 1;
                if self.answer_links {
                    self.out.push_back(pdu.answer(ok, Body::EnquireLinkResp));
                }
            }
            Body::Unbind => self.out.push_back(pdu.answer(ok, Body::UnbindResp)),
            Body::UnbindResp => {}
            other => panic!("the scripted SMSC does not expect {other:?}"),
        }
    }

    fn accept(&mut self, pdu: &Pdu) {
        let Body::SubmitSm(sm) = &pdu.body else {
            return;
        };
        self.next_id += 1;
        let id = format!("{:x}", 0xab00 + self.next_id);
        self.out.push_back(pdu.answer(
            CommandStatus::ESME_ROK,
            Body::SubmitSmResp(SmResp::new(id.clone())),
        ));
        if sm.registered_delivery & 1 == 1 {
            let mut r = Sm::new(
                sm.dest.clone(),
                sm.source.clone(),
                0,
                format!(
                    "id:{id} sub:001 dlvrd:001 submit date:2612031200 done date:2612031201 stat:DELIVRD err:000 text:"
                ),
            );
            r.esm_class = ESM_DELIVERY_RECEIPT;
            let mut rid = id.into_bytes();
            rid.push(0);
            r.tlvs.push(Tag::RECEIPTED_MESSAGE_ID, rid);
            self.push(Body::DeliverSm(r));
        }
    }

    /// Answers every held submit.
    fn release(&mut self) {
        self.hold = false;
        for p in std::mem::take(&mut self.held) {
            self.accept(&p);
        }
    }

    fn push(&mut self, body: Body) {
        self.next_seq += 1;
        self.out.push_back(Pdu::new(self.next_seq, body));
    }
}

/// Encodes and decodes `pdu` as the wire would.
fn wire(pdu: &Pdu) -> Pdu {
    let mut buf = BytesMut::new();
    SmppCodec::new()
        .encode(pdu, &mut buf)
        .expect("the session hands out valid PDUs");
    SmppCodec::new().decode(&mut buf).unwrap().unwrap()
}

struct Pair {
    now: Instant,
    client: ClientSession<Esme>,
    smsc: Smsc,
    events: Vec<Event>,
    /// the most submits in flight seen at once
    max_in_flight: usize,
}

impl Pair {
    fn new(cfg: ClientConfig, password: &'static str) -> Self {
        let now = Instant::now();
        let mut client = ClientSession::new(Esme::transceiver("esme01", password), cfg);
        client.connected(now);
        let mut p = Pair {
            now,
            client,
            smsc: Smsc::new(),
            events: Vec::new(),
            max_in_flight: 0,
        };
        p.step();
        p
    }

    fn bound(cfg: ClientConfig) -> Self {
        let p = Pair::new(cfg, "secret");
        assert_eq!(p.events, [Event::LoggedIn]);
        p
    }

    /// Moves PDUs both ways until neither side has any to send.
    fn step(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(p) = self.client.poll_transmit() {
                self.max_in_flight = self.max_in_flight.max(self.client.in_flight());
                self.smsc.handle(wire(&p));
                moved = true;
            }
            while let Some(p) = self.smsc.out.pop_front() {
                self.client.handle(self.now, &wire(&p));
                moved = true;
            }
            self.max_in_flight = self.max_in_flight.max(self.client.in_flight());
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Moves the clock forward by `d`, running the session's timers as they come due.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.client.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
            self.step();
        }
        self.now = end;
        self.client.handle_timeout(self.now);
        self.step();
    }

    fn accepted(&self) -> Vec<RequestId> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Accepted { request, .. } => Some(*request),
                _ => None,
            })
            .collect()
    }
}

fn sm(text: &str) -> Sm {
    Sm::new(
        Address::new("10086"),
        Address::new("13800138000"),
        0,
        text.to_string(),
    )
}

fn texts(t: &[&str]) -> Vec<Bytes> {
    t.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

#[test]
fn submits_wait_for_the_login_then_flow_in_order() {
    let now = Instant::now();
    let mut client = ClientSession::new(
        Esme::transceiver("esme01", "secret"),
        ClientConfig::default(),
    );
    let ids: Vec<RequestId> = ["a", "b", "c"]
        .iter()
        .map(|t| client.submit(now, sm(t)))
        .collect();
    client.connected(now);
    let mut p = Pair {
        now,
        client,
        smsc: Smsc::new(),
        events: Vec::new(),
        max_in_flight: 0,
    };
    p.step();
    assert_eq!(p.events[0], Event::LoggedIn);
    assert_eq!(p.accepted(), ids);
    assert_eq!(p.smsc.submits, texts(&["a", "b", "c"]));
}

#[test]
fn a_refused_login_sends_nothing_else() {
    let mut p = Pair::new(ClientConfig::default(), "wrong");
    assert_eq!(
        p.events,
        [Event::LoginRefused(CommandStatus::ESME_RINVPASWD.0)]
    );
    p.client.submit(p.now, sm("a"));
    p.advance(Duration::from_secs(120));
    assert!(p.smsc.submits.is_empty());
    assert!(!p.client.is_bound());
}

#[test]
fn the_window_bounds_the_submits_in_flight() {
    let mut p = Pair::bound(ClientConfig {
        window: 5,
        ..ClientConfig::default()
    });
    p.smsc.hold = true;
    for i in 0..20 {
        p.client.submit(p.now, sm(&format!("m{i}")));
    }
    p.step();
    assert_eq!(p.smsc.held.len(), 5, "five go out, fifteen wait");
    assert_eq!(p.client.queued(), 15);
    p.smsc.release();
    p.step();
    assert_eq!(p.accepted().len(), 20);
    assert!(p.max_in_flight <= 5, "{}", p.max_in_flight);
}

#[test]
fn the_rate_spaces_the_submits() {
    let mut p = Pair::bound(ClientConfig {
        tps: Some(10),
        ..ClientConfig::default()
    });
    for i in 0..5 {
        p.client.submit(p.now, sm(&format!("m{i}")));
    }
    p.advance(Duration::ZERO);
    assert_eq!(p.smsc.submits.len(), 1);
    p.advance(Duration::from_millis(99));
    assert_eq!(p.smsc.submits.len(), 1, "not before 100 ms");
    p.advance(Duration::from_millis(1));
    assert_eq!(p.smsc.submits.len(), 2);
    p.advance(Duration::from_millis(300));
    assert_eq!(p.smsc.submits.len(), 5);
}

#[test]
fn a_throttled_submit_goes_again_after_a_growing_pause_and_nothing_jumps_ahead() {
    let mut p = Pair::bound(ClientConfig {
        window: 1,
        ..ClientConfig::default()
    });
    p.smsc.throttle_next = 2;
    let a = p.client.submit(p.now, sm("a"));
    p.client.submit(p.now, sm("b"));
    p.step();
    assert_eq!(p.smsc.submits, texts(&["a"]), "throttled once");
    p.advance(Duration::from_millis(199));
    assert_eq!(p.smsc.submits.len(), 1, "the first pause is 200 ms");
    p.advance(Duration::from_millis(1));
    assert_eq!(p.smsc.submits, texts(&["a", "a"]), "throttled twice");
    p.advance(Duration::from_millis(399));
    assert_eq!(p.smsc.submits.len(), 2, "the second pause is 400 ms");
    p.advance(Duration::from_millis(1));
    assert_eq!(p.smsc.submits, texts(&["a", "a", "a", "b"]));
    assert_eq!(p.accepted()[0], a);
    assert_eq!(p.accepted().len(), 2);
}

#[test]
fn after_a_reconnect_only_the_unanswered_submits_go_again() {
    let mut p = Pair::bound(ClientConfig::default());
    for t in ["a", "b"] {
        p.client.submit(p.now, sm(t));
    }
    p.step();
    p.smsc.hold = true;
    for t in ["c", "d"] {
        p.client.submit(p.now, sm(t));
    }
    p.step();
    assert_eq!(p.client.in_flight(), 2);
    // the connection dies with c and d unanswered
    p.smsc.held.clear();
    p.smsc.hold = false;
    p.client.disconnected(p.now);
    assert_eq!((p.client.in_flight(), p.client.queued()), (0, 2));
    p.events.clear();
    p.client.connected(p.now);
    p.step();
    assert_eq!(p.events[0], Event::LoggedIn);
    assert_eq!(p.smsc.submits, texts(&["a", "b", "c", "d", "c", "d"]));
    assert_eq!(p.accepted().len(), 2, "c and d, once each");
}

#[test]
fn reports_and_mo_messages_are_acknowledged_and_reported() {
    let mut p = Pair::bound(ClientConfig::default());
    let mut m = sm("with a receipt");
    m.registered_delivery = 1;
    let r = p.client.submit(p.now, m);
    p.step();
    let id = p
        .events
        .iter()
        .find_map(|e| match e {
            Event::Accepted { request, id } if *request == r => Some(id.clone()),
            _ => None,
        })
        .expect("accepted");
    let report = p
        .events
        .iter()
        .find_map(|e| match e {
            Event::Report(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a report");
    assert_eq!(report.id, id);
    assert!(report.delivered);
    assert_eq!(p.smsc.acks, 1);
    p.smsc.push(Body::DeliverSm(Sm::new(
        Address::new("13800138000"),
        Address::new("10086"),
        0,
        "hello from a phone",
    )));
    p.step();
    let Some(Event::Mo(mo)) = p.events.last() else {
        panic!("an MO: {:?}", p.events)
    };
    assert_eq!(
        (&mo.from[..], &mo.payload[..]),
        (&b"13800138000"[..], &b"hello from a phone"[..])
    );
    assert_eq!(p.smsc.acks, 2);
}

#[test]
fn an_idle_link_is_checked_and_a_dead_one_reported() {
    let mut p = Pair::bound(ClientConfig::default());
    p.advance(Duration::from_secs(29));
    assert_eq!(p.smsc.links, 0);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.smsc.links, 1, "after 30 s without traffic");
    p.advance(Duration::from_secs(30));
    assert_eq!(p.smsc.links, 2);
    assert!(!p.events.contains(&Event::LinkLost));
    p.smsc.answer_links = false;
    p.advance(Duration::from_secs(30));
    assert_eq!(p.smsc.links, 3);
    p.advance(Duration::from_secs(59));
    assert!(!p.events.contains(&Event::LinkLost));
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.events.last(),
        Some(&Event::LinkLost),
        "unanswered for 60 s"
    );
}

#[test]
fn an_unanswered_submit_is_sent_again_then_given_up() {
    let mut p = Pair::bound(ClientConfig {
        link_check_after: Duration::from_secs(3600),
        ..ClientConfig::default()
    });
    p.smsc.hold = true;
    let r = p.client.submit(p.now, sm("a"));
    p.step();
    p.advance(Duration::from_secs(60));
    assert_eq!(p.smsc.submits.len(), 2, "sent again after 60 s");
    let seqs: Vec<u32> = p.smsc.held.iter().map(|p| p.sequence_number).collect();
    assert_eq!(seqs[0], seqs[1], "with the same sequence number");
    p.advance(Duration::from_secs(60));
    assert_eq!(p.smsc.submits.len(), 3);
    p.advance(Duration::from_secs(60));
    assert_eq!(p.events.last(), Some(&Event::TimedOut(r)));
    assert_eq!(p.client.in_flight(), 0);
    // a late answer to it changes nothing
    p.smsc.release();
    p.step();
    assert!(p.accepted().is_empty());
}

#[test]
fn the_peers_unbind_is_answered_and_ends_the_session() {
    let mut p = Pair::bound(ClientConfig::default());
    p.smsc.push(Body::Unbind);
    p.step();
    assert_eq!(p.events.last(), Some(&Event::LoggedOut));
    assert!(!p.client.is_bound());
    let mut q = Pair::bound(ClientConfig::default());
    q.client.logout(q.now);
    q.step();
    assert_eq!(q.events.last(), Some(&Event::LoggedOut));
}

#[test]
fn a_long_mo_message_is_reported_once_all_its_parts_are_in() {
    use packwire_codecs::smpp::{Coding, LongMode, split_sm};
    use packwire_codecs::sms::UdhRef;
    let mut p = Pair::bound(ClientConfig::default());
    let text = "a long message from a phone ".repeat(10);
    let template = Sm::new(Address::new("13800138000"), Address::new("10086"), 0, "");
    let parts = split_sm(
        &text,
        Coding::Gsm7,
        LongMode::Udh(UdhRef::Eight(42)),
        &template,
    )
    .unwrap();
    assert_eq!(parts.len(), 2);
    // the second part first
    p.smsc.push(Body::DeliverSm(parts[1].clone()));
    p.step();
    assert_eq!(p.smsc.acks, 1, "each part acknowledged as it comes");
    assert!(
        !p.events.iter().any(|e| matches!(e, Event::Mo(_))),
        "not before the last part"
    );
    assert_eq!(p.client.mo_pending(), (1, 0));
    p.smsc.push(Body::DeliverSm(parts[0].clone()));
    p.step();
    let mos: Vec<&super::Mo> = p
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Mo(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(mos.len(), 1);
    assert_eq!(Coding::Gsm7.decode(&mos[0].payload), text);
    assert_eq!(mos[0].part, None);
    assert_eq!(p.client.mo_pending(), (0, 0));
}

#[test]
fn a_message_becomes_one_submit_per_part_and_each_long_one_gets_its_own_reference() {
    use packwire_codecs::sms::concat_info;
    let mut s = Pair::bound(ClientConfig::default());
    let long = super::Message::new("13800138000", "€".repeat(100)).with_report();
    let a = s.client.send(s.now, &long).unwrap();
    let b = s.client.send(s.now, &long).unwrap();
    assert_eq!(
        (a.len(), b.len()),
        (2, 2),
        "100 UCS2 characters are two parts"
    );
    s.step();
    let refs: Vec<_> = s
        .smsc
        .submits
        .iter()
        .map(|m| concat_info(m).expect("a concatenation header").0)
        .collect();
    assert_eq!(refs.len(), 4);
    assert_eq!(refs[0].reference, refs[1].reference);
    assert_eq!(refs[2].reference, refs[3].reference);
    assert_ne!(refs[0].reference, refs[2].reference);
    assert_eq!(
        refs.iter().map(|c| c.number).collect::<Vec<_>>(),
        [1, 2, 1, 2]
    );
    // a text no protocol can carry queues nothing
    let too_long = super::Message::new("1", "x".repeat(160 * 256));
    s.smsc.hold = true;
    let before = (s.client.queued(), s.client.in_flight());
    assert!(s.client.send(s.now, &too_long).is_err());
    assert_eq!((s.client.queued(), s.client.in_flight()), before);
    s.step();
    assert_eq!(s.smsc.submits.len(), 4, "nothing went");
}

#[test]
fn a_submit_throttled_more_than_allowed_fails_with_the_throttling_status() {
    let mut p = Pair::bound(ClientConfig {
        max_throttled: Some(2),
        ..ClientConfig::default()
    });
    p.smsc.throttle_next = 10;
    let r = p.client.submit(p.now, sm("a"));
    p.step();
    p.advance(Duration::from_secs(5));
    assert_eq!(p.smsc.submits.len(), 3, "the first try and two retries");
    assert_eq!(
        p.events.last(),
        Some(&Event::Rejected {
            request: r,
            status: CommandStatus::ESME_RTHROTTLED.0
        })
    );
    // the next submit starts its own count
    p.smsc.throttle_next = 1;
    let r2 = p.client.submit(p.now, sm("b"));
    p.step();
    p.advance(Duration::from_secs(5));
    assert_eq!(p.accepted(), [r2]);
}

#[test]
fn link_checks_can_be_tried_several_times_each_with_its_own_wait() {
    let mut p = Pair::bound(ClientConfig {
        link_check_after: Duration::from_secs(10),
        link_check_timeout: Some(Duration::from_secs(5)),
        link_check_tries: 3,
        ..ClientConfig::default()
    });
    p.smsc.answer_links = false;
    p.advance(Duration::from_secs(10));
    assert_eq!(p.smsc.links, 1);
    p.advance(Duration::from_secs(5));
    assert_eq!(p.smsc.links, 2, "unanswered for 5 s: another");
    p.advance(Duration::from_secs(5));
    assert_eq!(p.smsc.links, 3);
    p.advance(Duration::from_secs(4));
    assert!(!p.events.contains(&Event::LinkLost));
    p.advance(Duration::from_secs(1));
    assert_eq!(p.events.last(), Some(&Event::LinkLost), "three unanswered");
    // an answer in between starts the count again
    let mut p = Pair::bound(ClientConfig {
        link_check_after: Duration::from_secs(10),
        link_check_timeout: Some(Duration::from_secs(5)),
        link_check_tries: 2,
        ..ClientConfig::default()
    });
    p.smsc.answer_links = false;
    p.advance(Duration::from_secs(14));
    assert_eq!(p.smsc.links, 1);
    // the first check missed, the second answered
    p.smsc.answer_links = true;
    p.advance(Duration::from_secs(1));
    assert_eq!(p.smsc.links, 2);
    p.smsc.answer_links = false;
    p.advance(Duration::from_secs(10));
    assert_eq!(p.smsc.links, 3, "10 s after the answer");
    p.advance(Duration::from_secs(5));
    assert_eq!(p.smsc.links, 4);
    assert!(!p.events.contains(&Event::LinkLost), "one miss only");
    p.advance(Duration::from_secs(5));
    assert_eq!(p.events.last(), Some(&Event::LinkLost));
}

#[test]
fn a_submit_not_yet_sent_can_be_taken_back() {
    let mut p = Pair::bound(ClientConfig {
        window: 1,
        ..ClientConfig::default()
    });
    p.smsc.hold = true;
    let a = p.client.submit(p.now, sm("a"));
    let b = p.client.submit(p.now, sm("b"));
    p.step();
    assert!(!p.client.cancel(a), "a is in flight");
    assert!(p.client.cancel(b));
    assert!(!p.client.cancel(b), "only once");
    p.smsc.release();
    p.step();
    assert_eq!(p.accepted(), [a]);
    assert_eq!(p.smsc.submits, texts(&["a"]));
}

#[test]
fn a_login_unanswered_within_the_login_timeout_is_a_lost_link() {
    let now = Instant::now();
    let mut c = ClientSession::new(
        Esme::transceiver("esme01", "secret"),
        ClientConfig {
            login_timeout: Duration::from_secs(3),
            ..ClientConfig::default()
        },
    );
    c.connected(now);
    assert!(c.poll_transmit().is_some());
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(3)));
    c.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(c.poll_event(), Some(Event::LinkLost));
}
