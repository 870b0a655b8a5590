//! Deterministic in-process tests: a tinyproto server and client on two smoltcp interfaces
//! joined by an in-memory link, on a simulated clock, with and without smoltcp's
//! `FaultInjector` dropping and corrupting frames.

mod common;

use common::{Asker, Echo, Faults, Net, Rng, PORT, SERVER_IP};
use smoltcp::socket::{tcp, AnySocket};
use smoltcp::time::{Duration, Instant};
use tinyproto_smoltcp::tinyproto_core::buffer::Buffer;
use tinyproto_smoltcp::tinyproto_core::connection::Timeouts;
use tinyproto_smoltcp::tinyproto_core::session::{Phase, ProtocolError, SendError};
use tinyproto_smoltcp::{
    Client, ClientHooks, Config, ConnId, ConnectError, Error, Failure, Handler, Server,
    ServerHooks, Shutdown, Status, TcpError,
};

type SBuf = heapless::Vec<u8, 4096>;
type CBuf = heapless::Vec<u8, 8192>;
const SOCKET_BUF: usize = 4096;

/// The last statuses of a run.
struct Ends {
    server: Status,
    client: Status,
}

/// A server and a client on the simulated link, with their handlers: what the tests drive.
/// `ST`: the server's send buffers (its receive buffers are `SBuf`).
struct Pair<const S: usize, const C: usize, HS, HC, ST = SBuf> {
    net: Net,
    srv: Server<SBuf, ST, (), S>,
    cli: Client<CBuf, CBuf, (), C>,
    /// The server's handler.
    hs: HS,
    /// The client's handler.
    hc: HC,
}

impl<const S: usize, const C: usize, HS, HC, ST> Pair<S, C, HS, HC, ST>
where
    ST: Buffer,
    HS: Handler + ServerHooks,
    HC: Handler + ClientHooks,
{
    /// The endpoints and handlers, after the server's first poll (its sockets listen).
    fn new(
        net: Net,
        srv: Server<SBuf, ST, (), S>,
        cli: Client<CBuf, CBuf, (), C>,
        hs: HS,
        hc: HC,
    ) -> Self {
        let mut pair = Self {
            net,
            srv,
            cli,
            hs,
            hc,
        };
        let _ = pair
            .srv
            .poll(pair.net.now, &mut pair.net.server.sockets, &mut pair.hs);
        pair
    }

    /// Starts a connection from the client to the server's host at `port`.
    fn connect(&mut self, port: u16) -> ConnId {
        connect(&mut self.net, &mut self.cli, port)
    }

    /// Runs both endpoints until `done` or `limit_ms` of simulated time; returns the last
    /// statuses.
    fn run(
        &mut self,
        limit_ms: u64,
        mut done: impl FnMut(&HS, &HC, Status, Status) -> bool,
    ) -> Ends {
        let net = &mut self.net;
        let end = net.now + Duration::from_millis(limit_ms);
        loop {
            net.poll_ifaces();
            let s = self
                .srv
                .poll(net.now, &mut net.server.sockets, &mut self.hs);
            let c = self
                .cli
                .poll(net.now, &mut net.client.sockets, &mut self.hc);
            if done(&self.hs, &self.hc, s, c) || net.now >= end {
                return Ends {
                    server: s,
                    client: c,
                };
            }
            let extra = [s.poll_at(), c.poll_at()].into_iter().flatten().min();
            net.advance(extra);
        }
    }
}

fn server<const N: usize>(net: &mut Net, config: Config) -> Server<SBuf, SBuf, (), N> {
    let handles = core::array::from_fn(|_| net.server.socket(SOCKET_BUF));
    Server::with_sockets(PORT, handles, config).unwrap()
}

fn client<const N: usize>(net: &mut Net, config: Config) -> Client<CBuf, CBuf, (), N> {
    let handles = core::array::from_fn(|_| net.client.socket(SOCKET_BUF));
    Client::with_sockets(handles, config)
}

fn connect<const N: usize>(
    net: &mut Net,
    client: &mut Client<CBuf, CBuf, (), N>,
    port: u16,
) -> ConnId {
    let cx = net.client.iface.context();
    client
        .connect(cx, &mut net.client.sockets, (SERVER_IP, port), net.now)
        .expect("connect starts")
}

