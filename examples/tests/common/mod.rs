#![allow(dead_code)] // each test file uses its own subset
//! Spawning the example binaries and the Python example programs with a writable stdin.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tinyproto_testkit::{python_examples, Peer, PyVersion};

/// Every wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);

/// One of this package's binaries, stdin piped.
pub fn binary(path: &str, args: &[&str]) -> Peer {
    let mut command = Command::new(path);
    command.args(args).stdin(Stdio::piped());
    Peer::spawn(command)
}

/// A Python example program, stdin piped.
pub fn python(version: PyVersion, script: &str, args: &[&str]) -> Peer {
    let mut command = Command::new(version.python());
    command
        .arg("-u")
        .arg(script)
        .args(args)
        .current_dir(python_examples())
        .stdin(Stdio::piped());
    Peer::spawn(command)
}

/// Starts a server program and returns it with its port, from its `LISTENING` line (Rust:
/// `LISTENING 127.0.0.1:port`; Python: `LISTENING port tinyproto x`).
pub fn server(mut peer: Peer) -> (Peer, u16) {
    let line = peer
        .wait_for_line(|l| l.starts_with("LISTENING "), WAIT)
        .expect("server did not start listening");
    let word = line.split_whitespace().nth(1).expect("LISTENING <addr>");
    let port = word
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (peer, port)
}

/// Writes one line to the peer's stdin.
pub fn say(peer: &mut Peer, line: &str) {
    let stdin = peer.child_mut().stdin.as_mut().expect("piped stdin");
    writeln!(stdin, "{line}").expect("write to stdin");
    stdin.flush().expect("flush stdin");
}

/// Closes the peer's stdin (end of input).
pub fn hang_up(peer: &mut Peer) {
    drop(peer.child_mut().stdin.take());
}

/// Waits for a line equal to `want`.
pub fn expect_line(peer: &mut Peer, want: &str) {
    let got = peer.wait_for_line(|l| l == want, WAIT);
    assert_eq!(got.as_deref(), Some(want));
}
