//! Hooks on the I/O thread (`inline_hooks(true)`): echo, queued transmits, refusals reported
//! to `transmission_failed`, and the calls that cannot wait there.

mod common;

use common::*;
use std::sync::mpsc;
use tinyproto_std::{Client, Conn, ConnError, Handler, Received, Sent, Server, TcpConnection};

#[test]
fn an_inline_server_echoes_every_size() {
    let builder = Server::builder().listen("127.0.0.1:0").inline_hooks(true);
    let server = TestServer::start(builder, |_| Echo);
    let mut conn = TcpConnection::connect(server.addr).unwrap();
    for len in [0, 1, 70_000, 5 << 20] {
        let msg = message(len, 1);
        assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
        assert_eq!(
            conn.receive().unwrap().message().unwrap(),
            echo(&msg),
            "{len} bytes"
        );
    }
    server.stop();
}

#[test]
fn inline_transmits_queue_and_refusals_reach_transmission_failed() {
    /// Answers each message with a refused one, then an accepted one; reports what it saw.
    struct Twice(mpsc::Sender<String>);
    impl Handler for Twice {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            let waited = conn.receive();
            let handle_waited = conn.handle().transmit(b"x");
            let _ = self.0.send(format!("{waited:?} {handle_waited:?}"));
            conn.transmit(vec![0; 500]).unwrap();
            conn.transmit(msg).unwrap();
        }
        fn transmission_failed(&mut self, _: &mut Conn, error: ConnError) {
            let _ = self.0.send(format!("failed: {error:?}"));
        }
    }
    let (tx, rx) = mpsc::channel();
    let builder = Server::builder().listen("127.0.0.1:0").inline_hooks(true);
    let server = TestServer::start(builder, move |_| Twice(tx.clone()));
    let mut conn = TcpConnection::builder()
        .max_message_size(100)
        .connect(server.addr)
        .unwrap();
    assert_eq!(conn.transmit(b"small").unwrap(), Sent::Written);
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        "Err(WouldBlockInline) Err(WouldBlockInline)"
    );
    let refused = conn.receive().unwrap();
    assert!(
        matches!(refused, Received::Refused { len: 500, .. }),
        "{refused:?}"
    );
    assert_eq!(conn.receive().unwrap().message().unwrap(), b"small");
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        "failed: Rejected { len: 500 }"
    );
    server.stop();
}

#[test]
fn an_inline_client_sends_from_pre_loop() {
    /// Sends from `pre_loop`, forwards the answer.
    struct Ping(mpsc::Sender<Vec<u8>>);
    impl Handler for Ping {
        fn pre_loop(&mut self, conn: &mut Conn) {
            conn.transmit(b"ping").unwrap();
        }
        fn transmission_received(&mut self, _: &mut Conn, msg: Vec<u8>) {
            let _ = self.0.send(msg);
        }
    }
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Echo);
    let (tx, rx) = mpsc::channel();
    let client = Client::builder()
        .inline_hooks(true)
        .build(move |_| Ping(tx.clone()))
        .unwrap();
    client.connect(server.addr).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), echo(b"ping"));
    drop(client);
    server.stop();
}
