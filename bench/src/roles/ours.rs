//! Our contender: `tinyproto-std`'s server (mio reactor; hooks inline on the I/O thread with
//! `--hooks inline`, on hook threads with `--hooks pool`; a thread per connection with
//! `--hooks threads`) and, on the client side, the three
//! ways its users send (outgoing messages are passed as owned or shared buffers, which the
//! crate sends without copying):
//! * `direct`: the blocking [`TcpConnection`] (`transmit`, then `receive_into` one reused
//!   buffer);
//! * `hook`: a [`Client`] whose [`Handler`] sends from inside `transmission_received`
//!   (bulk: from `pre_loop`);
//! * `thread`: a [`Client`] driven from the main thread through a [`ConnectionHandle`]
//!   (`send`; echoes come back through `transmission_received`).
//!
//! In the echo task, the `hook` and `thread` clients send back the echo they received (moved,
//! not copied), as a program answering what it got would: its memory then receives the next
//! echo. The floor reuses its buffers in the same way.

use super::{print_result, RoleArgs, FILL, SINK_ECHO_BELOW};
use std::io;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tinyproto_std::{
    Client, Conn, ConnError, Handler, Message, Received, Sent, Server, TcpConnection, Timeouts,
    DEFAULT_SPIN,
};

/// The payload, allocated once in place (`Vec` → `Arc<[u8]>` would copy it: a 256 MiB sender
/// would peak at twice the message because of the harness, not of the crate).
fn shared_payload(size: usize) -> Arc<[u8]> {
    std::iter::repeat_n(FILL, size).collect()
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Long transfers must not trip the stall timeouts; the harness bounds every run itself.
const TIMEOUTS: Timeouts = Timeouts::new();
const CONNECT: Option<Duration> = Some(Duration::from_secs(10));

struct Echo {
    echo_all: bool,
}

impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        if self.echo_all || msg.len() < SINK_ECHO_BELOW {
            // The received `Vec` is moved back out: no copy.
            let _ = conn.transmit(msg);
        }
    }
}

/// The spin limit of `--spin`, or the library's default.
fn spin(a: &RoleArgs) -> io::Result<Duration> {
    Ok(a.spin_limit().map_err(err)?.unwrap_or(DEFAULT_SPIN))
}

pub fn server(a: &RoleArgs) -> io::Result<()> {
    let server = Server::builder()
        .listen(format!("127.0.0.1:{}", a.port))
        .max_message_size(a.max)
        .timeouts(TIMEOUTS)
        .spin(spin(a)?)
        .inline_hooks(a.hooks == "inline")
        .threads_per_connection(a.hooks == "threads")
        .bind()
        .map_err(err)?;
    println!("LISTENING {}", server.local_addrs()[0].port());
    let echo_all = a.mode == "echo";
    server.run(move |_| Echo { echo_all }, ()).map_err(err)
}

pub fn client(a: &RoleArgs) -> io::Result<()> {
    match a.send.as_str() {
        "direct" => direct(a),
        "hook" => hook(a),
        _ => thread(a),
    }
}

fn direct(a: &RoleArgs) -> io::Result<()> {
    let mut conn = TcpConnection::builder()
        .max_message_size(a.size.max(1))
        .timeouts(TIMEOUTS)
        .spin(spin(a)?)
        .connect_timeout(CONNECT)
        .connect(("127.0.0.1", a.port))
        .map_err(err)?;
    let payload = shared_payload(a.size);
    let mut echo = Vec::new();
    let deadline = a.deadline();
    let start = Instant::now();
    let mut ops = 0;
    while ops < a.count && Instant::now() < deadline {
        if conn.transmit(payload.clone()).map_err(err)? != Sent::Written {
            return Err(err("the peer rejected the payload"));
        }
        if a.task == "echo" {
            let received = conn.receive_into(&mut echo).map_err(err)?;
            if received != Received::Message(()) || echo.len() != payload.len() {
                return Err(err("echo of the wrong length"));
            }
        }
        ops += 1;
    }
    if a.task == "bulk" {
        if conn.transmit(b"E").map_err(err)? != Sent::Written {
            return Err(err("the peer rejected the end mark"));
        }
        if conn.receive().map_err(err)?.message().is_none() {
            return Err(err("no answer to the end mark"));
        }
    }
    print_result(ops, ops * a.size as u64, start.elapsed());
    Ok(())
}

/// Sends from the connection's own hooks; reports `(ops, elapsed)` when done.
struct HookSender {
    a: Arc<RoleArgs>,
    payload: Arc<[u8]>,
    start: Option<Instant>,
    deadline: Instant,
    ops: u64,
    done: mpsc::Sender<(u64, Duration)>,
}