/// Random messages: empty ones, one-byte ones, and sizes up to `max`.
fn messages(rng: &mut Rng, count: usize, max: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| match i % 10 {
            0 => Vec::new(),
            1 => rng.bytes(1),
            _ => {
                let len = rng.below(max + 1);
                rng.bytes(len)
            }
        })
        .collect()
}

/// Runs an echo exchange of `msgs` and returns the two handlers.
fn echo_exchange(faults: Faults, msgs: Vec<Vec<u8>>, limit_ms: u64) -> (Echo, Asker, Net) {
    let mut net = Net::new(faults);
    // No protocol timeouts: on a lossy link smoltcp's retransmission back-off can leave a
    // transfer still for longer than the default limits, and these runs check that TCP's
    // recovery delivers every message intact.
    let config = Config::new()
        .timeouts(Timeouts::new())
        .linger(Duration::from_secs(2));
    let srv = server::<2>(&mut net, config);
    let cli = client::<1>(&mut net, config);
    let (echo, asker) = (Echo::default(), Asker::new(msgs));
    let mut t = Pair::new(net, srv, cli, echo, asker);
    t.connect(PORT);
    t.run(limit_ms, |_, _, _, c| c.is_stopped());
    (t.hs, t.hc, t.net)
}

#[test]
fn many_messages_each_way_arrive_intact() {
    let msgs = messages(&mut Rng(7), 300, 4000);
    let (echo, asker, _) = echo_exchange(Faults::default(), msgs, 600_000);
    assert_eq!(asker.replies_ok, 300, "every reply arrived intact");
    assert_eq!(asker.wrong_replies, 0);
    assert!(asker.failures.is_empty() && echo.failures.is_empty());
    assert_eq!(echo.received, 300);
    assert_eq!(echo.inits, 1);
    assert_eq!(asker.shutdowns.len(), 1);
    assert_eq!(asker.shutdowns[0].1, Shutdown::Local);
    assert_eq!(echo.shutdowns, [Shutdown::PeerClosed]);
}

#[test]
fn dropped_and_corrupted_frames_never_corrupt_a_message() {
    let mut complete = 0;
    for seed in 1..=8u32 {
        let faults = Faults {
            drop_pct: 10,
            corrupt_pct: 10,
            seed,
        };
        let msgs = messages(&mut Rng(u64::from(seed) * 1000 + 3), 40, 4000);
        let (_, _, clean) = echo_exchange(Faults::default(), msgs.clone(), 3_600_000);
        let (echo, asker, faulty) = echo_exchange(faults, msgs, 3_600_000);
        // The faults did happen: recovering from them (retransmission timeouts) took time.
        assert!(
            faulty.now > clean.now,
            "seed {seed}: no fault was injected?"
        );
        assert_eq!(
            asker.wrong_replies, 0,
            "seed {seed}: a corrupted message was delivered"
        );
        assert!(
            echo.failures.is_empty() && asker.failures.is_empty(),
            "seed {seed}"
        );
        if asker.replies_ok == 40 {
            complete += 1;
            assert_eq!(echo.received, 40, "seed {seed}");
        } else {
            // Otherwise the connection must have failed with a typed error.
            let (_, why) = asker.shutdowns.first().expect("the connection ended");
            assert!(matches!(why, Shutdown::Failed(_)), "seed {seed}: {why:?}");
        }
    }
    // TCP retransmits what was dropped and what failed its checksum: all should complete.
    assert_eq!(complete, 8, "every faulty run completed");
}

#[test]
fn heavy_faults_end_in_a_typed_error_or_intact_messages() {
    for seed in 1..=4u32 {
        let faults = Faults {
            drop_pct: 40,
            corrupt_pct: 30,
            seed,
        };
        let mut net = Net::new(faults);
        let timeouts = Timeouts::new()
            .handshake(20_000)
            .status(20_000)
            .stall(20_000);
        let config = Config::new()
            .timeouts(timeouts)
            .tcp_timeout(Some(Duration::from_secs(10)));
        let srv = server::<1>(&mut net, config);
        let cli = client::<1>(&mut net, config);
        let msgs = messages(&mut Rng(u64::from(seed)), 20, 3000);
        let (echo, asker) = (Echo::default(), Asker::new(msgs));
        let mut t = Pair::new(net, srv, cli, echo, asker);
        t.connect(PORT);
        let c = t.run(3_600_000, |_, _, _, c| c.is_stopped()).client;
        assert!(
            c.is_stopped(),
            "seed {seed}: the client finished in bounded time"
        );
        assert_eq!(t.hc.wrong_replies, 0, "seed {seed}");
        if t.hc.replies_ok < 20 {
            let (_, why) = &t.hc.shutdowns[0];
            assert!(matches!(why, Shutdown::Failed(_)), "seed {seed}: {why:?}");
        }
    }
}

