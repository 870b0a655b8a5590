//! Rust client ↔ Rust server over real loopback sockets; most tests in both ways of serving
//! (one I/O thread, a thread per connection).

mod common;

use common::*;
use std::sync::mpsc;
use std::time::Duration;
use tinyproto_std::core::session::ProtocolError;
use tinyproto_std::{
    Client, CloseReason, ConnError, Error, Handler, ListenStep, Received, Sent, Server, StartError,
    TcpConnection,
};
use tinyproto_testkit::{Bang, Xor5a};

const MIB: usize = 1 << 20;

/// The tests that loop over these run with one I/O thread (the default), then with a thread
/// per connection (`threads_per_connection(true)`) on both sides.
const MODES: [bool; 2] = [false, true];

#[test]
fn echoes_empty_tiny_large_and_huge_messages() {
    for threads in MODES {
        let server = TestServer::start(
            Server::builder()
                .threads_per_connection(threads)
                .listen("127.0.0.1:0"),
            |_| Echo,
        );
        let mut conn = TcpConnection::connect(server.addr).unwrap();
        for len in [0, 1, 70_000, 5 * MIB] {
            let msg = message(len, 3);
            assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
            assert_eq!(
                conn.receive().unwrap().message().unwrap(),
                echo(&msg),
                "{len} bytes"
            );
        }
        drop(conn);
        let (_, why) = server.next_shutdown();
        assert!(matches!(why, CloseReason::PeerClosed), "{why}");
        server.stop();
    }
}

