//! A line-protocol server with groups and a heartbeat, as t-io users build IM and push
//! servers: `JOIN <group>` binds the connection to a group, `SAY <group> <text>` sends to
//! every member, anything else is echoed. The server pings connections that have been
//! quiet for 20 s and closes those silent for 60 s. Two clients join, one speaks, both hear.
//!
//! `cargo run -p packwire --example groups` (or `--example groups -- serve` to keep it
//! running on 127.0.0.1:7001 and try it with `nc`).

use std::time::Duration;

use packwire::bytes::Bytes;
use packwire::codecs::LineCodec;
use packwire::net::{Conn, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn handle(conn: Conn<Bytes>, line: Bytes) {
    let text = String::from_utf8_lossy(&line).into_owned();
    let registry = conn
        .registry()
        .expect("a server's connection has a registry");
    let mut words = text.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("JOIN"), Some(group), None) => {
            registry.join_group(&conn, group);
            let _ = conn.send(Bytes::from(format!("OK joined {group}"))).await;
        }
        (Some("SAY"), Some(group), Some(said)) => {
            let n = registry.send_to_group(group, Bytes::from(format!("{group}: {said}")));
            let _ = conn.send(Bytes::from(format!("OK {n} members"))).await;
        }
        _ => {
            let _ = conn.send(line).await;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let keep_serving = std::env::args().nth(1).as_deref() == Some("serve");
    let server = Server::builder(LineCodec::new, handle)
        .heartbeat(Duration::from_secs(20), Duration::from_secs(60), || {
            Bytes::from_static(b"PING")
        })
        .bind(if keep_serving {
            "127.0.0.1:7001"
        } else {
            "127.0.0.1:0"
        })
        .await?;
    println!("listening on {}", server.local_addr());
    if keep_serving {
        tokio::signal::ctrl_c().await?;
        println!("{}", server.shutdown(Duration::from_secs(5)).await);
        return Ok(());
    }

    let mut alice = BufReader::new(TcpStream::connect(server.local_addr()).await?);
    let mut bob = BufReader::new(TcpStream::connect(server.local_addr()).await?);
    for (who, peer) in [("alice", &mut alice), ("bob", &mut bob)] {
        peer.get_mut().write_all(b"JOIN news\n").await?;
        println!("{who} < {}", read_line(peer).await?);
    }
    alice
        .get_mut()
        .write_all(b"SAY news hello everyone\n")
        .await?;
    // alice hears her own message and the acknowledgement, in either order
    for _ in 0..2 {
        println!("alice < {}", read_line(&mut alice).await?);
    }
    println!("bob < {}", read_line(&mut bob).await?);

    println!("{}", server.shutdown(Duration::from_secs(1)).await);
    Ok(())
}

async fn read_line(peer: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), peer.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::other("no line in time"))??;
    Ok(line.trim_end().to_owned())
}