#[test]
fn oversize_is_refused_and_the_stream_stays_in_sync() {
    let msgs = vec![b"one".to_vec(), vec![7; 5000], b"two".to_vec()];
    let (echo, asker, _) = echo_exchange(Faults::default(), msgs, 60_000);
    assert_eq!(asker.replies_ok, 2);
    assert_eq!(asker.failures, [Failure::Rejected { len: 5000 }]);
    assert_eq!(
        echo.failures,
        [Failure::Refused {
            len: 5000,
            limit: 4096
        }]
    );
}

#[test]
fn empty_message_is_echoed_and_quit_closes_the_connection() {
    let msgs = vec![Vec::new(), b"x".to_vec(), Vec::new(), b"QUIT".to_vec()];
    let (echo, asker, _) = echo_exchange(Faults::default(), msgs, 60_000);
    assert_eq!(asker.replies_ok, 3);
    assert_eq!(asker.shutdowns[0].1, Shutdown::PeerClosed);
    assert_eq!(echo.shutdowns, [Shutdown::Local]);
}

#[test]
fn srvquit_stops_the_server_after_closing_everything() {
    let mut net = Net::new(Faults::default());
    let config = Config::new();
    let srv = server::<2>(&mut net, config);
    let cli = client::<1>(&mut net, config);
    let (echo, asker) = (
        Echo::default(),
        Asker::new(vec![b"hi".to_vec(), b"SRVQUIT".to_vec()]),
    );
    let mut t = Pair::new(net, srv, cli, echo, asker);
    t.connect(PORT);
    let Ends {
        server: s,
        client: c,
    } = t.run(60_000, |_, _, s, c| s.is_stopped() && c.is_stopped());
    assert!(s.is_stopped() && c.is_stopped());
    assert_eq!((t.hs.pre_loop, t.hs.post_loop), (1, 1));
    assert_eq!(
        t.hs.lifecycle,
        ["conn_init", "pre_loop", "post_loop", "conn_shutdown"],
        "the server's and the connection's hooks, in the order of the other transports"
    );
    assert!(t.hs.conn_passes > 0, "the connection's loop_pass ran");
    assert_eq!(t.hc.replies_ok, 1);
    assert_eq!(t.hc.shutdowns[0].1, Shutdown::PeerClosed);
    assert_eq!(t.hs.shutdowns, [Shutdown::Local]);
    for (_, socket) in t.net.server.sockets.iter() {
        let tcp = tcp::Socket::downcast(socket).unwrap();
        assert!(!tcp.is_open(), "socket left in {}", tcp.state());
    }
    // A stopped server stays stopped.
    assert_eq!(
        t.srv.poll(t.net.now, &mut t.net.server.sockets, &mut t.hs),
        Status::Stopped
    );
    assert_eq!(t.hs.post_loop, 1);
}

