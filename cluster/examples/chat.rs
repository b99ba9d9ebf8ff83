//! An IM chat node: `cargo run -p packwire-cluster --example chat -- 127.0.0.1:7100 n1
//! [redis://127.0.0.1:6379 | nats://127.0.0.1:4222]`, then talk to it with `nc` or
//! `packwire chat connect`. The server itself is `src/chat.rs`: read it as the tutorial
//! for an IM server on packwire (the auth gate, the registry, the idle timeout as the
//! heartbeat, and cluster sends and presence).

use packwire_cluster::chat::{ChatConfig, ChatServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:7100".into())
        .parse()?;
    let mut config = ChatConfig::new(args.next().unwrap_or_else(|| "n1".into()));
    config.cluster = args.next();
    let server = ChatServer::start(listen, config).await?;
    println!("chat node listening on {}", server.local_addr());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
