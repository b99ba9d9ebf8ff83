//! What the CLI tests share: running the binary, and a server it starts that is stopped
//! when the test ends, however it ends.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Output, Stdio};

/// Runs `packwire args` with `stdin`, to the end.
pub(crate) fn packwire(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn packwire");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// A running `packwire` server, killed (by its PID) when dropped.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `packwire args` and returns it with the first line it printed (where it
/// listens); the rest of its output is read and dropped.
pub(crate) fn start<I, S>(args: I) -> (Server, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn packwire");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let server = Server(child);
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (server, first.trim().to_owned())
}
