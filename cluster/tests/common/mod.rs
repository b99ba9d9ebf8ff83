//! Real brokers for the tests: `redis-server` and `nats-server -js` on free loopback
//! ports, started here and killed (by PID, through their `Child`) when dropped.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Redis,
    Nats,
}

/// A broker process on 127.0.0.1.
pub struct Broker {
    pub kind: Kind,
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The broker's binary: on the PATH, or where Debian puts it (`/usr/sbin` is not on
/// every user's PATH).
fn need(binary: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{binary} is not installed: `apt-get install -y {package}` (.ci/run installs it)"
            )
        })
}

impl Broker {
    pub fn start(kind: Kind) -> Broker {
        let dir = std::env::temp_dir().join(format!(
            "packwire-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a store directory");
        let mut b = Broker {
            kind,
            port: free_port(),
            child: None,
            dir,
        };
        b.spawn();
        b
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}", self.port),
            Kind::Nats => format!("nats://127.0.0.1:{}", self.port),
        }
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = match self.kind {
            Kind::Redis => Command::new(need("redis-server", "redis-server"))
                .args(["--bind", "127.0.0.1", "--port", &port, "--save", ""])
                .args(["--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn(),
            Kind::Nats => Command::new(need("nats-server", "nats-server"))
                .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn(),
        }
        .expect("the broker starts");
        self.child = Some(child);
        // ready when it accepts a connection (bounded)
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < until, "the broker did not listen in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.kind == Kind::Nats {
            // JetStream answers a moment after the port opens
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Kills the broker (SIGKILL: no goodbye to its clients beyond the kernel's).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing was saved).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A chat client: lines in, lines out, every read bounded.
pub struct Client {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = s.into_split();
        Client {
            rd: BufReader::new(r),
            wr: w,
        }
    }

    pub async fn login(addr: SocketAddr, user: &str) -> Client {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.ask(&format!("LOGIN {user}")).await, "OK");
        c
    }

    pub async fn send(&mut self, line: &str) {
        self.wr
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write");
    }

    /// The next line, within 10 s; `None` at the end of the stream.
    pub async fn line(&mut self) -> Option<String> {
        let mut s = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.rd.read_line(&mut s))
            .await
            .expect("a line within 10 s")
            .expect("read");
        (n > 0).then(|| s.trim_end().to_string())
    }

    pub async fn expect(&mut self, want: &str) {
        assert_eq!(self.line().await.as_deref(), Some(want));
    }

    pub async fn ask(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await.expect("an answer")
    }

    /// Whether nothing arrives within `d` (for "did not receive").
    pub async fn quiet_for(&mut self, d: Duration) -> bool {
        let mut s = String::new();
        tokio::time::timeout(d, self.rd.read_line(&mut s))
            .await
            .is_err()
    }
}
