//! An HTTP/1.1 responder on the runtime: packwire's strict `http1` codec decodes requests
//! (pipelined, in any chunking) and encodes responses. Every `GET` gets a greeting naming
//! its path; the example sends itself two pipelined requests and prints the answers.
//!
//! `cargo run -p packwire --example http_responder`

use std::time::Duration;

use packwire::bytes::Bytes;
use packwire::codecs::http1::{BodyKind, Event, RequestHead, ResponseHead, ServerCodec};
use packwire::net::{Conn, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn respond(conn: Conn<Event<ResponseHead>>, ev: Event<RequestHead>) {
    // answer at the head; the body (none for GET) and the end need nothing
    let Event::Head(req) = ev else { return };
    let (status, reason, body) = if req.method() == b"GET" {
        let path = String::from_utf8_lossy(req.target()).into_owned();
        (200, "OK", Bytes::from(format!("hello from {path}\n")))
    } else {
        (405, "Method Not Allowed", Bytes::from_static(b"GET only\n"))
    };
    let head = ResponseHead::new(
        status,
        reason,
        vec![("Content-Type", "text/plain")],
        BodyKind::Length(body.len() as u64),
    );
    for ev in [Event::Head(head), Event::Data(body), Event::End] {
        if conn.send(ev).await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::builder(ServerCodec::new, respond)
        .bind("127.0.0.1:0")
        .await?;
    println!("listening on http://{}", server.local_addr());

    let mut peer = tokio::net::TcpStream::connect(server.local_addr()).await?;
    peer.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // both answers end in a line naming their path
    while !String::from_utf8_lossy(&got).contains("hello from /b") {
        let n = tokio::time::timeout(Duration::from_secs(5), peer.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("no answer in time"))??;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    print!("{}", String::from_utf8_lossy(&got));

    println!("{}", server.shutdown(Duration::from_secs(1)).await);
    Ok(())
}
