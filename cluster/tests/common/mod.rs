//! What the cluster tests share: the brokers (`packwire_cluster::testing`) and a line
//! client for the chat nodes.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

pub use packwire_cluster::testing::{Kind, TestBroker as Broker};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

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
