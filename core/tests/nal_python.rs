//! The embedded-nal binding (feature `nal`) on the host, over `std-embedded-nal`'s `Stack`,
//! against the real Python package (2.0.1 and 3.0): our client with Python echo servers, and
//! Python echo clients with our server. Loopback only; every wait is bounded in time.
//! Unix only: the server tests fix up std-embedded-nal's accepted sockets through their file
//! descriptors (see `HostStack`).
#![cfg(unix)]

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use embedded_nal::{nb, TcpClientStack, TcpFullStack};
use std_embedded_nal::Stack;
use tinyproto_core::buffer::SliceBuffer;
use tinyproto_core::connection::Event;
use tinyproto_core::nal::{ConnectError, NalClient, NalServer, ServerEvent};
use tinyproto_core::session::{Phase, ProtocolError};
use tinyproto_core::{Connection, Error, Received, Sent};
use tinyproto_testkit::{Bang, Peer, PyVersion, Rng, Xor5a};

/// Largest message either side of our tests handles ("Echo back: " + 70,000 bytes, plus a
/// plugin's byte).
const MAX: usize = 80_000;
/// Time limit of every connect, transmit and receive.
const LIMIT_MS: u32 = 20_000;
/// Time limit of a whole server run.
const SERVER_LIMIT: Duration = Duration::from_secs(60);
const SIZES: [usize; 3] = [0, 1, 70_000];

type Buf = SliceBuffer<'static>;
type StackError = <Stack as TcpClientStack>::Error;
type Socket = <Stack as TcpClientStack>::TcpSocket;
type EchoServer<const N: usize> = NalServer<HostStack, Buf, Buf, (), fn() -> Connection<Buf>, N>;

/// A fixed buffer of `MAX` bytes, as firmware would place one (leaked: the test ends soon).
fn buf() -> Buf {
    SliceBuffer::new(Box::leak(vec![0u8; MAX].into_boxed_slice()))
}

fn conn() -> Connection<Buf> {
    Connection::new(buf(), buf())
}

