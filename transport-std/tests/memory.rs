//! Memory of a large send through a handle: the message is moved, never copied. (Its own test
//! binary: it reads the process's peak RSS.)

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use tinyproto_std::Server;

#[test]
fn a_256_mib_send_costs_the_message_and_little_more() {
    const LEN: usize = 256 << 20;
    let builder = Server::builder().listen("127.0.0.1:0");
    let server = TestServer::start(builder, |_| ());
    let mut peer = TcpStream::connect(server.addr).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.write_all(&[0xff]).unwrap();
    peer.read_exact(&mut [0]).unwrap();
    let Seen::Init(id, _) = server.seen.recv_timeout(WAIT).unwrap() else {
        panic!("conn_init first")
    };
    // Peak RSS from here on.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_bytes("VmRSS:");
    let msg = vec![7u8; LEN];
    server.handle.send_to(id, msg).unwrap();
    let mut header = [0; 4];
    peer.read_exact(&mut header).unwrap();
    assert_eq!(u32::from_be_bytes(header) as usize, LEN);
    peer.write_all(&[0xff]).unwrap();
    let mut chunk = vec![0; 1 << 20];
    let mut left = LEN;
    while left > 0 {
        let n = peer.read(&mut chunk[..left.min(1 << 20)]).unwrap();
        assert!(n > 0, "the payload ended early");
        left -= n;
    }
    let peak = status_bytes("VmHWM:") - before;
    assert!(
        peak <= LEN + (8 << 20),
        "peak {} MiB above the start for a 256 MiB message",
        peak >> 20
    );
    server.stop();
}