/// Sends one message and closes in the same hook, as a client does with its last message.
struct SendAndClose(&'static [u8]);

impl Handler for SendAndClose {
    fn pre_loop(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        conn.transmit(self.0).unwrap();
        conn.shutdown();
    }
}

impl ClientHooks for SendAndClose {}

#[test]
fn a_shutdown_right_after_transmit_sends_the_whole_message_first() {
    // The header goes out at once; the payload only after the server's status byte. The close
    // must wait for it (it once happened right after the header: the message was lost).
    let mut net = Net::new(Faults::default());
    let config = Config::new();
    let srv = server::<1>(&mut net, config);
    let cli = client::<1>(&mut net, config);
    let last = SendAndClose(b"SRVQUIT");
    let mut t = Pair::new(net, srv, cli, Echo::default(), last);
    t.connect(PORT);
    let ends = t.run(60_000, |_, _, s, _| s.is_stopped());
    assert!(ends.server.is_stopped(), "SRVQUIT never arrived");
    assert_eq!((t.hs.received, t.hs.srv_quit), (1, true));
    assert!(t.hs.failures.is_empty(), "{:?}", t.hs.failures);
}

/// Records connection events on the client side.
#[derive(Default)]
struct Recorder {
    inits: Vec<ConnId>,
    shutdowns: Vec<(ConnId, Shutdown)>,
}

impl Handler for Recorder {
    fn pre_loop(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        self.inits.push(conn.id());
    }
}

impl ClientHooks for Recorder {
    fn conn_shutdown(&mut self, id: ConnId, why: &Shutdown) {
        self.shutdowns.push((id, why.clone()));
    }
}

#[test]
fn connection_limit_answers_0xfe_and_the_slot_re_arms() {
    let mut net = Net::new(Faults::default());
    let config = Config::new();
    let limit_socket = net.server.socket(256);
    let srv = server::<1>(&mut net, config).with_limit_socket(limit_socket);
    let cli = client::<2>(&mut net, config);
    let (echo, rec) = (Echo::default(), Recorder::default());
    let mut t = Pair::new(net, srv, cli, echo, rec);

    let a = t.connect(PORT);
    t.run(10_000, |_, r, _, _| !r.inits.is_empty());
    assert_eq!(t.hc.inits, [a]);
    assert_eq!(t.srv.control().active_connections(), 1);

    let b = t.connect(PORT);
    t.run(10_000, |_, r, _, _| !r.shutdowns.is_empty());
    assert_eq!(
        t.hc.shutdowns,
        [(
            b,
            Shutdown::Failed(Error::Protocol(ProtocolError::ConnectionLimit))
        )]
    );
    assert_eq!(t.hs.refused, 1);
    assert!(
        t.cli.control().connection(b).is_none(),
        "a failed id addresses nothing"
    );

    // The first connection closes; its slot listens again and takes the next peer.
    t.cli.control().connection(a).expect("a is live").shutdown();
    t.run(10_000, |e, _, _, _| !e.shutdowns.is_empty());
    assert_eq!(t.hs.shutdowns, [Shutdown::PeerClosed]);
    // Until its TCP close completes the slot still counts against the limit; then it listens.
    let slot_socket = srv_slot_socket(&t.net, limit_socket);
    for _ in 0..10_000 {
        if t.net.server.sockets.get::<tcp::Socket>(slot_socket).state() == tcp::State::Listen {
            break;
        }
        t.net.advance(None);
        t.net.poll_ifaces();
        let _ = t.srv.poll(t.net.now, &mut t.net.server.sockets, &mut t.hs);
        let _ = t.cli.poll(t.net.now, &mut t.net.client.sockets, &mut t.hc);
    }
    assert_eq!(
        t.net.server.sockets.get::<tcp::Socket>(slot_socket).state(),
        tcp::State::Listen,
        "the slot re-armed in bounded time"
    );
    let c = t.connect(PORT);
    t.run(10_000, |_, r, _, _| r.inits.len() == 2);
    assert_eq!(t.hc.inits, [a, c]);
    assert_eq!(t.hs.refused, 1);

    // The limit socket re-armed after its refusal: the next peer above the limit is refused
    // too, and no refused peer reached the server's `conn_init`.
    let d = t.connect(PORT);
    t.run(10_000, |_, r, _, _| r.shutdowns.len() == 3);
    assert_eq!(
        t.hc.shutdowns[2],
        (
            d,
            Shutdown::Failed(Error::Protocol(ProtocolError::ConnectionLimit))
        )
    );
    assert_eq!(t.hs.refused, 2);
    let accepted = t.hs.lifecycle.iter().filter(|&&h| h == "conn_init").count();
    assert_eq!(accepted, 2, "{:?}", t.hs.lifecycle);
}

/// The server's pool socket (the one that is not the limit socket).
fn srv_slot_socket(net: &Net, limit: smoltcp::iface::SocketHandle) -> smoltcp::iface::SocketHandle {
    net.server
        .sockets
        .iter()
        .map(|(h, _)| h)
        .find(|&h| h != limit)
        .unwrap()
}

#[test]
fn connect_to_a_closed_port_fails_and_frees_the_socket() {
    let mut net = Net::new(Faults::default());
    let srv = server::<1>(&mut net, Config::new());
    let cli = client::<1>(&mut net, Config::new());
    let (echo, rec) = (Echo::default(), Recorder::default());
    let mut t = Pair::new(net, srv, cli, echo, rec);
    let id = t.connect(PORT + 1);
    // The only socket is busy connecting.
    let cx = t.net.client.iface.context();
    let busy = t
        .cli
        .connect(cx, &mut t.net.client.sockets, (SERVER_IP, PORT), t.net.now);
    assert_eq!(busy, Err(ConnectError::NoFreeSocket));
    t.run(10_000, |_, r, _, _| !r.shutdowns.is_empty());
    assert_eq!(
        t.hc.shutdowns,
        [(
            id,
            Shutdown::Failed(Error::Transport(TcpError::ConnectFailed))
        )]
    );
    // Nothing leaked: the socket serves the next connect.
    let ok = t.connect(PORT);
    t.run(10_000, |_, r, _, _| !r.inits.is_empty());
    assert_eq!(t.hc.inits, [ok]);
}

#[test]
fn a_vanished_peer_times_out_and_every_socket_is_freed() {
    let mut net = Net::new(Faults::default());
    let config = Config::new()
        .timeouts(Timeouts::new().status(3_000))
        .keep_alive(Some(Duration::from_secs(1)))
        .tcp_timeout(Some(Duration::from_secs(4)))
        .linger(Duration::from_secs(1));
    let srv = server::<1>(&mut net, config);
    let cli = client::<1>(&mut net, config);
    let (echo, rec) = (Echo::default(), Recorder::default());
    let mut t = Pair::new(net, srv, cli, echo, rec);
    let id = t.connect(PORT);
    t.run(10_000, |e, r, _, _| !r.inits.is_empty() && e.inits == 1);
    // The cable is cut: every frame is lost from now on.
    t.net.server.device.set_drop_chance(100);
    t.net.client.device.set_drop_chance(100);
    t.cli
        .control()
        .connection(id)
        .unwrap()
        .transmit(b"anyone?")
        .unwrap();
    let start = t.net.now;
    t.run(60_000, |e, r, _, _| {
        !r.shutdowns.is_empty() && !e.shutdowns.is_empty()
    });
    assert!(
        t.net.now - start < Duration::from_secs(10),
        "both ends noticed in time"
    );
    // The client waited for the status byte; the server, idle, lost the peer to keep-alive.
    assert!(
        matches!(
            t.hc.shutdowns[0].1,
            Shutdown::Failed(Error::Timeout {
                phase: Phase::Status
            }) | Shutdown::Failed(Error::Transport(TcpError::Reset))
        ),
        "{:?}",
        t.hc.shutdowns
    );
    assert_eq!(
        t.hs.shutdowns,
        [Shutdown::Failed(Error::Transport(TcpError::Reset))]
    );
    // Linger passes: the client socket is closed, the server socket listens again.
    let until = t.net.now + Duration::from_secs(2);
    t.run(5_000, |_, _, _, _| false);
    assert!(t.net.now >= until);
    for (_, socket) in t.net.client.sockets.iter() {
        assert!(!tcp::Socket::downcast(socket).unwrap().is_open());
    }
    for (_, socket) in t.net.server.sockets.iter() {
        assert_eq!(
            tcp::Socket::downcast(socket).unwrap().state(),
            tcp::State::Listen
        );
    }
    let _ = Instant::ZERO;
}

/// A raw smoltcp socket on the client host, connecting to the server, that plays a peer byte
/// by byte; it never reads, so its receive window is `window` bytes at most.
fn raw_peer(net: &mut Net, window: usize) -> smoltcp::iface::SocketHandle {
    let raw = net.client.sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; window]),
        tcp::SocketBuffer::new(vec![0; SOCKET_BUF]),
    ));
    let cx = net.client.iface.context();
    net.client
        .sockets
        .get_mut::<tcp::Socket>(raw)
        .connect(cx, (SERVER_IP, PORT), 50_000)
        .unwrap();
    raw
}