/// Milliseconds since the clock was made; yields the CPU on every call (the spinning calls
/// call it once per spin).
fn clock() -> impl FnMut() -> u64 {
    let start = Instant::now();
    move || {
        thread::yield_now();
        start.elapsed().as_millis() as u64
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn echo_of(msg: &[u8]) -> Vec<u8> {
    [&b"Echo back: "[..], msg].concat()
}

/// Connects our client and checks the echo of empty, 1-byte and 70,000-byte messages.
fn exchange<P: tinyproto_core::Plugins>(
    stack: &mut Stack,
    client: &mut NalClient<Stack, Buf, Buf, P>,
    clock: &mut impl FnMut() -> u64,
    what: &str,
) {
    for size in SIZES {
        let msg = Rng(size as u64 + 7).bytes(size);
        let sent = client
            .transmit(stack, &msg, clock, LIMIT_MS)
            .unwrap_or_else(|e| panic!("{what}: transmit {size} bytes: {e:?}"));
        assert_eq!(sent, Sent::Written, "{what}: {size} bytes");
        let reply = client
            .receive(stack, clock, LIMIT_MS)
            .unwrap_or_else(|e| panic!("{what}: receive the echo of {size} bytes: {e:?}"))
            .unwrap_or_else(|| panic!("{what}: no echo of {size} bytes in time"));
        assert!(
            reply == Received::Message(&echo_of(&msg)),
            "{what}: wrong echo of {size} bytes"
        );
    }
}

#[test]
fn client_exchanges_messages_with_python_servers() {
    for version in PyVersion::ALL {
        let what = format!("Python {} server", version.as_str());
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let mut stack = Stack;
        let clock = &mut clock();
        let mut client = NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS)
            .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
        exchange(&mut stack, &mut client, clock, &what);
        client.close(&mut stack).unwrap();
    }
}

#[test]
fn client_plugins_match_python_server_plugins() {
    for version in PyVersion::ALL {
        let what = format!("Python {} server with xor5a, bang", version.as_str());
        let args = ["--plugin", "xor5a", "--plugin", "bang"];
        let (_server, port) = Peer::python_echo_server(version, &args);
        let mut stack = Stack;
        let clock = &mut clock();
        let conn = Connection::with_plugins(buf(), buf(), (Xor5a, Bang));
        let mut client = NalClient::connect(&mut stack, loopback(port), conn, clock, LIMIT_MS)
            .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
        exchange(&mut stack, &mut client, clock, &what);
        client.close(&mut stack).unwrap();
    }
}

#[test]
fn client_sees_the_connection_limit_of_python_servers() {
    for version in PyVersion::ALL {
        let what = format!("Python {} server with --limit 1", version.as_str());
        let (mut server, port) = Peer::python_echo_server(version, &["--limit", "1"]);
        let mut stack = Stack;
        let clock = &mut clock();
        let mut first = NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS)
            .unwrap_or_else(|e| panic!("{what}: first connect: {e}"));
        // Python registers a connection right after starting its thread (which did our
        // handshake), in the same loop pass; the next accept sees the limit reached.
        let second = NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS);
        let err = second.expect_err("the second connection is over the limit");
        match version {
            // Q1: `bytearray(0xfe)` is 254 zero bytes; the first one is read as the init
            // byte. Our client reports it as a refusal by the server, the socket is closed,
            // and the first connection goes on.
            PyVersion::V2_0_1 => {
                assert!(
                    matches!(
                        err,
                        ConnectError::Handshake(Error::Protocol(ProtocolError::InitRefused))
                    ),
                    "{what}: {err:?}"
                );
                exchange(&mut stack, &mut first, clock, &what);
                first.close(&mut stack).unwrap();
            }
            // Q1: `SC_CONLIMIT` is not imported in 3.0's server.py: the server raises
            // NameError at the limit and its process exits, dropping every connection. How
            // the refused socket ends depends on timing, and both are seen: when our init
            // byte is still unread as the process exits, the kernel resets the connection
            // (ECONNRESET from the stack); otherwise (seen when the tests run in parallel) we
            // read the end of the stream during the handshake. Either way a typed handshake error, and our socket is closed.
            PyVersion::V3_0 => {
                match &err {
                    ConnectError::Handshake(Error::Transport(e)) => {
                        assert_eq!(e.0 .0.kind(), std::io::ErrorKind::ConnectionReset, "{what}")
                    }
                    ConnectError::Handshake(Error::Protocol(ProtocolError::UnexpectedEof {
                        phase: Phase::Handshake,
                        missing: 1,
                    })) => {}
                    other => panic!("{what}: expected a reset or EOF in the handshake: {other:?}"),
                }
                let code = server.wait_exit(Duration::from_secs(20));
                assert!(
                    matches!(code, Some(c) if c != 0),
                    "{what}: exit code {code:?}"
                );
                // The first connection ends cleanly between messages (the process exited
                // with nothing of ours unread), and its socket is closed with it.
                let ended = first.receive(&mut stack, clock, LIMIT_MS);
                assert!(matches!(ended, Err(Error::Closed)), "{what}: {ended:?}");
                assert!(!first.is_open());
            }
        }
    }
}

#[test]
fn connect_to_a_closed_port_is_a_typed_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = free_port();
    let mut stack = Stack;
    let clock = &mut clock();
    let err = NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS)
        .expect_err("nothing listens");
    match err {
        ConnectError::Connect(e) => {
            assert_eq!(e.0.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a refused connect: {other:?}"),
    }
}

/// std-embedded-nal 0.4's `Stack`, except that accepted sockets are made non-blocking.
///
/// Its `accept` hands out the `TcpStream` that `TcpListener::accept` returns, and on Linux an
/// accepted socket does not inherit the listener's `O_NONBLOCK`: every `receive` on it would
/// block until the client sends, and one idle client would stall the whole server loop.
struct HostStack(Stack);

impl TcpClientStack for HostStack {
    type TcpSocket = Socket;
    type Error = StackError;
    fn socket(&mut self) -> Result<Socket, StackError> {
        self.0.socket()
    }
    fn connect(&mut self, socket: &mut Socket, remote: SocketAddr) -> nb::Result<(), StackError> {
        self.0.connect(socket, remote)
    }
    fn send(&mut self, socket: &mut Socket, buffer: &[u8]) -> nb::Result<usize, StackError> {
        self.0.send(socket, buffer)
    }
    fn receive(&mut self, socket: &mut Socket, buffer: &mut [u8]) -> nb::Result<usize, StackError> {
        self.0.receive(socket, buffer)
    }
    fn close(&mut self, socket: Socket) -> Result<(), StackError> {
        self.0.close(socket)
    }
}

impl TcpFullStack for HostStack {
    fn bind(&mut self, socket: &mut Socket, port: u16) -> Result<(), StackError> {
        self.0.bind(socket, port)
    }
    fn listen(&mut self, socket: &mut Socket) -> Result<(), StackError> {
        self.0.listen(socket)
    }
    fn accept(&mut self, socket: &mut Socket) -> nb::Result<(Socket, SocketAddr), StackError> {
        let (accepted, peer) = self.0.accept(socket)?;
        set_nonblocking(&accepted).map_err(|e| nb::Error::Other(StackError::from(e)))?;
        Ok((accepted, peer))
    }
}

fn set_nonblocking(socket: &Socket) -> std::io::Result<()> {
    let fd = socket
        .as_raw_fd()
        .expect("an accepted socket has a descriptor");
    // SAFETY: `fd` is `socket`'s descriptor, and `socket` stays open for the whole borrow.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    // O_NONBLOCK is a flag of the open file description, which the duplicate shares.
    TcpStream::from(borrowed.try_clone_to_owned()?).set_nonblocking(true)
}

/// A port the OS just handed out on every address (which is where std-embedded-nal binds).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("[::]:0").expect("bind an ephemeral port");
    listener.local_addr().unwrap().port()
}