#[test]
fn oversize_is_refused_both_ways_and_the_connection_goes_on() {
    for threads in MODES {
        /// Replies with a message too large for the client, then a small one.
        struct TwoReplies;
        impl Handler for TwoReplies {
            fn transmission_received(&mut self, conn: &mut tinyproto_std::Conn, msg: Vec<u8>) {
                let big = conn.transmit(&[0u8; 500]);
                assert!(
                    matches!(big, Err(ConnError::Rejected { len: 500 })),
                    "{big:?}"
                );
                conn.transmit(&msg).unwrap();
            }
        }
        let builder = Server::builder()
            .threads_per_connection(threads)
            .listen("127.0.0.1:0")
            .max_message_size(1000);
        let server = TestServer::start(builder, |_| TwoReplies);
        let mut conn = TcpConnection::builder()
            .max_message_size(100)
            .connect(server.addr)
            .unwrap();
        let rejected = conn.transmit(&[1u8; 1001]).unwrap();
        assert_eq!(rejected, Sent::Rejected { len: 1001 });
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
}

#[test]
fn connection_limit_answers_0xfe_and_frees_up() {
    for threads in MODES {
        let builder = Server::builder()
            .threads_per_connection(threads)
            .listen("127.0.0.1:0")
            .max_connections(1);
        let server = TestServer::start(builder, |_| Echo);
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
        let refused = loop {
            match server.seen.recv_timeout(WAIT).expect("conn_refused") {
                Seen::Refused(peer) => break peer,
                _ => continue,
            }
        };
        assert!(refused.ip().is_loopback(), "{refused}");
        drop(first);
        server.next_shutdown();
        let mut again = TcpConnection::connect(server.addr).unwrap();
        assert_eq!(again.transmit(b"x").unwrap(), Sent::Written);
        assert_eq!(again.receive().unwrap().message().unwrap(), echo(b"x"));
        server.stop();
    }
}

#[test]
fn plugins_on_both_sides() {
    for threads in MODES {
        let builder = Server::builder()
            .threads_per_connection(threads)
            .listen("127.0.0.1:0")
            .plugin(|| Xor5a)
            .plugin(|| Bang);
        let server = TestServer::start(builder, |_| Echo);
        let mut conn = TcpConnection::builder()
            .plugin(|| Xor5a)
            .plugin(|| Bang)
            .connect(server.addr)
            .unwrap();
        for len in [0, 1, 70_000] {
            let msg = message(len, 9);
            assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
            assert_eq!(conn.receive().unwrap().message().unwrap(), echo(&msg));
        }
        server.stop();
    }
}

/// A file-transfer style exchange inside hooks: the client's `pre_loop` sends 4 MiB chunks and
/// waits for each acknowledgement; the server's hook receives the following chunks itself.
#[test]
fn lockstep_transmit_and_receive_inside_hooks_with_4_mib() {
    // Each side in either mode, and the two modes against each other.
    for (server_threads, client_threads) in
        [(false, false), (true, true), (false, true), (true, false)]
    {
        struct Receiver;
        impl Handler for Receiver {
            fn transmission_received(&mut self, conn: &mut tinyproto_std::Conn, first: Vec<u8>) {
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
            fn pre_loop(&mut self, conn: &mut tinyproto_std::Conn) {
                let mut acks = Vec::new();
                for i in 0..3 {
                    conn.transmit(message(4 * MIB, i)).unwrap();
                    acks.push(conn.receive().unwrap());
                }
                conn.transmit(b"done").unwrap();
                self.0.send(acks).unwrap();
            }
        }
        let server = TestServer::start(
            Server::builder()
                .threads_per_connection(server_threads)
                .listen("127.0.0.1:0"),
            |_| Receiver,
        );
        let (tx, rx) = mpsc::channel();
        let client = Client::builder()
            .threads_per_connection(client_threads)
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
fn handles_send_from_other_threads_and_broadcast() {
    for threads in MODES {
        /// Forwards every message it receives to the test, with the receiving connection's local
        /// port (the server's peer port); then `closed` once it closes.
        struct Collect(mpsc::Sender<(u16, Vec<u8>)>);
        impl Handler for Collect {
            fn transmission_received(&mut self, conn: &mut tinyproto_std::Conn, msg: Vec<u8>) {
                let _ = self.0.send((conn.handle().local_addr().port(), msg));
            }
            fn post_loop(&mut self, conn: &mut tinyproto_std::Conn) {
                let _ = self
                    .0
                    .send((conn.handle().local_addr().port(), b"closed".to_vec()));
            }
        }
        let server = TestServer::start(
            Server::builder()
                .threads_per_connection(threads)
                .listen("127.0.0.1:0"),
            |_| (),
        );
        let (tx, rx) = mpsc::channel();
        let client = Client::builder()
            .threads_per_connection(threads)
            .build(move |_| Collect(tx.clone()))
            .unwrap();
        let a = client.connect(server.addr).unwrap();
        let b = client.connect(server.addr).unwrap();
        assert_eq!(client.handle().connections().len(), 2);
        // Wait until the server lists both.
        for _ in 0..2 {
            assert!(matches!(server.seen.recv_timeout(WAIT), Ok(Seen::Init(..))));
        }
        let conns = server.handle.connections();
        assert_eq!(conns.len(), 2);
        let (first, second) = (conns[0].clone(), conns[1].clone());
        let first_port = first.peer_addr().port();
        std::thread::spawn(move || first.send(b"from a thread").unwrap())
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
        // A sentinel to the excluded one: its messages arrive in order, so had it been sent the
        // broadcast, that would arrive first.
        second.send(b"sentinel").unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            got.push(rx.recv_timeout(WAIT).unwrap());
        }
        got.sort();
        let mut want = vec![
            (first_port, b"not to b".to_vec()),
            (second.peer_addr().port(), b"sentinel".to_vec()),
        ];
        want.sort();
        assert_eq!(got, want);
        // Close one from the server: the client sees it close.
        assert!(server.handle.close(second.id()));
        server.next_shutdown();
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap(),
            (second.peer_addr().port(), b"closed".to_vec())
        );
        assert!(a.is_open() != b.is_open(), "exactly one closed");
        server.stop();
    }
}

#[test]
fn shutdown_from_a_hook_ends_run_and_closes_everyone() {
    for threads in MODES {
        struct Quitter(tinyproto_std::ServerHandle);
        impl Handler for Quitter {
            fn transmission_received(&mut self, _: &mut tinyproto_std::Conn, msg: Vec<u8>) {
                if msg == b"SRVQUIT" {
                    self.0.shutdown();
                }
            }
        }
        let server = Server::builder()
            .threads_per_connection(threads)
            .listen("127.0.0.1:0")
            .bind()
            .unwrap();
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
}

#[test]
fn listens_on_ipv6_and_host_names() {
    let builder = Server::builder().listen("[::1]:0").listen("localhost:0");
    let server = builder.bind().unwrap();
    let addrs = server.local_addrs().to_vec();
    assert!(addrs[0].is_ipv6());
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run(|_| Echo, ()));
    for addr in addrs {
        let mut conn = TcpConnection::connect(addr).unwrap();
        assert_eq!(conn.transmit(b"v").unwrap(), Sent::Written);
        assert_eq!(
            conn.receive().unwrap().message().unwrap(),
            echo(b"v"),
            "{addr}"
        );
    }
    handle.shutdown();
    thread.join().unwrap().unwrap();
}

#[test]
fn many_connections_at_once_are_all_accepted() {
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Echo);
    let addr = server.addr;
    let clients: Vec<_> = (0..200)
        .map(|_| std::thread::spawn(move || TcpConnection::connect(addr)))
        .collect();
    let mut conns: Vec<TcpConnection> = clients
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        let msg = i.to_string().into_bytes();
        assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
        assert_eq!(conn.receive().unwrap().message().unwrap(), echo(&msg));
    }
    assert_eq!(server.handle.connections().len(), 200);
    server.stop();
}

