//! Hostile and broken peers over raw sockets: each gets a typed error through
//! `conn_shutdown`, while a well-behaved client on the same server keeps being served.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;
use tinyproto_std::core::session::{Phase, ProtocolError};
use tinyproto_std::{
    CloseReason, Conn, Error, Handler, Sent, Server, TcpConnection, Timeouts, DEFAULT_TIMEOUTS,
};

/// A server with short timeouts, and a good client connected to it.
fn setup() -> (TestServer, TcpConnection) {
    let timeouts = Timeouts::new().handshake(300).status(300).stall(300);
    let builder = Server::builder().listen("127.0.0.1:0").timeouts(timeouts);
    let server = TestServer::start(builder, |_| Echo);
    let good = TcpConnection::connect(server.addr).unwrap();
    (server, good)
}

/// A raw peer that has done the init handshake.
fn raw_after_handshake(server: &TestServer) -> TcpStream {
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    raw.write_all(&[0xff]).unwrap();
    let mut init = [0];
    raw.read_exact(&mut init).unwrap();
    assert_eq!(init, [0xff]);
    raw
}

/// The good client is still served.
fn still_serves(good: &mut TcpConnection) {
    assert_eq!(good.transmit(b"still here").unwrap(), Sent::Written);
    assert_eq!(
        good.receive().unwrap().message().unwrap(),
        echo(b"still here")
    );
}

fn failure(why: &CloseReason) -> &Error {
    why.error()
        .unwrap_or_else(|| panic!("expected an error, got {why}"))
}

#[test]
fn wrong_init_byte() {
    let (server, mut good) = setup();
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.write_all(b"G").unwrap();
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            failure(&why),
            Error::Protocol(ProtocolError::BadInitByte { byte: b'G' })
        ),
        "{why}"
    );
    still_serves(&mut good);
}

#[test]
fn garbage_after_the_handshake_is_refused_then_stalls() {
    let (server, mut good) = setup();
    let mut raw = raw_after_handshake(&server);
    // 18 bytes of HTTP: four "headers" far above the limit, each answered 0x00 (the stream
    // stays in sync), then half a header that never completes.
    raw.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut answers = [1; 4];
    raw.read_exact(&mut answers).unwrap();
    assert_eq!(answers, [0x00; 4], "each oversize header refused");
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            failure(&why),
            Error::Timeout {
                phase: Phase::Header
            }
        ),
        "{why}"
    );
    still_serves(&mut good);
}

#[test]
fn truncated_header_then_close() {
    let (server, mut good) = setup();
    let mut raw = raw_after_handshake(&server);
    raw.write_all(&[0, 1]).unwrap();
    drop(raw);
    let (_, why) = server.next_shutdown();
    let eof = ProtocolError::UnexpectedEof {
        phase: Phase::Header,
        missing: 2,
    };
    assert!(
        matches!(failure(&why), Error::Protocol(e) if *e == eof),
        "{why}"
    );
    still_serves(&mut good);
}

#[test]
fn truncated_payload_then_close() {
    let (server, mut good) = setup();
    let mut raw = raw_after_handshake(&server);
    raw.write_all(&[0, 0, 0, 10]).unwrap();
    let mut ok = [0];
    raw.read_exact(&mut ok).unwrap();
    assert_eq!(ok, [0xff]);
    raw.write_all(b"abcd").unwrap();
    drop(raw);
    let (_, why) = server.next_shutdown();
    let eof = ProtocolError::UnexpectedEof {
        phase: Phase::ReceivingPayload,
        missing: 6,
    };
    assert!(
        matches!(failure(&why), Error::Protocol(e) if *e == eof),
        "{why}"
    );
    still_serves(&mut good);
}

#[test]
fn stalled_peers_time_out_in_every_phase() {
    let (server, mut good) = setup();
    // Never sends its init byte.
    let silent = TcpStream::connect(server.addr).unwrap();
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            failure(&why),
            Error::Timeout {
                phase: Phase::Handshake
            }
        ),
        "{why}"
    );
    still_serves(&mut good);
    // Stops inside a payload.
    let mut raw = raw_after_handshake(&server);
    raw.write_all(&[0, 0, 1, 0]).unwrap();
    raw.read_exact(&mut [0]).unwrap();
    raw.write_all(&[1; 10]).unwrap();
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            failure(&why),
            Error::Timeout {
                phase: Phase::ReceivingPayload
            }
        ),
        "{why}"
    );
    still_serves(&mut good);
    // Sends a message but never answers the echo's header.
    let mut mute = raw_after_handshake(&server);
    mute.write_all(&[0, 0, 0, 1]).unwrap();
    mute.read_exact(&mut [0]).unwrap();
    mute.write_all(b"x").unwrap();
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            failure(&why),
            Error::Timeout {
                phase: Phase::Status
            }
        ),
        "{why}"
    );
    still_serves(&mut good);
    drop((silent, raw, mute));
}