/// Binds our echo server on a free port (asking again if another process took it between
/// the probe and the bind).
fn bind_echo_server<const N: usize>(stack: &mut HostStack) -> (EchoServer<N>, u16) {
    let mut last = None;
    for _ in 0..5 {
        let port = free_port();
        match EchoServer::<N>::bind(stack, port, conn) {
            Ok(server) => return (server, port),
            Err(e) => last = Some(e),
        }
    }
    panic!("could not bind the nal server: {last:?}");
}

/// Runs our echo server in a thread until `done` says so about the events so far, `stop` is
/// set, or `SERVER_LIMIT` passes (which fails the test); returns every event.
fn spawn_echo_server<const N: usize>(
    mut stack: HostStack,
    mut server: EchoServer<N>,
    stop: Arc<AtomicBool>,
    done: fn(&[ServerEvent<StackError>]) -> bool,
) -> thread::JoinHandle<Vec<ServerEvent<StackError>>> {
    thread::spawn(move || {
        let start = Instant::now();
        let mut log = Vec::new();
        while !done(&log) && !stop.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < SERVER_LIMIT,
                "server run out of time: {log:?}"
            );
            let now = start.elapsed().as_millis() as u64;
            for _ in 0..1_000 {
                let Some(event) = server.poll(&mut stack, now).expect("accept") else {
                    break;
                };
                if let ServerEvent::Connection {
                    id,
                    event: Event::Received,
                } = &event
                {
                    // A reply may start at once, even while the answer to the message (an
                    // empty message's `0xff`) is still queued.
                    let c = server.connection_mut(*id).expect("open connection");
                    let reply = echo_of(c.message());
                    c.send(&reply).expect("echo");
                }
                log.push(event);
            }
            thread::yield_now();
        }
        server.close(&mut stack).expect("close the server");
        log
    })
}

fn count(
    log: &[ServerEvent<StackError>],
    want: impl Fn(&ServerEvent<StackError>) -> bool,
) -> usize {
    log.iter().filter(|e| want(e)).count()
}

fn closed_cleanly(log: &[ServerEvent<StackError>]) -> bool {
    count(log, |e| {
        matches!(
            e,
            ServerEvent::Closed {
                reason: Error::Closed,
                ..
            }
        )
    }) > 0
}

