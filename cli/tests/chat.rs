//! `packwire chat`: the IM server alone and clustered over real brokers, with nodes run
//! as processes and one killed by its PID.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{packwire, start};
use packwire_cluster::testing::{Kind, TestBroker};

/// A chat client on a blocking socket; every read waits at most 10 s.
struct Client {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

impl Client {
    fn connect(addr: &str) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            rd: BufReader::new(s.try_clone().unwrap()),
            wr: s,
        }
    }

    fn login(addr: &str, user: &str) -> Client {
        let mut c = Client::connect(addr);
        assert_eq!(c.ask(&format!("LOGIN {user}")), "OK");
        c
    }

    fn send(&mut self, line: &str) {
        self.wr.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// The next line; `None` when the server closed.
    fn line(&mut self) -> Option<String> {
        let mut s = String::new();
        match self.rd.read_line(&mut s) {
            Ok(0) => None,
            Ok(_) => Some(s.trim_end().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no line within 10 s: {e}"),
        }
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.line().expect("an answer")
    }
}

fn addr_of(first: &str) -> String {
    first
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string()
}

fn node(name: &str, extra: &[&str]) -> (common::Server, String) {
    let mut args = vec!["chat", "serve", "--listen", "127.0.0.1:0", "--node", name];
    args.extend_from_slice(extra);
    let (server, first) = start(&args);
    assert!(
        first.starts_with(&format!("chat node {name} listening on")),
        "{first}"
    );
    let addr = addr_of(&first);
    (server, addr)
}

#[test]
fn one_node_speaks_the_whole_protocol() {
    let (_server, addr) = node("solo", &[]);
    // the auth gate: anything before LOGIN is refused and the connection closed
    let mut stranger = Client::connect(&addr);
    assert_eq!(stranger.ask("TO bob hi"), "ERR LOGIN first");
    assert_eq!(stranger.line(), None);

    let mut alice = Client::login(&addr, "alice");
    let mut bob = Client::login(&addr, "bob");
    assert_eq!(alice.ask("LOGIN again"), "ERR already logged in");
    assert_eq!(alice.ask("TO bob hello there"), "OK");
    assert_eq!(bob.line().as_deref(), Some("FROM alice hello there"));
    assert_eq!(bob.ask("JOIN room"), "OK");
    assert_eq!(alice.ask("GROUP room to the room"), "OK");
    assert_eq!(bob.line().as_deref(), Some("GROUP room alice to the room"));
    assert_eq!(bob.ask("LEAVE room"), "OK");
    assert_eq!(alice.ask("GROUP room nobody hears"), "OK");
    assert_eq!(alice.ask("WHO bob"), "ONLINE bob solo");
    assert_eq!(alice.ask("WHO carol"), "OFFLINE carol");
    assert_eq!(bob.ask("PING"), "PONG", "bob left the room: nothing came");
    assert_eq!(alice.ask("TO bob"), "ERR usage: TO <user> <text>");
    assert!(alice.ask("SHOUT x").starts_with("ERR unknown command"));
    assert_eq!(alice.ask("QUIT"), "OK");
    assert_eq!(alice.line(), None, "QUIT closes");
}

#[test]
fn a_silent_client_is_evicted() {
    let (_server, addr) = node("solo", &["--idle", "1"]);
    let mut quiet = Client::login(&addr, "quiet");
    // nothing sent, not even PING: the idle timeout closes it
    assert_eq!(quiet.line(), None);
}

#[test]
fn a_connection_that_never_logs_in_is_closed_at_the_deadline() {
    let (_server, addr) = node("solo", &["--login-timeout", "1", "--idle", "30"]);
    let mut lurker = Client::connect(&addr);
    assert_eq!(lurker.line(), None, "closed without a word");
    let mut late = Client::login(&addr, "late"); // the gate is per connection
    assert_eq!(late.ask("PING"), "PONG");
}

#[test]
fn chat_connect_is_an_interactive_client() {
    let (_server, addr) = node("solo", &[]);
    let mut bob = Client::login(&addr, "bob");
    let out = packwire(
        &["chat", "connect", &addr, "--user", "alice"],
        b"TO bob from the cli\nWHO bob\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(bob.line().as_deref(), Some("FROM alice from the cli"));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        ["OK", "OK", "ONLINE bob solo", "OK"],
        "LOGIN, TO, WHO, QUIT"
    );
}

/// Two nodes over each broker: a user on the killed node goes offline within the TTL
/// (and its check), as seen from the node that stays.
fn a_killed_node_goes_offline(kind: Kind) {
    let broker = TestBroker::start(kind);
    let url = broker.url();
    let cluster = ["--cluster", url.as_str(), "--ttl", "1"];
    let (_n1, a1) = node("n1", &cluster);
    let (mut n2, a2) = node("n2", &cluster);
    let mut alice = Client::login(&a1, "alice");
    let mut bob = Client::login(&a2, "bob");
    assert_eq!(alice.ask("TO bob across"), "OK");
    assert_eq!(bob.line().as_deref(), Some("FROM alice across"));
    let until = Instant::now() + Duration::from_secs(10);
    while alice.ask("WHO bob") != "ONLINE bob n2" {
        assert!(Instant::now() < until, "bob never showed online");
        std::thread::sleep(Duration::from_millis(20));
    }
    n2.0.kill().unwrap(); // SIGKILL: no goodbye, the TTL must tell
    n2.0.wait().unwrap();
    let killed = Instant::now();
    loop {
        let who = alice.ask("WHO bob");
        if who == "OFFLINE bob" {
            break;
        }
        assert_eq!(who, "ONLINE bob n2");
        assert!(killed.elapsed() < Duration::from_secs(10), "still online");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "{kind:?}: node killed -> its user offline in {:?} (TTL 1 s)",
        killed.elapsed()
    );
}

#[test]
fn a_killed_node_goes_offline_redis() {
    a_killed_node_goes_offline(Kind::Redis);
}

#[test]
fn a_killed_node_goes_offline_nats() {
    a_killed_node_goes_offline(Kind::Nats);
}