#[test]
fn a_bad_status_byte_closes_only_that_connection() {
    let (server, mut good) = setup();
    let mut raw = raw_after_handshake(&server);
    raw.write_all(&[0, 0, 0, 1, b'x']).unwrap();
    let mut ok_and_header = [0; 5];
    raw.read_exact(&mut ok_and_header).unwrap();
    assert_eq!(
        ok_and_header,
        [0xff, 0, 0, 0, 12],
        "go ahead, then the echo's header"
    );
    raw.write_all(&[0x42]).unwrap();
    let (_, why) = server.next_shutdown();
    assert!(
        matches!(
            failure(&why),
            Error::Protocol(ProtocolError::BadStatus { byte: 0x42 })
        ),
        "{why}"
    );
    still_serves(&mut good);
}

#[test]
fn a_client_sees_a_server_closing_mid_payload() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&[0xff, 0, 0, 0, 10]).unwrap();
        let mut got = [0; 2];
        s.read_exact(&mut got).unwrap(); // init byte, then "go ahead"
        s.write_all(b"abc").unwrap();
    });
    let mut conn = TcpConnection::connect(addr).unwrap();
    let err = conn.receive().unwrap_err();
    peer.join().unwrap();
    let eof = ProtocolError::UnexpectedEof {
        phase: Phase::ReceivingPayload,
        missing: 7,
    };
    assert!(matches!(err, Error::Protocol(e) if e == eof), "{err}");
}

#[test]
fn a_flood_of_oversize_headers_does_not_hold_the_io_thread() {
    use std::sync::{Arc, Mutex};
    /// Echoes, except that `hold` blocks its hook until the test releases it.
    struct Holding(Arc<Mutex<mpsc::Receiver<()>>>);
    impl Handler for Holding {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            if msg == b"hold" {
                let _ = self.0.lock().unwrap().recv_timeout(WAIT);
            } else {
                let _ = conn.transmit(echo(&msg));
            }
        }
    }
    let (release, held) = mpsc::channel();
    let held = Arc::new(Mutex::new(held));
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), move |_| {
        Holding(held.clone())
    });
    let mut good = TcpConnection::connect(server.addr).unwrap();
    let mut flooder = raw_after_handshake(&server);
    // While the hook holds, the server reads nothing more from the flooder: fill every buffer
    // between us with headers, each of which will be refused (answered `0x00`) with the stream
    // in sync — protocol events without a single message for a hook.
    flooder.write_all(&[0, 0, 0, 4]).unwrap();
    flooder.read_exact(&mut [0]).unwrap();
    flooder.write_all(b"hold").unwrap();
    socket2::SockRef::from(&flooder)
        .set_send_buffer_size(8 << 20)
        .unwrap();
    flooder.set_nonblocking(true).unwrap();
    let chunk = [0xf1, 0, 0, 0].repeat(1024);
    let mut queued = 0;
    loop {
        match flooder.write(&chunk) {
            Ok(n) => queued += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    let headers = queued / 4;
    // Release the hook: the server now has `headers` refusals to make. The good client is
    // served in the middle of them, not after.
    release.send(()).unwrap();
    assert_eq!(good.transmit(b"ping").unwrap(), Sent::Written);
    assert_eq!(good.receive().unwrap().message().unwrap(), echo(b"ping"));
    let mut answered = 0;
    let mut sink = vec![0; 1 << 20];
    loop {
        match flooder.read(&mut sink) {
            Ok(n) if n > 0 => answered += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    assert!(
        answered < headers,
        "all {headers} refusals were made before the good client was served"
    );
    server.stop();
}

/// CPU time (user + system, in clock ticks) of the calling thread.
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A raw server peer: accepts one connection, sends `script`, then holds the socket open
/// (reading nothing) until the returned sender is dropped.
fn raw_server(script: Vec<u8>) -> (SocketAddr, mpsc::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (hold, held) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.write_all(&script);
        let _ = held.recv_timeout(WAIT);
    });
    (addr, hold)
}

#[test]
fn receive_timeout_does_not_spin_while_a_message_stalls() {
    // Init byte, a 10-byte header and 4 bytes of its payload, then silence.
    let (addr, _hold) = raw_server([&[0xff, 0, 0, 0, 10][..], b"abcd"].concat());
    let limits = DEFAULT_TIMEOUTS.stall(1_000);
    let mut conn = TcpConnection::builder()
        .timeouts(limits)
        .connect(addr)
        .unwrap();
    let ticks = thread_cpu_ticks();
    // The deadline passes mid-message: the message is finished or times out, without spinning.
    let err = conn.receive_timeout(Duration::from_millis(50)).unwrap_err();
    let used = thread_cpu_ticks() - ticks;
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::ReceivingPayload
            }
        ),
        "{err}"
    );
    assert!(used <= 20, "{used} clock ticks of CPU while waiting 1 s");
}
