//! The cluster against real brokers: one suite, run against Redis and against NATS.
//! Each test starts its own broker on a free loopback port and kills it at the end.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Broker, Client, Kind};
use packwire_cluster::chat::{ChatConfig, ChatServer};
use packwire_cluster::{Cluster, ClusterEvent, Remote, TargetKind, To};
use tokio::sync::broadcast;

async fn node(name: &str, broker: &Broker, ttl: Duration) -> ChatServer {
    let mut cfg = ChatConfig::new(name);
    cfg.cluster = Some(broker.url());
    cfg.ttl = ttl;
    ChatServer::start("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("the node starts")
}

/// A broker and two nodes on it, `n1` and `n2`.
async fn two_nodes(kind: Kind, ttl: Duration) -> (Broker, ChatServer, ChatServer) {
    let broker = Broker::start(kind);
    let n1 = node("n1", &broker, ttl).await;
    let n2 = node("n2", &broker, ttl).await;
    (broker, n1, n2)
}

fn cluster(s: &ChatServer) -> &Cluster<Bytes> {
    s.cluster().expect("a clustered node")
}

/// Polls `f` until it is true, for at most 10 s (the presence is written a moment
/// after the binding that changes it).
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < until, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next event matching `want`, within `within`.
async fn event(
    rx: &mut broadcast::Receiver<ClusterEvent>,
    within: Duration,
    want: impl Fn(&ClusterEvent) -> bool,
) -> ClusterEvent {
    tokio::time::timeout(within, async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("the event in time")
}

/// Two lines, in either order (a sender's own copy and its OK race each other).
async fn two(c: &mut Client) -> Vec<String> {
    let mut v = vec![c.line().await.unwrap(), c.line().await.unwrap()];
    v.sort();
    v
}

async fn sends_cross_every_node(kind: Kind) {
    let broker = Broker::start(kind);
    let ttl = Duration::from_secs(5);
    let (n1, n2, n3) = (
        node("n1", &broker, ttl).await,
        node("n2", &broker, ttl).await,
        node("n3", &broker, ttl).await,
    );
    let a: SocketAddr = n1.local_addr();
    let mut alice = Client::login(a, "alice").await;
    let mut bob2 = Client::login(n2.local_addr(), "bob").await;
    let mut bob3 = Client::login(n3.local_addr(), "bob").await;
    let mut carol = Client::login(n3.local_addr(), "carol").await;

    // TO: a user on two nodes receives on both
    assert_eq!(alice.ask("TO bob hi").await, "OK");
    bob2.expect("FROM alice hi").await;
    bob3.expect("FROM alice hi").await;

    // GROUP: the members on every node, and no one else
    assert_eq!(alice.ask("JOIN room").await, "OK");
    assert_eq!(carol.ask("JOIN room").await, "OK");
    assert_eq!(bob2.ask("GROUP room yo").await, "OK");
    alice.expect("GROUP room bob yo").await;
    carol.expect("GROUP room bob yo").await;

    // ALL: everyone once, the sender too (its own copy is local, not the broker's)
    carol.send("ALL hey").await;
    assert_eq!(two(&mut carol).await, ["ALL carol hey", "OK"]);
    alice.expect("ALL carol hey").await;
    bob2.expect("ALL carol hey").await;
    bob3.expect("ALL carol hey").await;
    assert_eq!(
        alice.ask("PING").await,
        "PONG",
        "nothing else came to alice"
    );
    assert_eq!(
        bob3.ask("PING").await,
        "PONG",
        "nothing else came to bob on n3"
    );

    // WHO: the cluster's presence
    eventually("bob on n2 and n3", || async {
        cluster(&n1).nodes_of("bob").await.unwrap() == ["n2", "n3"]
    })
    .await;
    assert_eq!(alice.ask("WHO bob").await, "ONLINE bob n2 n3");
    assert_eq!(alice.ask("WHO dave").await, "OFFLINE dave");
    eventually("room has 2 members", || async {
        cluster(&n1).group_size("room").await.unwrap() == 2
    })
    .await;

    // the statistics count per target kind
    let s2 = cluster(&n2).stats();
    assert!(s2.published(TargetKind::Group) >= 1);
    assert!(s2.received(TargetKind::User) >= 1 && s2.received(TargetKind::All) >= 1);
    assert_eq!(s2.bad_envelopes, 0);
    drop((alice, bob2, bob3, carol));
    for n in [n1, n2, n3] {
        n.shutdown().await;
    }
}

/// Every registry target through the cluster API, one connection of another node by
/// id, and a frame on the bus that is not an envelope: refused, counted, nothing lost.
async fn every_target_and_a_bad_frame(kind: Kind) {
    let (broker, n1, n2) = two_nodes(kind, Duration::from_secs(5)).await;
    let mut bob = Client::login(n2.local_addr(), "bob").await;
    let (c1, c2) = (cluster(&n1), cluster(&n2));
    let conn = c2.registry().user("bob").pop().expect("bob's connection");
    c2.registry().bind_token(&conn, "tok-1");
    c2.registry().bind_bsid(&conn, "order-9");

    let line = |s: &str| Bytes::from(s.to_string());
    let sent = c1.send_to_conn("n2", conn.id(), line("by id")).unwrap();
    assert_eq!(sent.local, 0);
    assert_eq!(sent.remote, Remote::Queued);
    bob.expect("by id").await;
    // a connection of this node is not published
    let here = c2
        .send(
            To::Conn {
                node: "n2",
                id: conn.id(),
            },
            line("local id"),
        )
        .unwrap();
    assert_eq!((here.local, here.remote), (1, Remote::NotNeeded));
    bob.expect("local id").await;
    c1.send_to_token("tok-1", line("by token")).unwrap();
    bob.expect("by token").await;
    c1.send_to_bsid("order-9", line("by bsid")).unwrap();
    bob.expect("by bsid").await;
    c1.send_to_ip("127.0.0.1".parse().unwrap(), line("by ip"))
        .unwrap();
    bob.expect("by ip").await;

    // garbage on the bus: every node refuses it and goes on
    let raw = packwire_cluster::connect(&broker.url(), "chat")
        .await
        .unwrap();
    raw.publish(&[Bytes::from_static(b"\x01\x01\xff\xffnot an envelope")])
        .await
        .unwrap();
    eventually("the bad frame counted", || async {
        c2.stats().bad_envelopes == 1
    })
    .await;
    c1.send_to_user("bob", line("after the bad frame")).unwrap();
    bob.expect("after the bad frame").await;
    let s1 = c1.stats();
    assert_eq!(s1.published(TargetKind::Conn), 1);
    assert_eq!(s1.published(TargetKind::Token), 1);
    let s2 = c2.stats();
    assert_eq!(s2.received(TargetKind::Bsid), 1);
    assert_eq!(s2.received(TargetKind::Ip), 1);
    assert_eq!(s2.presence_users, 1);
    drop(bob);
    n1.shutdown().await;
    n2.shutdown().await;
}

/// Joins and leaves are events on every node, and the presence follows them.
async fn presence_follows_logins(kind: Kind) {
    let (_broker, n1, n2) = two_nodes(kind, Duration::from_secs(5)).await;
    let mut events = cluster(&n1).events();
    let alice = Client::login(n2.local_addr(), "alice").await;
    let e = event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ClusterEvent::Joined { .. })
    })
    .await;
    assert_eq!(
        e,
        ClusterEvent::Joined {
            user: "alice".into(),
            node: "n2".into()
        }
    );
    assert!(cluster(&n1).is_online("alice").await.unwrap());
    assert_eq!(cluster(&n1).nodes().await.unwrap(), ["n1", "n2"]);
    drop(alice); // her only connection closes
    let e = event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ClusterEvent::Left { .. })
    })
    .await;
    assert_eq!(
        e,
        ClusterEvent::Left {
            user: "alice".into(),
            node: "n2".into()
        }
    );
    eventually("alice offline", || async {
        !cluster(&n1).is_online("alice").await.unwrap()
    })
    .await;
    n1.shutdown().await;
    n2.shutdown().await;
}

