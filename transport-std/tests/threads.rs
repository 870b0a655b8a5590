//! The thread-per-connection mode (`threads_per_connection(true)`) over real loopback sockets:
//! the same hooks, limits and timeouts as the reactor, on both the server and the client, and
//! against the other mode.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;
use tinyproto_std::core::session::{Phase, ProtocolError};
use tinyproto_std::{
    Client, CloseReason, Conn, ConnError, Error, Handler, Received, Sent, Server, ServerBuilder,
    StartError, TcpConnection, Timeouts,
};

const MIB: usize = 1 << 20;

fn threaded() -> ServerBuilder {
    Server::builder()
        .listen("127.0.0.1:0")
        .threads_per_connection(true)
}

#[test]
fn echoes_empty_tiny_large_and_huge_messages_to_a_blocking_client() {
    let server = TestServer::start(threaded(), |_| Echo);
    let mut conn = TcpConnection::connect(server.addr).unwrap();
    for len in [0, 1, 70_000, 5 * MIB] {
        let msg = message(len, 3);
        assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
        assert_eq!(conn.receive().unwrap().message().unwrap(), echo(&msg));
    }
    drop(conn);
    let (_, why) = server.next_shutdown();
    assert!(matches!(why, CloseReason::PeerClosed), "{why}");
    server.stop();
}

#[test]
fn oversize_is_refused_both_ways_and_the_connection_goes_on() {
    struct TwoReplies;
    impl Handler for TwoReplies {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            let big = conn.transmit(&[0u8; 500]);
            assert!(
                matches!(big, Err(ConnError::Rejected { len: 500 })),
                "{big:?}"
            );
            conn.transmit(&msg).unwrap();
        }
    }
    let server = TestServer::start(threaded().max_message_size(1000), |_| TwoReplies);
    let mut conn = TcpConnection::builder()
        .max_message_size(100)
        .connect(server.addr)
        .unwrap();
    assert_eq!(
        conn.transmit(&[1u8; 1001]).unwrap(),
        Sent::Rejected { len: 1001 }
    );
    assert_eq!(conn.transmit(b"small").unwrap(), Sent::Written);
    let refused = conn.receive().unwrap();
    assert_eq!(
        refused,
        Received::Refused {
            len: 500,
            limit: 100
        }
    );
    assert_eq!(conn.receive().unwrap().message().unwrap(), b"small");
    server.stop();
}

#[test]
fn connection_limit_answers_0xfe_and_frees_up() {
    let server = TestServer::start(threaded().max_connections(1), |_| Echo);
    let first = TcpConnection::connect(server.addr).unwrap();
    let err = TcpConnection::connect(server.addr)
        .err()
        .expect("at the limit");
    let StartError::Handshake(why) = err else {
        panic!("{err}")
    };
    assert!(
        matches!(
            why.error(),
            Some(Error::Protocol(ProtocolError::ConnectionLimit))
        ),
        "{why}"
    );
    drop(first);
    server.next_shutdown();
    let mut again = TcpConnection::connect(server.addr).unwrap();
    assert_eq!(again.transmit(b"x").unwrap(), Sent::Written);
    assert_eq!(again.receive().unwrap().message().unwrap(), echo(b"x"));
    server.stop();
}