#[test]
fn receive_timeout_in_a_hook_times_out_then_receives_the_next_message() {
    for threads in MODES {
        struct Patient(mpsc::Sender<Vec<u8>>);
        impl Handler for Patient {
            fn pre_loop(&mut self, conn: &mut tinyproto_std::Conn) {
                let first = conn.receive_timeout(Duration::from_millis(50));
                assert!(matches!(first, Err(ConnError::Timeout)), "{first:?}");
                conn.transmit(b"go").unwrap();
                let _ = self.0.send(conn.receive_timeout(WAIT).unwrap());
            }
        }
        let (tx, rx) = mpsc::channel();
        let server = TestServer::start(
            Server::builder()
                .threads_per_connection(threads)
                .listen("127.0.0.1:0"),
            move |_| Patient(tx.clone()),
        );
        let mut conn = TcpConnection::connect(server.addr).unwrap();
        assert_eq!(conn.receive().unwrap().message().unwrap(), b"go");
        assert_eq!(conn.transmit(b"late").unwrap(), Sent::Written);
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"late");
        server.stop();
    }
}

#[test]
fn a_panicking_hook_closes_only_its_connection() {
    for threads in MODES {
        struct Fragile;
        impl Handler for Fragile {
            fn transmission_received(&mut self, conn: &mut tinyproto_std::Conn, msg: Vec<u8>) {
                assert_ne!(msg, b"boom", "the test's deliberate panic");
                conn.transmit(echo(&msg)).unwrap();
            }
        }
        let server = TestServer::start(
            Server::builder()
                .threads_per_connection(threads)
                .listen("127.0.0.1:0"),
            |_| Fragile,
        );
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
}

#[test]
fn unresolvable_names_and_refused_connects_are_typed_errors() {
    // A port out of range fails to resolve without any lookup.
    let err = Server::builder().listen("127.0.0.1:99999").bind().err();
    assert!(matches!(err, Some(StartError::Resolve { .. })), "{err:?}");
    let err = Server::builder().bind().err();
    assert!(matches!(err, Some(StartError::NoAddress)), "{err:?}");
    // A port nobody listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = TcpConnection::connect(("127.0.0.1", port)).err();
    assert!(matches!(err, Some(StartError::Io(_))), "{err:?}");
}

#[test]
fn a_listen_address_in_use_is_named_in_the_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap();
    // The first address opens; the second, taken, is the one the error names.
    let err = Server::builder()
        .listen("127.0.0.1:0")
        .listen(in_use)
        .bind()
        .err();
    let Some(StartError::Listen { addr, step, source }) = &err else {
        panic!("{err:?}");
    };
    assert_eq!((*addr, *step), (in_use, ListenStep::Bind));
    assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
    let shown = err.as_ref().unwrap().to_string();
    assert!(
        shown.starts_with(&format!("cannot listen on {in_use}: bind failed: ")),
        "{shown}"
    );
}

/// Runs `server` until shut down, reporting its result on a channel (so a server that never
/// returns fails the test instead of hanging it).
fn run_reporting<H: Handler>(
    server: Server,
    factory: impl Fn(&tinyproto_std::ConnectionHandle) -> H + Send + Sync + 'static,
) -> (mpsc::Receiver<Seen>, mpsc::Receiver<Result<(), StartError>>) {
    let (seen_tx, seen) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(server.run(factory, Report(seen_tx)));
    });
    (seen, done)
}

fn next_close(seen: &mpsc::Receiver<Seen>) -> CloseReason {
    loop {
        if let Seen::Shutdown(_, why) = seen.recv_timeout(WAIT).expect("a conn_shutdown") {
            return why;
        }
    }
}

#[test]
fn a_panicking_plugin_closes_only_its_connection() {
    /// Panics on receiving `boom` (plugins run on the I/O thread).
    struct Fuse;
    impl tinyproto_std::Plugin for Fuse {
        fn on_receive(
            &mut self,
            msg: &mut dyn tinyproto_std::core::Buffer,
        ) -> Result<(), tinyproto_std::core::plugin::PluginError> {
            assert_ne!(msg.as_slice(), b"boom", "the test's deliberate panic");
            Ok(())
        }
    }
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .plugin(|| Fuse)
        .bind()
        .unwrap();
    let (addr, handle) = (server.local_addrs()[0], server.handle());
    let (seen, done) = run_reporting(server, |_| Echo);
    let mut good = TcpConnection::connect(addr).unwrap();
    let mut bad = TcpConnection::connect(addr).unwrap();
    assert_eq!(bad.transmit(b"boom").unwrap(), Sent::Written);
    assert!(matches!(next_close(&seen), CloseReason::PluginPanicked));
    assert!(matches!(bad.receive(), Err(Error::Closed)));
    assert_eq!(good.transmit(b"fine").unwrap(), Sent::Written);
    assert_eq!(good.receive().unwrap().message().unwrap(), echo(b"fine"));
    handle.shutdown();
    done.recv_timeout(WAIT).expect("run returns").unwrap();
}