/// Polls the server while the raw peer writes `bytes` once connected (then closes, when
/// `close`), until `ended` or `limit_ms` of simulated time; returns how many polls asked to be
/// polled again at once.
#[allow(clippy::too_many_arguments)]
fn serve_raw<const N: usize, H: Handler + ServerHooks>(
    net: &mut Net,
    srv: &mut Server<SBuf, SBuf, (), N>,
    handler: &mut H,
    raw: smoltcp::iface::SocketHandle,
    bytes: &[u8],
    close: bool,
    limit_ms: u64,
    ended: impl Fn(&H) -> bool,
) -> usize {
    let (end, mut sent, mut due_now) = (net.now + Duration::from_millis(limit_ms), false, 0);
    while net.now < end {
        net.poll_ifaces();
        let s = srv.poll(net.now, &mut net.server.sockets, handler);
        let socket = net.client.sockets.get_mut::<tcp::Socket>(raw);
        if !sent && socket.may_send() {
            assert_eq!(socket.send_slice(bytes), Ok(bytes.len()));
            if close {
                socket.close();
            }
            sent = true;
        }
        if ended(handler) {
            break;
        }
        if s.poll_at().is_some_and(|at| at <= net.now) {
            due_now += 1;
        }
        net.advance(s.poll_at());
    }
    due_now
}

