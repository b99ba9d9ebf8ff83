//! A small chat on the runtime, with nothing but `packwire` and tokio, as a new user would
//! write it after the README: `LOGIN <name>` binds the connection to a user (t-io's
//! `bindUser`, right in the handler), `TO <name> <text>` reaches every connection of that
//! user (`sendToUser`), `WHO` says who the asking connection is.

use packwire::bytes::Bytes;
use packwire::codecs::LineCodec;
use packwire::net::{Conn, Server, ServerHandle};

/// Who a connection logged in as.
#[derive(Clone)]
struct User(String);

/// Answers one line.
fn handle(conn: &Conn<Bytes>, line: Bytes) -> Option<Bytes> {
    let text = String::from_utf8_lossy(&line);
    let (cmd, rest) = text.split_once(' ').unwrap_or((&text, ""));
    let registry = conn.registry()?;
    let answer = match (cmd, conn.attr::<User>()) {
        ("LOGIN", _) if !rest.is_empty() => {
            registry.bind_user(conn, rest);
            conn.set_attr(User(rest.to_string()));
            "OK".to_string()
        }
        ("WHO", Some(User(me))) => me,
        ("TO", Some(User(me))) => match rest.split_once(' ') {
            Some((to, msg)) => {
                let n = registry.send_to_user(to, Bytes::from(format!("FROM {me} {msg}")));
                format!("OK {n}")
            }
            None => "ERR TO <user> <text>".to_string(),
        },
        (_, None) => "ERR LOGIN first".to_string(),
        _ => "ERR unknown command".to_string(),
    };
    Some(Bytes::from(answer))
}

/// Starts the chat server on `addr`.
pub async fn start(addr: &str) -> std::io::Result<ServerHandle<Bytes>> {
    Server::builder_sync(LineCodec::new, handle)
        .bind(addr)
        .await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = start("127.0.0.1:7001").await?;
    println!(
        "listening on {} (try: printf 'LOGIN ann\\nWHO\\n' | packwire connect --codec lines {})",
        server.local_addr(),
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use packwire::bytes::{Bytes, BytesMut};
    use packwire::codecs::LineCodec;
    use packwire::tokio_util::codec::Decoder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::timeout;

    /// Reads lines until `n` have arrived.
    async fn lines(io: &mut TcpStream, buf: &mut BytesMut, n: usize) -> Vec<Bytes> {
        let (mut codec, mut out) = (LineCodec::new(), Vec::new());
        while out.len() < n {
            while let Some(l) = codec.decode(buf).unwrap() {
                out.push(l);
            }
            if out.len() < n {
                let read = timeout(Duration::from_secs(10), io.read_buf(buf)).await;
                assert!(read.expect("lines in time").unwrap() > 0, "closed early");
            }
        }
        out
    }

    #[tokio::test]
    async fn two_users_chat_over_loopback() {
        let server = super::start("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let (mut ann, mut bob) = (
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        );
        let (mut abuf, mut bbuf) = (BytesMut::new(), BytesMut::new());
        // sticky: two commands in one write
        ann.write_all(b"LOGIN ann\nWHO\n").await.unwrap();
        assert_eq!(lines(&mut ann, &mut abuf, 2).await, ["OK", "ann"]);
        bob.write_all(b"LOGIN bob\n").await.unwrap();
        assert_eq!(lines(&mut bob, &mut bbuf, 1).await, ["OK"]);
        // half packets: a command in three writes
        for part in [&b"TO b"[..], b"ob hel", b"lo\n"] {
            ann.write_all(part).await.unwrap();
            ann.flush().await.unwrap();
        }
        assert_eq!(lines(&mut ann, &mut abuf, 1).await, ["OK 1"]);
        assert_eq!(lines(&mut bob, &mut bbuf, 1).await, ["FROM ann hello"]);
        drop((ann, bob));
        let stats = server.shutdown(Duration::from_secs(1)).await;
        assert_eq!(stats.messages_in, 4);
    }
}