/// Lockstep inside hooks on both sides, each side a thread per connection: the client's
/// `pre_loop` sends 4 MiB chunks and waits for each acknowledgement; the server's hook receives
/// the following chunks itself.
#[test]
fn lockstep_transmit_and_receive_inside_hooks_on_both_sides() {
    struct Receiver;
    impl Handler for Receiver {
        fn transmission_received(&mut self, conn: &mut Conn, first: Vec<u8>) {
            let mut chunk = first;
            loop {
                conn.transmit(format!("ack {}", chunk.len()).as_bytes())
                    .unwrap();
                match conn.receive() {
                    Ok(next) if next == b"done" => return,
                    Ok(next) => chunk = next,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
    struct Sender(mpsc::Sender<Vec<Vec<u8>>>);
    impl Handler for Sender {
        fn pre_loop(&mut self, conn: &mut Conn) {
            let mut acks = Vec::new();
            for i in 0..3 {
                conn.transmit(message(4 * MIB, i)).unwrap();
                acks.push(conn.receive().unwrap());
            }
            conn.transmit(b"done").unwrap();
            self.0.send(acks).unwrap();
        }
    }
    for server_threads in [true, false] {
        let builder = Server::builder()
            .listen("127.0.0.1:0")
            .threads_per_connection(server_threads);
        let server = TestServer::start(builder, |_| Receiver);
        let (tx, rx) = mpsc::channel();
        let client = Client::builder()
            .threads_per_connection(true)
            .build(move |_| Sender(tx.clone()))
            .unwrap();
        client.connect(server.addr).unwrap();
        let acks = rx.recv_timeout(WAIT).unwrap();
        let want = format!("ack {}", 4 * MIB).into_bytes();
        assert_eq!(acks, vec![want.clone(), want.clone(), want]);
        drop(client);
        server.stop();
    }
}

#[test]
fn handles_send_from_other_threads_broadcast_and_close() {
    struct Collect(mpsc::Sender<(u16, Vec<u8>)>);
    impl Handler for Collect {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            let _ = self.0.send((conn.handle().local_addr().port(), msg));
        }
        fn post_loop(&mut self, conn: &mut Conn) {
            let port = conn.handle().local_addr().port();
            let _ = self.0.send((port, b"closed".to_vec()));
        }
    }
    let server = TestServer::start(threaded(), |_| ());
    let (tx, rx) = mpsc::channel();
    let client = Client::builder()
        .threads_per_connection(true)
        .build(move |_| Collect(tx.clone()))
        .unwrap();
    let a = client.connect(server.addr).unwrap();
    let b = client.connect(server.addr).unwrap();
    assert_eq!(client.handle().connections().len(), 2);
    for _ in 0..2 {
        assert!(matches!(server.seen.recv_timeout(WAIT), Ok(Seen::Init(..))));
    }
    let conns = server.handle.connections();
    let (first, second) = (conns[0].clone(), conns[1].clone());
    let first_port = first.peer_addr().port();
    std::thread::spawn(move || first.transmit(b"from a thread").unwrap())
        .join()
        .unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        (first_port, b"from a thread".to_vec())
    );
    server.handle.broadcast(b"to all");
    assert_eq!(rx.recv_timeout(WAIT).unwrap().1, b"to all");
    assert_eq!(rx.recv_timeout(WAIT).unwrap().1, b"to all");
    server.handle.broadcast_except(second.id(), b"not to b");
    second.send(b"sentinel").unwrap();
    let mut got = vec![
        rx.recv_timeout(WAIT).unwrap(),
        rx.recv_timeout(WAIT).unwrap(),
    ];
    got.sort();
    let mut want = vec![
        (first_port, b"not to b".to_vec()),
        (second.peer_addr().port(), b"sentinel".to_vec()),
    ];
    want.sort();
    assert_eq!(got, want);
    // The client sends from its main thread too.
    a.send(b"up").unwrap();
    assert!(server.handle.close(second.id()));
    server.next_shutdown();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        (second.peer_addr().port(), b"closed".to_vec())
    );
    assert!(a.is_open() != b.is_open(), "exactly one closed");
    drop(client);
    server.stop();
}

#[test]
fn receive_timeout_in_a_hook_times_out_then_receives_the_next_message() {
    struct Patient(mpsc::Sender<Vec<u8>>);
    impl Handler for Patient {
        fn pre_loop(&mut self, conn: &mut Conn) {
            let first = conn.receive_timeout(Duration::from_millis(50));
            assert!(matches!(first, Err(ConnError::Timeout)), "{first:?}");
            conn.transmit(b"go").unwrap();
            let _ = self.0.send(conn.receive_timeout(WAIT).unwrap());
        }
    }
    let (tx, rx) = mpsc::channel();
    let server = TestServer::start(threaded(), move |_| Patient(tx.clone()));
    let mut conn = TcpConnection::connect(server.addr).unwrap();
    assert_eq!(conn.receive().unwrap().message().unwrap(), b"go");
    assert_eq!(conn.transmit(b"late").unwrap(), Sent::Written);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"late");
    server.stop();
}

#[test]
fn a_panicking_hook_closes_only_its_connection() {
    struct Fragile;
    impl Handler for Fragile {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            assert_ne!(msg, b"boom", "the test's deliberate panic");
            conn.transmit(echo(&msg)).unwrap();
        }
    }
    let server = TestServer::start(threaded(), |_| Fragile);
    let mut good = TcpConnection::connect(server.addr).unwrap();
    let mut bad = TcpConnection::connect(server.addr).unwrap();
    assert_eq!(bad.transmit(b"boom").unwrap(), Sent::Written);
    let (_, why) = server.next_shutdown();
    assert!(matches!(why, CloseReason::HookPanicked), "{why}");
    assert!(matches!(bad.receive(), Err(Error::Closed)));
    assert_eq!(good.transmit(b"fine").unwrap(), Sent::Written);
    assert_eq!(good.receive().unwrap().message().unwrap(), echo(b"fine"));
    server.stop();
}

/// A peer that stops in the middle of a header is closed by the stall timeout (the connection
/// thread's read timeout follows the protocol's), while another client is served.
#[test]
fn a_stalled_header_times_out_and_others_are_served() {
    let stall = Timeouts {
        stall: Some(Duration::from_millis(200)),
        ..Timeouts::default()
    };
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

#[test]
fn shutdown_from_a_hook_ends_run_and_closes_everyone() {
    struct Quitter(tinyproto_std::ServerHandle);
    impl Handler for Quitter {
        fn transmission_received(&mut self, _: &mut Conn, msg: Vec<u8>) {
            if msg == b"SRVQUIT" {
                self.0.shutdown();
            }
        }
    }
    let server = threaded().bind().unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.handle();
    let (tx, seen) = mpsc::channel();
    let thread =
        std::thread::spawn(move || server.run(move |_| Quitter(handle.clone()), Report(tx)));
    let mut bystander = TcpConnection::connect(addr).unwrap();
    let mut quitter = TcpConnection::connect(addr).unwrap();
    assert_eq!(quitter.transmit(b"SRVQUIT").unwrap(), Sent::Written);
    thread.join().unwrap().unwrap();
    let notices: Vec<Seen> = seen.try_iter().collect();
    let shutdowns = notices
        .iter()
        .filter(|s| matches!(s, Seen::Shutdown(_, CloseReason::Shutdown)))
        .count();
    assert_eq!(shutdowns, 2, "{notices:?}");
    assert!(matches!(notices.last(), Some(Seen::PostLoop)));
    assert!(matches!(bystander.receive(), Err(Error::Closed)));
}