#[test]
fn a_truncated_message_is_an_error_and_never_delivered() {
    let mut net = Net::new(Faults::default());
    let mut srv = server::<1>(&mut net, Config::new());
    let mut echo = Echo::default();
    let _ = srv.poll(net.now, &mut net.server.sockets, &mut echo);
    // A raw peer that announces 10 bytes, sends 4 and closes.
    let raw = raw_peer(&mut net, SOCKET_BUF);
    let bytes = b"\xff\x00\x00\x00\x0aabcd";
    serve_raw(
        &mut net,
        &mut srv,
        &mut echo,
        raw,
        bytes,
        true,
        10_000,
        |e| !e.shutdowns.is_empty(),
    );
    assert_eq!(echo.received, 0, "nothing partial is delivered");
    assert_eq!(
        echo.shutdowns,
        [Shutdown::Failed(Error::Protocol(
            ProtocolError::UnexpectedEof {
                phase: Phase::ReceivingPayload,
                missing: 6
            }
        ))]
    );
}

#[test]
fn a_silent_peer_is_dropped_with_the_default_config() {
    let mut net = Net::new(Faults::default());
    let mut srv = server::<1>(&mut net, Config::new());
    let mut echo = Echo::default();
    let _ = srv.poll(net.now, &mut net.server.sockets, &mut echo);
    // A raw peer that connects and never sends its init byte.
    let raw = raw_peer(&mut net, SOCKET_BUF);
    let start = net.now;
    serve_raw(
        &mut net,
        &mut srv,
        &mut echo,
        raw,
        b"",
        false,
        60_000,
        |e| !e.shutdowns.is_empty(),
    );
    assert_eq!(
        echo.shutdowns,
        [Shutdown::Failed(Error::Timeout {
            phase: Phase::Handshake
        })]
    );
    let took = net.now - start;
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(6),
        "{took}"
    );
    assert_eq!(Config::new().protocol_timeouts(), Config::DEFAULT_TIMEOUTS);
}

/// Server side: sends one message of `len` bytes when a peer connects; records the rest.
#[derive(Default)]
struct Filler {
    len: usize,
    received: usize,
    shutdowns: Vec<Shutdown>,
}

impl Handler for Filler {
    fn pre_loop(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        conn.transmit(&vec![0x55; self.len]).unwrap();
    }
    fn transmission_received(&mut self, _: &mut tinyproto_smoltcp::Conn<'_>) {
        self.received += 1;
    }
}

impl ServerHooks for Filler {
    fn conn_shutdown(&mut self, _: ConnId, why: &Shutdown) {
        self.shutdowns.push(why.clone());
    }
}