/// The broker killed and started again, empty: both nodes see it go, resubscribe, write
/// their presence again, and cross-node delivery resumes. Sends in between fail fast.
async fn broker_restart_resubscribes(kind: Kind) {
    let (mut broker, n1, n2) = two_nodes(kind, Duration::from_secs(3)).await;
    let mut alice = Client::login(n1.local_addr(), "alice").await;
    let mut bob = Client::login(n2.local_addr(), "bob").await;
    assert_eq!(alice.ask("TO bob before").await, "OK");
    bob.expect("FROM alice before").await;
    let (mut ev1, mut ev2) = (cluster(&n1).events(), cluster(&n2).events());

    broker.kill();
    let down = |e: &ClusterEvent| matches!(e, ClusterEvent::BrokerDown(_));
    event(&mut ev1, Duration::from_secs(10), down).await;
    event(&mut ev2, Duration::from_secs(10), down).await;
    // while it is down: local delivery goes on, the remote part fails fast
    let sent = cluster(&n1)
        .send_to_user("bob", Bytes::from_static(b"lost"))
        .unwrap();
    assert_eq!(sent.remote, Remote::Unreachable);
    assert_eq!(cluster(&n1).stats().dropped(TargetKind::User), 1);

    let restarted = Instant::now();
    broker.restart();
    let up = |e: &ClusterEvent| matches!(e, ClusterEvent::Resubscribed { .. });
    event(&mut ev1, Duration::from_secs(15), up).await;
    event(&mut ev2, Duration::from_secs(15), up).await;
    let resubscribed = restarted.elapsed();
    // at most once: a send may be lost until both links are up, so send until one lands
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 200, "no cross-node delivery after the restart");
        assert_eq!(alice.ask(&format!("TO bob after {n}")).await, "OK");
        if !bob.quiet_for(Duration::from_millis(100)).await {
            break;
        }
    }
    let delivered = restarted.elapsed();
    eprintln!(
        "{kind:?}: broker restart -> both resubscribed in {resubscribed:?}, cross-node delivery in {delivered:?}"
    );
    for c in [cluster(&n1), cluster(&n2)] {
        let s = c.stats();
        assert!(s.broker_downs >= 1 && s.resubscribes >= 1, "{s:?}");
    }
    // the presence is written again in full after the resubscription
    eventually("bob online again", || async {
        cluster(&n1).nodes_of("bob").await.ok() == Some(vec!["n2".to_string()])
    })
    .await;
    drop((alice, bob));
    n1.shutdown().await;
    n2.shutdown().await;
}

