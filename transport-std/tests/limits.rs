//! Resource limits of the server: lingering refusals, unknown ids.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpStream;
use tinyproto_std::{ConnError, Server, TcpConnection};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn refusals_at_the_limit_do_not_each_hold_a_descriptor() {
    let builder = Server::builder().listen("127.0.0.1:0").max_connections(1);
    let server = TestServer::start(builder, |_| Echo);
    let _first = TcpConnection::connect(server.addr).unwrap();
    let before = open_descriptors();
    // Peers that never send their init byte and never close: each is answered `0xfe`.
    let refused: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut peer = TcpStream::connect(server.addr).unwrap();
            peer.set_read_timeout(Some(WAIT)).unwrap();
            let mut answer = [0];
            peer.read_exact(&mut answer).unwrap();
            assert_eq!(answer, [0xfe]);
            peer
        })
        .collect();
    // Our 300 ends, plus the server's: at most its cap of lingering refusals (64), plus a
    // little for what other tests of this file open meanwhile.
    let held = open_descriptors() - before;
    assert!(held <= 300 + 64 + 20, "{held} descriptors for 300 refusals");
    drop(refused);
    server.stop();
}

#[test]
fn sending_to_an_unknown_id_is_its_own_error() {
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Echo);
    let conn = TcpConnection::connect(server.addr).unwrap();
    let Seen::Init(id, _) = server.seen.recv_timeout(WAIT).unwrap() else {
        panic!("conn_init first")
    };
    assert!(server.handle.send_to(id, b"hi").is_ok());
    drop(conn);
    server.next_shutdown();
    let err = server.handle.send_to(id, b"hi").unwrap_err();
    assert!(matches!(err, ConnError::UnknownConnection), "{err}");
    server.stop();
}

#[test]
fn sends_through_handles_are_bounded_in_bytes() {
    let builder = Server::builder()
        .listen("127.0.0.1:0")
        .max_queued_bytes(1000);
    let server = TestServer::start(builder, |_| ());
    // A peer that never answers a header: whatever is sent stays queued or in flight.
    let mut peer = TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut peer, &[0xff]).unwrap();
    let Seen::Init(id, _) = server.seen.recv_timeout(WAIT).unwrap() else {
        panic!("conn_init first")
    };
    let send = |len: usize| server.handle.send_to(id, vec![0; len]);
    send(10).unwrap();
    send(600).unwrap();
    assert!(
        matches!(send(600), Err(ConnError::QueueFull)),
        "1210 > 1000"
    );
    send(300).unwrap();
    // One message larger than the whole budget still goes into an empty queue.
    let lone = TestServer::start(
        Server::builder().listen("127.0.0.1:0").max_queued_bytes(10),
        |_| (),
    );
    let _peer = TcpStream::connect(lone.addr).unwrap();
    let Seen::Init(id, _) = lone.seen.recv_timeout(WAIT).unwrap() else {
        panic!("conn_init first")
    };
    lone.handle.send_to(id, vec![0; 100]).unwrap();
    drop(peer);
    lone.stop();
    server.stop();
}

/// A raw peer past the handshake.
fn raw_peer(addr: std::net::SocketAddr) -> TcpStream {
    let mut peer = TcpStream::connect(addr).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    std::io::Write::write_all(&mut peer, &[0xff]).unwrap();
    peer.read_exact(&mut [0]).unwrap();
    peer
}

/// Announces a message of `len` bytes and returns the server's status byte.
fn announce(peer: &mut TcpStream, len: u32) -> u8 {
    std::io::Write::write_all(peer, &len.to_be_bytes()).unwrap();
    let mut status = [0];
    peer.read_exact(&mut status).unwrap();
    status[0]
}

#[test]
fn received_messages_share_one_memory_budget_and_a_header_past_it_is_refused_in_sync() {
    let builder = Server::builder()
        .listen("127.0.0.1:0")
        .max_buffered_bytes(1000);
    let server = TestServer::start(builder, |_| Echo);
    // A announces 600 and stalls after 10 bytes: it holds 600 of the 1000.
    let mut a = raw_peer(server.addr);
    assert_eq!(announce(&mut a, 600), 0xff);
    std::io::Write::write_all(&mut a, &[1; 10]).unwrap();
    // B: one byte past what is left is refused, and the connection goes on in sync.
    let mut b = raw_peer(server.addr);
    assert_eq!(announce(&mut b, 401), 0x00, "600 + 401 > 1000");
    assert_eq!(announce(&mut b, 400), 0xff, "600 + 400 fits exactly");
    let msg = message(400, 9);
    std::io::Write::write_all(&mut b, &msg).unwrap();
    let mut header = [0; 4];
    b.read_exact(&mut header).unwrap();
    let expected = echo(&msg);
    assert_eq!(u32::from_be_bytes(header) as usize, expected.len());
    std::io::Write::write_all(&mut b, &[0xff]).unwrap();
    let mut back = vec![0; expected.len()];
    b.read_exact(&mut back).unwrap();
    assert_eq!(back, expected);
    // Once A is gone and B's hook returned (B's next header is read only then), the memory
    // is free again.
    drop(a);
    server.next_shutdown();
    assert_eq!(announce(&mut b, 1000), 0xff, "the whole budget is free");
    server.stop();
}
