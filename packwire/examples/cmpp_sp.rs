//! A CMPP SP (the side that sends SMS) against the ISMG simulator, in one process: log
//! in, submit a message that asks for a status report, wait for the report.
//!
//! `cargo run -p packwire --example cmpp_sp`

use std::time::Duration;

use packwire::codecs::cmpp::Version;
use packwire::sms::cmpp::{Account, Ismg, IsmgConfig, Outgoing, SpClient, SpConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // the gateway: one account, a status report half a second after each submit
    let cfg =
        IsmgConfig::new(vec![Account::new("901234", "s3cret")]).reports(Duration::from_millis(500));
    let ismg = Ismg::bind("127.0.0.1:0", cfg).await?;
    println!("ISMG listening on {}", ismg.local_addr());

    let sp = SpClient::connect(SpConfig::new(
        ismg.local_addr(),
        "901234",
        "s3cret",
        Version::V30,
    ))
    .await?;
    println!("logged in");
    let ids = sp
        .submit(&Outgoing::text("13800138000", "hello from packwire").with_report())
        .await?;
    println!("submitted, message id {:?}", ids[0]);
    match sp.report_for(ids[0], Duration::from_secs(5)).await {
        Some(stat) => println!("report: {stat}"),
        None => println!("no report in time"),
    }

    sp.terminate().await;
    println!("{}", ismg.shutdown().await);
    Ok(())
}
