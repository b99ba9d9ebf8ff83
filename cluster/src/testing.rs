//! Real brokers for tests: `redis-server` and `nats-server -js` started on a free
//! loopback port, each with a fresh store directory, and killed (by PID, through their
//! [`Child`]) when dropped; [`TestBroker::restart`] kills one and starts it again, empty,
//! on the same port. packwire-cluster's tests and the CLI's run on it; so can yours.
//!
//! The binaries come from Debian's packages `redis-server` and `nats-server`.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `redis-server`
    Redis,
    /// `nats-server -js`
    Nats,
}

/// A broker process on 127.0.0.1.
#[derive(Debug)]
pub struct TestBroker {
    /// Which broker.
    pub kind: Kind,
    /// Its port.
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

impl TestBroker {
    /// Starts one and waits (up to 10 s) until it listens.
    ///
    /// # Panics
    /// When its binary is missing (the message names the package to install), or it
    /// does not start or listen.
    pub fn start(kind: Kind) -> TestBroker {
        let dir = std::env::temp_dir().join(format!(
            "packwire-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a store directory");
        let mut b = TestBroker {
            kind,
            port: free_port(),
            child: None,
            dir,
        };
        b.spawn();
        b
    }

    /// Its URL, for [`connect`](crate::connect).
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
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        self.spawn();
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