#[test]
fn an_answer_the_socket_cannot_take_neither_spins_nor_holds_the_slot_for_ever() {
    const STALL_MS: u32 = 2_000;
    let mut net = Net::new(Faults::default());
    let config = Config::new().timeouts(Timeouts::new().stall(STALL_MS));
    let server_socket = net.server.socket(1024);
    let mut srv = Server::<SBuf, SBuf, (), 1>::with_sockets(PORT, [server_socket], config).unwrap();
    // A raw peer with a 256-byte receive window that never reads. The server's message fills
    // that window and the server's 1024-byte send buffer exactly: 1 init byte + 4 header bytes
    // + 1275 payload bytes = 256 + 1024.
    let mut filler = Filler {
        len: 256 + 1024 - 5,
        ..Filler::default()
    };
    let _ = srv.poll(net.now, &mut net.server.sockets, &mut filler);
    let raw = raw_peer(&mut net, 256);
    // Its init byte, "go ahead" for the server's message, then an empty message, whose `0xff`
    // the server owes but cannot write.
    let start = net.now;
    let bytes = b"\xff\xff\x00\x00\x00\x00";
    let due_now = serve_raw(
        &mut net,
        &mut srv,
        &mut filler,
        raw,
        bytes,
        false,
        60_000,
        |f| !f.shutdowns.is_empty(),
    );
    assert_eq!(
        filler.received, 1,
        "the empty message was delivered at once"
    );
    assert!(
        due_now < 10,
        "asked to be polled again at once {due_now} times: a busy loop"
    );
    // The owed byte counts as a stalled transfer: the slot is freed, not held for ever.
    assert_eq!(
        filler.shutdowns,
        [Shutdown::Failed(Error::Timeout { phase: Phase::Idle })]
    );
    let took = net.now - start;
    assert!(
        took > Duration::from_millis(STALL_MS.into()) && took < Duration::from_secs(5),
        "{took}"
    );
}

/// Server side: pushes `total` numbered messages from `loop_pass` to every connection.
struct Pusher {
    total: usize,
    sent: usize,
}

impl Handler for Pusher {}

impl ServerHooks for Pusher {
    fn loop_pass(&mut self, ctl: &mut tinyproto_smoltcp::Control<'_>) {
        let ids: Vec<ConnId> = ctl.connections().collect();
        for id in ids {
            let mut conn = ctl.connection(id).expect("listed connections are live");
            while self.sent < self.total && conn.can_transmit() {
                let msg = format!("push {} {}", self.sent, "x".repeat(self.sent % 1500));
                conn.transmit(msg.as_bytes()).unwrap();
                self.sent += 1;
            }
        }
    }
}

/// Client side: checks the pushed messages arrive in order, intact.
#[derive(Default)]
struct Sink {
    got: usize,
    bad: usize,
    ended: Option<Shutdown>,
}

impl Handler for Sink {
    fn transmission_received(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        let want = format!("push {} {}", self.got, "x".repeat(self.got % 1500));
        if conn.message() != want.as_bytes() {
            self.bad += 1;
        }
        self.got += 1;
    }
}

impl ClientHooks for Sink {
    fn conn_shutdown(&mut self, _: ConnId, why: &Shutdown) {
        self.ended = Some(why.clone());
    }
}

#[test]
fn server_pushes_from_loop_pass_and_every_message_arrives_in_order() {
    for faults in [
        Faults::default(),
        Faults {
            drop_pct: 5,
            corrupt_pct: 5,
            seed: 9,
        },
    ] {
        let mut net = Net::new(faults);
        let srv = server::<1>(&mut net, Config::new());
        let cli = client::<1>(&mut net, Config::new());
        let (pusher, sink) = (
            Pusher {
                total: 200,
                sent: 0,
            },
            Sink::default(),
        );
        let mut t = Pair::new(net, srv, cli, pusher, sink);
        t.connect(PORT);
        t.run(3_600_000, |_, s, _, _| s.got == 200);
        assert_eq!(
            (t.hc.got, t.hc.bad),
            (200, 0),
            "{faults:?}: ended {:?}",
            t.hc.ended
        );
    }
}

/// XORs every byte with a key (like the Python examples' `xor5a` plugin).
#[derive(Default, Clone, Copy)]
struct Xor(u8);