/// A subscriber that stops reading (a stuck node) does not stall the others: the broker
/// buffers for it, or drops it, and the other nodes' traffic flows.
async fn a_stuck_subscriber_stalls_no_one(kind: Kind) {
    let (broker, n1, n2) = two_nodes(kind, Duration::from_secs(5)).await;
    // the stuck node: subscribed to the bus, never reading
    let mut stuck = tokio::net::TcpStream::connect(("127.0.0.1", broker.port))
        .await
        .unwrap();
    let hello: &[u8] = match kind {
        Kind::Redis => b"SUBSCRIBE packwire:chat:bus\r\n",
        Kind::Nats => b"CONNECT {\"verbose\":false}\r\nSUB packwire.chat.bus 1\r\nPING\r\n",
    };
    tokio::io::AsyncWriteExt::write_all(&mut stuck, hello)
        .await
        .unwrap();
    let mut bob = Client::login(n2.local_addr(), "bob").await;
    let c1 = cluster(&n1).clone();
    const N: usize = 3000;
    let text = "x".repeat(1000);
    let sender = tokio::spawn(async move {
        for i in 0..N {
            let line = Bytes::from(format!("{i} {text}"));
            // the queue to the broker is bounded: wait for room rather than drop here
            while c1.send_to_user("bob", line.clone()).unwrap().remote == Remote::Full {
                tokio::task::yield_now().await;
            }
        }
    });
    for i in 0..N {
        let l = bob.line().await.expect("a line");
        assert!(l.starts_with(&format!("{i} ")), "line {i}: {}", &l[..20]);
    }
    sender.await.unwrap();
    drop(stuck);
    drop(bob);
    n1.shutdown().await;
    n2.shutdown().await;
}

/// A node that dies (its tasks stop without leaving: what a killed process leaves
/// behind) is reported down by the others after its TTL, with its users' leaves.
async fn a_dead_node_is_reported_with_its_users(kind: Kind) {
    let broker = Broker::start(kind);
    let ttl = Duration::from_secs(1);
    let watcher = node("watcher", &broker, ttl).await;
    let mut events = cluster(&watcher).events();
    // the doomed node: a plain server with a cluster handle of its own
    let server = packwire_net::Server::builder(
        packwire_codecs::LineCodec::new,
        |_: packwire_net::Conn<Bytes>, _: Bytes| async {},
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let b = packwire_cluster::connect(&broker.url(), "chat")
        .await
        .unwrap();
    let doomed = Cluster::join(
        server.registry().clone(),
        b,
        packwire_cluster::ClusterConfig::new("doomed").ttl(ttl),
    )
    .await
    .unwrap();
    let _zed = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    eventually("zed's connection", || async {
        server.registry().len() == 1
    })
    .await;
    let conn = server.registry().all().pop().unwrap();
    server.registry().bind_user(&conn, "zed");
    let joined = event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ClusterEvent::Joined { .. })
    })
    .await;
    assert_eq!(
        joined,
        ClusterEvent::Joined {
            user: "zed".into(),
            node: "doomed".into()
        }
    );
    drop(doomed); // its tasks stop; nothing is removed from the broker
    let down = event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ClusterEvent::NodeDown(_))
    })
    .await;
    assert_eq!(down, ClusterEvent::NodeDown("doomed".into()));
    let left = event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, ClusterEvent::Left { .. })
    })
    .await;
    assert_eq!(
        left,
        ClusterEvent::Left {
            user: "zed".into(),
            node: "doomed".into()
        }
    );
    assert!(!cluster(&watcher).is_online("zed").await.unwrap());
    assert_eq!(cluster(&watcher).nodes().await.unwrap(), ["watcher"]);
    server.shutdown(Duration::from_secs(1)).await;
    watcher.shutdown().await;
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Redis).await
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Nats).await
                }
            )*
        }
    };
}

suite!(
    sends_cross_every_node,
    every_target_and_a_bad_frame,
    presence_follows_logins,
    broker_restart_resubscribes,
    a_stuck_subscriber_stalls_no_one,
    a_dead_node_is_reported_with_its_users,
);