#[test]
fn python_clients_talk_to_the_nal_server() {
    for version in PyVersion::ALL {
        let what = format!("Python {} client", version.as_str());
        let mut stack = HostStack(Stack);
        let (server, port) = bind_echo_server::<4>(&mut stack);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = spawn_echo_server(stack, server, stop.clone(), closed_cleanly);
        let port = port.to_string();
        let args = [
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--sizes",
            "0,1,70000",
            "--seed",
            "3",
        ];
        let mut client = Peer::python(version, "echo_client.py", &args);
        let verdict = client.wait_for_line(
            |l| {
                ["OK", "MISMATCH", "NO REPLY"]
                    .iter()
                    .any(|p| l.starts_with(p))
            },
            Duration::from_secs(60),
        );
        let code = client.wait_exit(Duration::from_secs(20));
        // The server ends by itself once it saw the client close; `stop` covers failures.
        if verdict.as_deref() != Some("OK 3") {
            stop.store(true, Ordering::SeqCst);
        }
        let log = thread.join().expect("server thread");
        assert_eq!(verdict.as_deref(), Some("OK 3"), "{what}: {log:?}");
        assert_eq!(code, Some(0), "{what}");
        let received = count(&log, |e| {
            matches!(
                e,
                ServerEvent::Connection {
                    event: Event::Received,
                    ..
                }
            )
        });
        let sent = count(&log, |e| {
            matches!(
                e,
                ServerEvent::Connection {
                    event: Event::Sent,
                    ..
                }
            )
        });
        assert_eq!((received, sent), (3, 3), "{what}: {log:?}");
        assert!(
            matches!(log[0], ServerEvent::Accepted { .. }),
            "{what}: {log:?}"
        );
        assert!(closed_cleanly(&log), "{what}: {log:?}");
    }
}

#[test]
fn nal_server_refuses_beyond_its_limit_with_0xfe() {
    let mut stack = HostStack(Stack);
    let (server, port) = bind_echo_server::<1>(&mut stack);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = spawn_echo_server(stack, server, stop.clone(), |_| false);

    // The first client takes the only place, and works.
    let mut stack = Stack;
    let clock = &mut clock();
    let mut first = NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS)
        .expect("first connect");
    assert_eq!(
        first.transmit(&mut stack, b"hi", clock, LIMIT_MS).unwrap(),
        Sent::Written
    );
    let reply = first.receive(&mut stack, clock, LIMIT_MS).unwrap();
    assert_eq!(reply, Some(Received::Message(&b"Echo back: hi"[..])));

    // A raw TCP client sees exactly one byte, 0xfe, then the end of the stream.
    let mut raw = TcpStream::connect(loopback(port)).expect("TCP connect");
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut bytes = Vec::new();
    raw.read_to_end(&mut bytes).expect("0xfe, then EOF");
    assert_eq!(bytes, [0xfe]);

    // Our client reports it as the connection limit (and closes its socket).
    let second = NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS);
    let err = second.expect_err("over the limit");
    assert!(
        matches!(
            err,
            ConnectError::Handshake(Error::Protocol(ProtocolError::ConnectionLimit))
        ),
        "{err:?}"
    );

    // The first connection is untouched; after it closes, there is room again.
    assert_eq!(
        first.transmit(&mut stack, b"", clock, LIMIT_MS).unwrap(),
        Sent::Written
    );
    let reply = first.receive(&mut stack, clock, LIMIT_MS).unwrap();
    assert_eq!(reply, Some(Received::Message(&b"Echo back: "[..])));
    first.close(&mut stack).unwrap();
    let mut third = None;
    for _ in 0..100 {
        match NalClient::connect(&mut stack, loopback(port), conn(), clock, LIMIT_MS) {
            Ok(c) => {
                third = Some(c);
                break;
            }
            // The server may not have seen the first close yet.
            Err(ConnectError::Handshake(Error::Protocol(ProtocolError::ConnectionLimit))) => {}
            Err(e) => panic!("third connect: {e}"),
        }
    }
    let mut third = third.expect("room again after the first client closed");
    third
        .transmit(&mut stack, b"again", clock, LIMIT_MS)
        .map(|sent| assert_eq!(sent, Sent::Written))
        .unwrap();
    let reply = third.receive(&mut stack, clock, LIMIT_MS).unwrap();
    assert_eq!(reply, Some(Received::Message(&b"Echo back: again"[..])));

    // An idle connection times out in `receive` without being closed.
    let quiet = third.receive(&mut stack, clock, 50).unwrap();
    assert_eq!(quiet, None);
    assert!(third.is_open());
    assert_eq!(third.connection().session().phase(), Phase::Idle);
    third.close(&mut stack).unwrap();

    stop.store(true, Ordering::SeqCst);
    let log = thread.join().expect("server thread");
    let refused = count(&log, |e| matches!(e, ServerEvent::Refused { .. }));
    assert!(refused >= 2, "{log:?}");
}
