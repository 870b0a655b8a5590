//! Shared by the integration tests: an echo handler, a server whose hooks report to a channel,
//! and (from the testkit) the plugins of `examples/python/tpcompat.py`.
#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tinyproto_std::{
    CloseReason, Conn, ConnSerial, ConnectionHandle, Handler, ServerBuilder, ServerHandle,
    ServerHooks, StartError,
};

/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);

/// The seed's echo: `Echo back: ` + message.
pub struct Echo;

impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let _ = conn.transmit(echo(&msg));
    }
}

pub fn echo(msg: &[u8]) -> Vec<u8> {
    [b"Echo back: ", msg].concat()
}

/// A deterministic message of `len` bytes.
pub fn message(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// What the server hooks saw.
#[derive(Debug)]
pub enum Seen {
    Init(ConnSerial, SocketAddr),
    Shutdown(ConnSerial, CloseReason),
    Refused(SocketAddr),
    PostLoop,
}

pub struct Report(pub mpsc::Sender<Seen>);

impl ServerHooks for Report {
    fn post_loop(&mut self, _: &ServerHandle) {
        let _ = self.0.send(Seen::PostLoop);
    }
    fn conn_init(&mut self, _: &ServerHandle, conn: &ConnectionHandle) {
        let _ = self.0.send(Seen::Init(conn.id(), conn.peer_addr()));
    }
    fn conn_shutdown(&mut self, _: &ServerHandle, conn: &ConnectionHandle, why: &CloseReason) {
        let _ = self.0.send(Seen::Shutdown(conn.id(), why.clone()));
    }
    fn conn_refused(&mut self, _: &ServerHandle, peer: SocketAddr) {
        let _ = self.0.send(Seen::Refused(peer));
    }
}

/// A running server; shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub seen: mpsc::Receiver<Seen>,
    thread: Option<JoinHandle<Result<(), StartError>>>,
}

impl TestServer {
    pub fn start<H: Handler>(
        builder: ServerBuilder,
        factory: impl Fn(&ConnectionHandle) -> H + Send + Sync + 'static,
    ) -> TestServer {
        let server = builder.bind().expect("bind");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let (tx, seen) = mpsc::channel();
        let thread = std::thread::spawn(move || server.run(factory, Report(tx)));
        TestServer {
            addr,
            handle,
            seen,
            thread: Some(thread),
        }
    }

    /// The next close reported by `conn_shutdown` (skipping other notices).
    pub fn next_shutdown(&self) -> (ConnSerial, CloseReason) {
        loop {
            match self.seen.recv_timeout(WAIT).expect("a conn_shutdown") {
                Seen::Shutdown(id, why) => return (id, why),
                _ => continue,
            }
        }
    }

    /// Shuts down and waits for `post_loop`.
    pub fn stop(mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread").expect("server run");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A field of `/proc/self/status`, in bytes.
pub fn status_bytes(key: &str) -> usize {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    let kb: usize = line[key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    kb * 1024
}
