//! Out of descriptors: accepting resumes on its own once descriptors are free again. (Its own
//! test binary: it exhausts the process's descriptors.)

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use tinyproto_std::Server;

/// The I/O thread's `/proc` status, opened ahead (reading it later takes no descriptor).
fn io_thread_status() -> File {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "tinyproto-io" {
            return File::open(path.join("status")).unwrap();
        }
    }
    panic!("no I/O thread")
}

/// Its voluntary context switches, and whether it sleeps now.
fn switches_and_sleeping(status: &File) -> (u64, bool) {
    let mut buf = vec![0; 4096];
    let n = status.read_at(&mut buf, 0).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    let field = |key: &str| {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..].trim().to_string()
    };
    let switches = field("voluntary_ctxt_switches:").parse().unwrap();
    (switches, field("State:").starts_with('S'))
}

#[test]
fn accepting_resumes_after_running_out_of_descriptors() {
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Echo);
    drop(tinyproto_std::TcpConnection::connect(server.addr).unwrap()); // the server is up
    let status = io_thread_status();
    // Take every descriptor but one, which our end of the connection takes.
    let mut files = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        files.push(file);
    }
    files.pop();
    let (switches, _) = switches_and_sleeping(&status);
    let mut peer = TcpStream::connect(server.addr).unwrap();
    // The I/O thread wakes for the connection, fails to accept it (no descriptor) and sleeps
    // again; only then are descriptors freed.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (now, sleeping) = switches_and_sleeping(&status);
        if now > switches && sleeping {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the I/O thread never woke"
        );
        std::thread::yield_now();
    }
    drop(files);
    // No other connection arrives to make the listener ready again: the server accepts the
    // waiting one by itself.
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.write_all(&[0xff]).unwrap();
    let mut init = [0];
    peer.read_exact(&mut init).unwrap();
    assert_eq!(init, [0xff]);
    server.stop();
}