impl tinyproto_smoltcp::tinyproto_core::Plugin for Xor {
    fn on_transmit(
        &mut self,
        msg: &mut dyn tinyproto_smoltcp::tinyproto_core::Buffer,
    ) -> Result<(), tinyproto_smoltcp::tinyproto_core::plugin::PluginError> {
        msg.as_mut_slice().iter_mut().for_each(|b| *b ^= self.0);
        Ok(())
    }
    fn on_receive(
        &mut self,
        msg: &mut dyn tinyproto_smoltcp::tinyproto_core::Buffer,
    ) -> Result<(), tinyproto_smoltcp::tinyproto_core::plugin::PluginError> {
        self.on_transmit(msg)
    }
}

#[test]
fn plugins_apply_on_both_sides() {
    let mut net = Net::new(Faults::default());
    let slot = |h| tinyproto_smoltcp::Slot::new(h, SBuf::new(), SBuf::new(), (Xor(0x5a),));
    let mut srv = Server::new(PORT, [slot(net.server.socket(SOCKET_BUF))], Config::new()).unwrap();
    let cslot = |h| tinyproto_smoltcp::Slot::new(h, CBuf::new(), CBuf::new(), (Xor(0x5a),));
    let mut cli = Client::new([cslot(net.client.socket(SOCKET_BUF))], Config::new());
    let msgs = messages(&mut Rng(3), 30, 2000);
    let (mut echo, mut asker) = (Echo::default(), Asker::new(msgs));
    let _ = srv.poll(net.now, &mut net.server.sockets, &mut echo);
    let cx = net.client.iface.context();
    cli.connect(cx, &mut net.client.sockets, (SERVER_IP, PORT), net.now)
        .unwrap();
    let end = net.now + Duration::from_secs(600);
    while net.now < end {
        net.poll_ifaces();
        let s = srv.poll(net.now, &mut net.server.sockets, &mut echo);
        let c = cli.poll(net.now, &mut net.client.sockets, &mut asker);
        if c.is_stopped() {
            break;
        }
        net.advance([s.poll_at(), c.poll_at()].into_iter().flatten().min());
    }
    assert_eq!((asker.replies_ok, asker.wrong_replies), (30, 0));
}

/// Server side: answers each message with its length, as 4 bytes.
#[derive(Default)]
struct Lengths {
    too_long: Vec<usize>,
}

impl Handler for Lengths {
    fn transmission_received(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        let len = conn.message().len();
        if conn.transmit(&(len as u32).to_be_bytes()).is_err() {
            self.too_long.push(len);
        }
    }
}

impl ServerHooks for Lengths {}

/// Client side: sends `msg` once connected, keeps the reply.
struct Once {
    msg: Vec<u8>,
    reply: Option<Vec<u8>>,
}

impl Handler for Once {
    fn pre_loop(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        conn.transmit(&self.msg).unwrap();
    }
    fn transmission_received(&mut self, conn: &mut tinyproto_smoltcp::Conn<'_>) {
        self.reply = Some(conn.message().to_vec());
    }
}

impl ClientHooks for Once {}

#[test]
fn a_slot_receives_messages_larger_than_its_send_buffer() {
    // Firmware's shape: a large receive buffer, a send buffer for short answers only.
    type Small = heapless::Vec<u8, 8>;
    let mut net = Net::new(Faults::default());
    let handle = net.server.socket(SOCKET_BUF);
    let slot = tinyproto_smoltcp::Slot::new(handle, SBuf::new(), Small::new(), ());
    let srv = Server::new(PORT, [slot], Config::new()).unwrap();
    let cli = client::<1>(&mut net, Config::new());
    let once = Once {
        msg: vec![0x42; 4000],
        reply: None,
    };
    let mut t = Pair::new(net, srv, cli, Lengths::default(), once);
    t.connect(PORT);
    t.run(60_000, |_, c, _, _| c.reply.is_some());
    assert_eq!(t.hc.reply.as_deref(), Some(&4000u32.to_be_bytes()[..]));
    assert!(t.hs.too_long.is_empty());
    // And the send buffer still bounds what goes out.
    let id = t.srv.control().connections().next().expect("connected");
    let mut ctl = t.srv.control();
    let mut conn = ctl.connection(id).unwrap();
    assert!(
        matches!(conn.transmit(&[0; 9]), Err(SendError::Capacity(_))),
        "9 bytes do not fit in 8"
    );
    assert_eq!(conn.transmit(&[0; 8]), Ok(()));
}
