//! Many idle connections on one server: all accepted at once, small in memory, no CPU.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tinyproto_std::Server;

/// A number from `/proc/self/status` (kB) or `/proc/self/limits`.
fn proc_field(file: &str, key: &str, index: usize) -> u64 {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line[key.len()..]
        .split_whitespace()
        .nth(index)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

/// User + system CPU time of this process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn ten_thousand_idle_connections_are_small_and_cost_no_cpu() {
    // Both ends live in this process: fit in the descriptor limit.
    let fds = proc_field("/proc/self/limits", "Max open files", 0);
    let n = 10_000.min((fds.saturating_sub(300) / 2) as usize);
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Echo);
    let rss_before = proc_field("/proc/self/status", "VmRSS:", 0);
    // Connect all first (a burst in the backlog), then handshake all.
    let mut peers: Vec<TcpStream> = (0..n)
        .map(|i| TcpStream::connect(server.addr).unwrap_or_else(|e| panic!("connect {i}: {e}")))
        .collect();
    for peer in &mut peers {
        peer.set_read_timeout(Some(WAIT)).unwrap();
        peer.write_all(&[0xff]).unwrap();
    }
    for peer in &mut peers {
        let mut init = [0];
        peer.read_exact(&mut init).unwrap();
        assert_eq!(init, [0xff]);
    }
    // Each peer has the server's init byte: the server registered it before writing that.
    assert_eq!(server.handle.connections().len(), n);
    let rss_after = proc_field("/proc/self/status", "VmRSS:", 0);
    let per_conn = (rss_after.saturating_sub(rss_before)) * 1024 / n as u64;
    eprintln!("{n} idle connections: {per_conn} bytes of RSS each");
    assert!(per_conn <= 16 * 1024, "{per_conn} bytes per connection");

    // Idle: the process (server and these peers) spends next to no CPU.
    let ticks = cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks() - ticks;
    eprintln!("CPU over 1 s idle: {used} ticks");
    assert!(used <= 10, "{used} clock ticks of CPU in 1 s idle");

    // And each of them still answers.
    for peer in peers.iter_mut().step_by((n / 10).max(1)) {
        peer.write_all(&[0, 0, 0, 1]).unwrap();
        let mut ok = [0];
        peer.read_exact(&mut ok).unwrap();
        peer.write_all(b"x").unwrap();
        let mut header = [0; 4];
        peer.read_exact(&mut header).unwrap();
        assert_eq!(header, [0, 0, 0, 12]);
        peer.write_all(&[0xff]).unwrap();
        let mut reply = [0; 12];
        peer.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"Echo back: x");
    }
}