impl HookSender {
    fn finish(&mut self) {
        let elapsed = self.start.map_or(Duration::ZERO, |s| s.elapsed());
        let _ = self.done.send((self.ops, elapsed));
    }
}

impl Handler for HookSender {
    fn pre_loop(&mut self, conn: &mut Conn) {
        if self.a.task == "bulk" {
            self.start = Some(Instant::now());
            self.deadline = self.a.deadline();
            while self.ops < self.a.count && Instant::now() < self.deadline {
                if conn.transmit(self.payload.clone()).is_err() {
                    break;
                }
                self.ops += 1;
            }
            let _ = conn.transmit(b"E");
        } else {
            let _ = conn.transmit(self.payload.clone());
        }
    }

    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        if self.a.task == "bulk" || msg.len() != self.a.size {
            return self.finish();
        }
        if self.start.is_none() {
            // The clock starts at the first echo, as for the Python client.
            self.start = Some(Instant::now());
            self.deadline = self.a.deadline();
        } else {
            self.ops += 1;
        }
        if self.ops < self.a.count && Instant::now() < self.deadline {
            if conn.transmit(msg).is_err() {
                self.finish();
            }
        } else {
            self.finish();
        }
    }
}

fn hook(a: &RoleArgs) -> io::Result<()> {
    let (done, finished) = mpsc::channel();
    let shared = Arc::new(a.clone());
    let payload = shared_payload(a.size);
    if a.task == "bulk" && a.hooks == "inline" {
        return Err(err(
            "an inline hook cannot wait for its send queue to drain: bulk from a hook needs hook threads",
        ));
    }
    let client = Client::builder()
        .max_message_size(a.size.max(1))
        .timeouts(TIMEOUTS)
        .spin(spin(a)?)
        .connect_timeout(CONNECT)
        .inline_hooks(a.hooks == "inline")
        .threads_per_connection(a.hooks == "threads")
        .build(move |_| HookSender {
            a: shared.clone(),
            payload: payload.clone(),
            start: None,
            deadline: Instant::now(),
            ops: 0,
            done: done.clone(),
        })
        .map_err(err)?;
    client.connect(("127.0.0.1", a.port)).map_err(err)?;
    let (ops, elapsed) = finished
        .recv_timeout(Duration::from_secs_f64(a.seconds + 120.0))
        .map_err(err)?;
    print_result(ops, ops * a.size as u64, elapsed);
    Ok(())
}

/// Hands every message received to the main thread.
struct Forward(mpsc::Sender<Vec<u8>>);

impl Handler for Forward {
    fn transmission_received(&mut self, _conn: &mut Conn, msg: Vec<u8>) {
        let _ = self.0.send(msg);
    }
}

fn thread(a: &RoleArgs) -> io::Result<()> {
    let (tx, rx) = mpsc::channel();
    let client = Client::builder()
        .max_message_size(a.size.max(1))
        .timeouts(TIMEOUTS)
        .spin(spin(a)?)
        .connect_timeout(CONNECT)
        .inline_hooks(a.hooks == "inline")
        .threads_per_connection(a.hooks == "threads")
        .build(move |_| Forward(tx.clone()))
        .map_err(err)?;
    let conn = client.connect(("127.0.0.1", a.port)).map_err(err)?;
    let payload = shared_payload(a.size);
    let wait = Duration::from_secs(60);
    let deadline = a.deadline();
    let start = Instant::now();
    let mut ops = 0;
    let mut echo: Option<Vec<u8>> = None;
    while ops < a.count && Instant::now() < deadline {
        let msg = echo
            .take()
            .map_or_else(|| payload.clone().into(), Message::from);
        match conn.send(msg) {
            Ok(()) => {}
            // The handle queues without waiting: back off while the queue is full.
            Err(ConnError::QueueFull) => {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            Err(e) => return Err(err(e)),
        }
        if a.task == "echo" {
            let got = rx.recv_timeout(wait).map_err(err)?;
            if got.len() != payload.len() {
                return Err(err("echo of the wrong length"));
            }
            echo = Some(got);
        }
        ops += 1;
    }
    if a.task == "bulk" {
        // The end marker waits behind what is still queued.
        let until = std::time::Instant::now() + wait;
        loop {
            match conn.send(b"E") {
                Ok(()) => break,
                Err(ConnError::QueueFull) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(err(e)),
            }
        }
        rx.recv_timeout(wait).map_err(err)?;
    }
    print_result(ops, ops * a.size as u64, start.elapsed());
    Ok(())
}
