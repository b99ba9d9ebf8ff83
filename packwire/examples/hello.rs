//! t-io's hello world: a server and a client for 4-byte length-prefixed frames. The client
//! says hello, the server answers, and both stop.
//!
//! `cargo run -p packwire --example hello`

use std::time::Duration;

use packwire::bytes::Bytes;
use packwire::codecs::LengthFieldCodec;
use packwire::net::{Client, ClientEvent, Conn, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, frame: Bytes| async move {
            println!("server got {:?} from {}", frame, conn.peer_addr());
            let _ = conn
                .send(Bytes::from(format!(
                    "hello, {}",
                    String::from_utf8_lossy(&frame)
                )))
                .await;
        },
    )
    .bind("127.0.0.1:0")
    .await?;

    let (tx, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let mut client = Client::builder(
        LengthFieldCodec::new,
        move |_: Conn<Bytes>, frame: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(frame);
            }
        },
    )
    .node(server.local_addr())
    .start();
    match client.next_event().await {
        Some(ClientEvent::Connected { node, .. }) => println!("client connected to {node}"),
        other => return Err(std::io::Error::other(format!("no connection: {other:?}"))),
    }
    client
        .send(Bytes::from_static(b"world"))
        .map_err(std::io::Error::other)?;
    let reply = tokio::time::timeout(Duration::from_secs(5), replies.recv())
        .await
        .map_err(|_| std::io::Error::other("no reply in time"))?;
    println!("client got {reply:?}");

    client.shutdown().await;
    println!("{}", server.shutdown(Duration::from_secs(1)).await);
    Ok(())
}
