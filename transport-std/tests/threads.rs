//! The thread-per-connection mode (`threads_per_connection(true)`) over real loopback sockets:
//! what its connection thread does on its own (time limits, the connection tick, reads that no
//! timeout ends). `rust_pair.rs` runs most Rust↔Rust tests in both modes.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;
use tinyproto_std::core::session::Phase;
use tinyproto_std::{
    Conn, ConnError, Error, Handler, Sent, Server, ServerBuilder, TcpConnection, Timeouts,
    DEFAULT_TIMEOUTS,
};

fn threaded() -> ServerBuilder {
    Server::builder()
        .listen("127.0.0.1:0")
        .threads_per_connection(true)
}

#[test]
fn a_stalled_header_times_out_and_others_are_served() {
    let stall = DEFAULT_TIMEOUTS.stall(200);
    let server = TestServer::start(threaded().timeouts(stall), |_| Echo);
    let mut good = TcpConnection::connect(server.addr).unwrap();
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    raw.write_all(&[0xff]).unwrap();
    raw.read_exact(&mut [0]).unwrap();
    raw.write_all(&[0, 0]).unwrap();
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            why.error(),
            Some(Error::Timeout {
                phase: Phase::Header
            })
        ),
        "{why}"
    );
    assert_eq!(good.transmit(b"on").unwrap(), Sent::Written);
    assert_eq!(good.receive().unwrap().message().unwrap(), echo(b"on"));
    server.stop();
}

/// The connection tick runs `loop_pass` on the connection's own thread.
#[test]
fn the_connection_tick_runs_loop_pass() {
    struct Ticks(mpsc::Sender<()>);
    impl Handler for Ticks {
        fn loop_pass(&mut self, _: &mut Conn) {
            let _ = self.0.send(());
        }
    }
    let (tx, rx) = mpsc::channel();
    let builder = threaded().connection_tick(Some(Duration::from_millis(10)));
    let server = TestServer::start(builder, move |_| Ticks(tx.clone()));
    let _conn = TcpConnection::connect(server.addr).unwrap();
    for _ in 0..3 {
        rx.recv_timeout(WAIT).expect("a tick");
    }
    server.stop();
}

/// With no time limit and no tick the connections read no clock (every time is the same):
/// small messages and one larger than a poll moves at once (which asks to be polled again "at
/// once") still flow both ways, from a blocking client that reads no clock either.
#[test]
fn without_timeouts_messages_small_and_large_flow() {
    let large = message(3 * tinyproto_std::core::connection::POLL_BUDGET, 7);
    let builder = threaded()
        .timeouts(Timeouts::new())
        .max_message_size(2 * large.len());
    let server = TestServer::start(builder, |_| Echo);
    let addr = server.addr;
    // The client has no time limit of its own: it runs aside, and the test waits for it.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut conn = TcpConnection::builder()
            .timeouts(Timeouts::new())
            .max_message_size(2 * large.len())
            .connect(addr)
            .unwrap();
        for msg in [&b"a"[..], &large, b"bc"] {
            assert_eq!(conn.transmit(msg).unwrap(), Sent::Written);
            let reply = conn.receive().unwrap().message().unwrap();
            assert!(reply == echo(msg), "echo of {} bytes", msg.len());
        }
        done.send(()).unwrap();
    });
    finished.recv_timeout(WAIT).expect("all echoed in time");
    server.stop();
}

/// A hook may hand its `Conn` to another thread: that thread then drives the connection while
/// it waits (the connection thread waits for the hook), and the connection thread goes on
/// reading once the hook returns.
#[test]
fn a_hook_that_waits_on_another_thread_drives_the_connection_from_there() {
    /// Answers each message from a scoped thread: with a receive, then the echo of both.
    struct Aside;
    impl Handler for Aside {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let more = conn.receive_timeout(WAIT).expect("the second message");
                    conn.transmit([&msg[..], &more[..]].concat()).expect("sent");
                });
            });
        }
    }
    let server = TestServer::start(threaded(), |_| Aside);
    let mut client = TcpConnection::connect(server.addr).unwrap();
    for round in 0..3u8 {
        for part in [b"ab", b"cd"] {
            assert_eq!(client.transmit(part).unwrap(), Sent::Written, "{round}");
        }
        let reply = client.receive().unwrap().message().unwrap();
        assert_eq!(reply, b"abcd", "round {round}");
    }
    server.stop();
}

/// With no time limit a connection thread's read between messages has no timeout: sends from
/// another thread through the handle (small ones, and one larger than the socket buffers,
/// whose rest the connection thread writes) still flow, and a close from another thread still
/// ends that read.
#[test]
fn without_timeouts_sends_from_another_thread_flow_and_close_ends_the_read() {
    struct Forward(mpsc::Sender<Vec<u8>>);
    impl Handler for Forward {
        fn transmission_received(&mut self, _: &mut Conn, msg: Vec<u8>) {
            let _ = self.0.send(msg);
        }
    }
    let large = message(16 << 20, 3);
    let server = TestServer::start(
        threaded()
            .timeouts(Timeouts::new())
            .max_message_size(2 * large.len()),
        |_| Echo,
    );
    let (tx, echoes) = mpsc::channel();
    let client = tinyproto_std::Client::builder()
        .threads_per_connection(true)
        .timeouts(Timeouts::new())
        .max_message_size(2 * large.len())
        .build(move |_| Forward(tx.clone()))
        .unwrap();
    let conn = client.connect(server.addr).unwrap();
    for msg in [&b"a"[..], &large, b"bc"] {
        conn.transmit(msg).unwrap();
        let reply = echoes.recv_timeout(WAIT).expect("an echo");
        assert!(reply == echo(msg), "echo of {} bytes", msg.len());
    }
    conn.close();
    let (_, why) = server.next_shutdown();
    assert!(why.is_normal(), "{why}");
    server.stop();
}

/// With no time limit, a hook's `receive_timeout` still ends at its own limit while the peer
/// sends nothing.
#[test]
fn without_timeouts_a_hooks_receive_timeout_ends() {
    struct Patient(mpsc::Sender<Result<Vec<u8>, ConnError>>);
    impl Handler for Patient {
        fn pre_loop(&mut self, conn: &mut Conn) {
            let _ = self.0.send(conn.receive_timeout(Duration::from_millis(50)));
        }
    }
    let (tx, got) = mpsc::channel();
    let server = TestServer::start(threaded().timeouts(Timeouts::new()), move |_| {
        Patient(tx.clone())
    });
    let conn = TcpConnection::connect(server.addr).unwrap();
    let first = got.recv_timeout(WAIT).expect("receive_timeout returned");
    assert!(matches!(first, Err(ConnError::Timeout)), "{first:?}");
    drop(conn);
    server.stop();
}
