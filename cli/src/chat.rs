//! `packwire chat`: the IM chat server of `packwire_cluster::chat`, one node or
//! clustered over Redis or NATS, and an interactive client for it.

use std::io;
use std::time::Duration;

use packwire_cluster::chat::{ChatConfig, ChatServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::net::{at, runtime};
use crate::stop::say;

/// `packwire chat`'s subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ChatCommand {
    /// Run one chat node.
    Serve(Serve),
    /// Log in to a chat node as USER and send stdin lines as commands
    /// (`TO bob hi`, `JOIN room`, `GROUP room hi`, `ALL hi`, `WHO bob`).
    Connect {
        /// The node's address (ip:port).
        addr: String,
        /// The user to log in as.
        #[arg(long)]
        user: String,
    },
}

/// `chat serve`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Serve {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7100")]
    pub(crate) listen: String,
    /// This node's name (unique in the cluster; WHO answers with it).
    #[arg(long, default_value = "node-1")]
    pub(crate) node: String,
    /// The cluster's broker: redis://HOST:PORT or nats://HOST:PORT (nats-server -js).
    /// Without it the node is alone.
    #[arg(long, value_name = "URL")]
    pub(crate) cluster: Option<String>,
    /// Presence TTL in seconds: a node that dies is offline within it.
    #[arg(long, default_value_t = 15)]
    pub(crate) ttl: u64,
    /// Evict a client silent for this many seconds (clients PING to stay).
    #[arg(long, default_value_t = 60)]
    pub(crate) idle: u64,
    /// Close a connection that has not logged in within this many seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) login_timeout: u64,
    /// Stop after this many seconds.
    #[arg(long)]
    pub(crate) seconds: Option<u64>,
}

/// Runs a `chat` subcommand: its name (for errors) and its result.
pub(crate) fn run(cmd: ChatCommand) -> (&'static str, io::Result<()>) {
    match cmd {
        ChatCommand::Serve(a) => ("chat serve", serve(a)),
        ChatCommand::Connect { addr, user } => ("chat connect", connect(&addr, &user)),
    }
}

pub(crate) fn serve(a: Serve) -> io::Result<()> {
    let listen: std::net::SocketAddr = a.listen.parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--listen {:?}: {e} (ip:port)", a.listen),
        )
    })?;
    runtime()?.block_on(async move {
        let stop = crate::stop::Stop::install(a.seconds);
        let mut cfg = ChatConfig::new(a.node.clone());
        cfg.cluster = a.cluster.clone();
        cfg.ttl = Duration::from_secs(a.ttl.max(1));
        cfg.idle = Duration::from_secs(a.idle.max(1));
        cfg.login_timeout = Duration::from_secs(a.login_timeout.max(1));
        let server = ChatServer::start(listen, cfg).await.map_err(|e| match e {
            packwire_cluster::chat::ChatError::Listen(e) => at(&a.listen, e),
            e => io::Error::other(e.to_string()),
        })?;
        let how = a
            .cluster
            .as_deref()
            .map_or_else(|| "single node".to_string(), |u| format!("cluster {u}"));
        say(&format!(
            "chat node {} listening on {} ({how})",
            a.node,
            server.local_addr()
        ));
        stop.requested().await;
        let cluster = server.cluster().map(|c| c.stats());
        let stats = server.shutdown().await;
        say(&format!(
            "chat node {}: {} connections served, {} lines in, {} out",
            a.node, stats.accepted, stats.messages_in, stats.messages_out
        ));
        if let Some(c) = cluster {
            let (published, received, dropped) = c.totals();
            say(&format!(
                "cluster: {published} published, {received} received, {dropped} dropped, {} broker breaks, {} resubscriptions",
                c.broker_downs, c.resubscribes
            ));
        }
        Ok(())
    })
}

/// `chat connect ADDR --user NAME`: logs in, sends each stdin line as a command, prints
/// every line from the server, and `PING`s while stdin is quiet so the server's idle
/// eviction spares it. At the end of stdin it sends `QUIT` and waits for the close.
pub(crate) fn connect(addr: &str, user: &str) -> io::Result<()> {
    runtime()?.block_on(async move {
        let s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| at(addr, e))?;
        let (r, mut w) = s.into_split();
        w.write_all(format!("LOGIN {user}\n").as_bytes()).await?;
        let printer = tokio::spawn(async move {
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if l != "PONG" {
                    say(&l);
                }
            }
        });
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        let mut ping = tokio::time::interval(Duration::from_secs(20));
        ping.tick().await;
        loop {
            tokio::select! {
                line = stdin.next_line() => match line? {
                    Some(l) => w.write_all(format!("{l}\n").as_bytes()).await?,
                    None => break,
                },
                _ = ping.tick() => w.write_all(b"PING\n").await?,
            }
        }
        w.write_all(b"QUIT\n").await?;
        let _ = tokio::time::timeout(Duration::from_secs(5), printer).await;
        Ok(())
    })
}
