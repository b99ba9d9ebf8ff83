//! `cmpp bench` and `smpp bench`: gateway clients of either protocol, each keeping its
//! window of submits in flight (the next one queued as each answer comes), for a time;
//! prints one JSON line.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use packwire_sms::session::{Event, GatewayClient, Protocol};

/// Runs `clients` for `seconds`, each submitting copies of `part`; prints JSON (submits,
/// submits per second, refusals by status, connections lost) and fails when a
/// connection was lost or a submit refused (the partial result printed first).
pub(crate) async fn run<P>(
    clients: Vec<GatewayClient<P>>,
    part: P::Submit,
    window: usize,
    seconds: u64,
) -> io::Result<()>
where
    P: Protocol + Send + 'static,
    P::Pdu: Send + Sync + 'static,
    P::Submit: Send + 'static,
{
    let conns = clients.len();
    // every client logged in before the clock starts
    for c in &clients {
        if !c.logged_in(Duration::from_secs(10)).await {
            return Err(io::Error::other("login: refused, or no answer within 10 s"));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    for client in clients {
        let part = part.clone();
        tasks.spawn(async move {
            let (mut accepted, mut lost) = (0u64, false);
            let mut refused: BTreeMap<String, u64> = BTreeMap::new();
            // twice the window queued: the session always has the next one ready
            for _ in 0..2 * window {
                client.submit(part.clone());
            }
            loop {
                match tokio::time::timeout_at(deadline, client.next_event()).await {
                    Err(_) => break,
                    Ok(Some(Event::Accepted { .. })) => {
                        accepted += 1;
                        client.submit(part.clone());
                    }
                    Ok(Some(Event::Rejected { status, .. })) => {
                        *refused.entry(format!("status {status:#x}")).or_default() += 1;
                        client.submit(part.clone());
                    }
                    Ok(Some(Event::TimedOut(_))) => {
                        *refused.entry("no answer".into()).or_default() += 1;
                    }
                    Ok(Some(Event::LoginRefused(_) | Event::LoggedOut)) | Ok(None) => {
                        lost = true;
                        break;
                    }
                    Ok(Some(_)) => {}
                }
            }
            lost |= !client.is_logged_in();
            client.shutdown(Duration::from_secs(1)).await;
            (accepted, refused, lost)
        });
    }
    let (mut accepted, mut lost) = (0u64, 0usize);
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let (a, f, l) = r.map_err(io::Error::other)?;
        accepted += a;
        for (k, v) in f {
            *failures.entry(k).or_default() += v;
        }
        lost += usize::from(l);
    }
    let failed: u64 = failures.values().sum();
    let secs = seconds.max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "conns": conns,
            "window": window,
            "seconds": seconds,
            "submits": accepted,
            "failed": failed,
            "failures": failures,
            "lost_connections": lost,
            "submits_per_sec": (accepted as f64 / secs).round(),
        })
    );
    if lost > 0 {
        return Err(io::Error::other(format!(
            "{lost} of {conns} connections were lost before the end (the result above is partial)"
        )));
    }
    if failed > 0 {
        return Err(io::Error::other(format!("{failed} submit(s) refused")));
    }
    Ok(())
}