#[test]
fn a_handler_panicking_in_drop_does_not_stop_the_server() {
    /// Echoes; panics when dropped (which happens on the I/O thread).
    struct Grenade;
    impl Handler for Grenade {
        fn transmission_received(&mut self, conn: &mut tinyproto_std::Conn, msg: Vec<u8>) {
            let _ = conn.transmit(echo(&msg));
        }
    }
    impl Drop for Grenade {
        fn drop(&mut self) {
            panic!("the test's deliberate panic in Drop");
        }
    }
    let server = Server::builder().listen("127.0.0.1:0").bind().unwrap();
    let (addr, handle) = (server.local_addrs()[0], server.handle());
    let (seen, done) = run_reporting(server, |_| Grenade);
    let mut first = TcpConnection::connect(addr).unwrap();
    assert_eq!(first.transmit(b"one").unwrap(), Sent::Written);
    assert_eq!(first.receive().unwrap().message().unwrap(), echo(b"one"));
    drop(first);
    assert!(matches!(next_close(&seen), CloseReason::HookPanicked));
    let mut second = TcpConnection::connect(addr).unwrap();
    assert_eq!(second.transmit(b"two").unwrap(), Sent::Written);
    assert_eq!(second.receive().unwrap().message().unwrap(), echo(b"two"));
    handle.shutdown();
    // The second handler panics in Drop during the shutdown too; run still returns.
    done.recv_timeout(WAIT).expect("run returns").unwrap();
}

#[test]
fn shutdown_gives_up_on_a_stuck_hook_after_the_grace_period() {
    /// Blocks in its hook until the test ends (far beyond the grace period).
    struct Stuck(std::sync::Arc<std::sync::Mutex<mpsc::Receiver<()>>>);
    impl Handler for Stuck {
        fn transmission_received(&mut self, _: &mut tinyproto_std::Conn, _: Vec<u8>) {
            let _ = self.0.lock().unwrap().recv_timeout(WAIT);
        }
    }
    let (release, stuck) = mpsc::channel::<()>();
    let stuck = std::sync::Arc::new(std::sync::Mutex::new(stuck));
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .shutdown_grace(Duration::from_millis(200))
        .bind()
        .unwrap();
    let (addr, handle) = (server.local_addrs()[0], server.handle());
    let (seen, done) = run_reporting(server, move |_| Stuck(stuck.clone()));
    let mut conn = TcpConnection::connect(addr).unwrap();
    assert_eq!(conn.transmit(b"block").unwrap(), Sent::Written);
    handle.shutdown();
    done.recv_timeout(WAIT)
        .expect("run returns despite the stuck hook")
        .unwrap();
    let closes: Vec<Seen> = seen.try_iter().collect();
    assert!(
        closes
            .iter()
            .any(|s| matches!(s, Seen::Shutdown(_, CloseReason::Shutdown))),
        "{closes:?}"
    );
    drop(release);
}

#[test]
fn an_echo_reuses_its_memory_on_both_sides() {
    /// Echoes each message back as it is (moved) and reports where its bytes were.
    struct EchoAt(mpsc::Sender<usize>);
    impl Handler for EchoAt {
        fn transmission_received(&mut self, conn: &mut tinyproto_std::Conn, msg: Vec<u8>) {
            let _ = self.0.send(msg.as_ptr() as usize);
            let _ = conn.transmit(msg);
        }
    }
    let (at, server_at) = mpsc::channel();
    let builder = Server::builder().listen("127.0.0.1:0");
    let server = TestServer::start(builder, move |_| EchoAt(at.clone()));
    let mut conn = TcpConnection::connect(server.addr).unwrap();
    let msg: std::sync::Arc<[u8]> = message(MIB, 5).into();
    let mut back = Vec::new();
    let mut client_at = Vec::new();
    for _ in 0..3 {
        assert_eq!(conn.transmit(msg.clone()).unwrap(), Sent::Written);
        assert_eq!(conn.receive_into(&mut back).unwrap(), Received::Message(()));
        assert_eq!(back, &msg[..]);
        client_at.push(back.as_ptr() as usize);
    }
    let server_at: Vec<usize> = (0..3)
        .map(|_| server_at.recv_timeout(WAIT).unwrap())
        .collect();
    assert!(
        client_at.windows(2).all(|w| w[0] == w[1]),
        "receive_into reuses the memory it is given: {client_at:x?}"
    );
    assert!(
        server_at.windows(2).all(|w| w[0] == w[1]),
        "a message echoed is received into again: {server_at:x?}"
    );

    server.stop();
}
