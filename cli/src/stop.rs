//! When a server command stops: after `--seconds`, or at the first SIGINT or SIGTERM
//! (graceful: stop accepting, write what is queued, close with FIN, print the
//! statistics, exit 0). A second signal stops the process at once (exit 130).

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The stop of one server command; [`Stop::install`] it before the server says it is
/// listening, so a signal sent from then on is never the default (fatal) one.
pub(crate) struct Stop {
    seconds: Option<u64>,
    signals: Option<(Signal, Signal)>,
}

impl Stop {
    /// Takes over SIGINT and SIGTERM (inside a runtime).
    pub(crate) fn install(seconds: Option<u64>) -> Self {
        let signals = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => Some((i, t)),
            _ => None, // no signal handling here: only the time limit stops
        };
        Stop { seconds, signals }
    }

    /// Resolves when the server should stop gracefully; from then on a second signal
    /// exits at once.
    pub(crate) async fn requested(self) {
        let Some((mut int, mut term)) = self.signals else {
            return after(self.seconds).await;
        };
        let which = tokio::select! {
            () = after(self.seconds) => return,
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        eprintln!("{which}: stopping gracefully (a second signal stops at once)");
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            eprintln!("second signal: stopping now");
            std::process::exit(130);
        });
    }
}

async fn after(seconds: Option<u64>) {
    match seconds {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => std::future::pending().await,
    }
}

/// Prints `line` on stdout; when stdout is a pipe whose reader has gone (`packwire serve |
/// head`), ends the process quietly instead of panicking as `println!` does, the way a
/// Unix tool ends on SIGPIPE.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("packwire: writing to stdout: {e}");
        std::process::exit(1);
    }
}
