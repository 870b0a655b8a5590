//! The seed README's echo server and echo client on embassy: embassy-executor, embassy-net over
//! a Linux TAP device, and tinyproto-core's async driver on embassy-net's `TcpSocket` — what an
//! embassy firmware runs, on a host, so that the Python package can talk to it.
//!
//! `--role server`: replies b"Echo back: " + message; `QUIT` closes that connection, `SRVQUIT`
//! stops the server. Prints `LISTENING <port>`, a line per connection opened and closed, and
//! `STOPPED`. Up to `--connections` peers are served at once; a further one is answered with the
//! single byte `0xfe` (connection limit) and closed. Messages are received into buffers that
//! grow with the bytes that arrive, up to `--max-message` (default: the protocol maximum).
//!
//! `--role client`: connects to `--connect`, then sends each `--line` and prints
//! `Response from server: <reply>` (stopping after QUIT or SRVQUIT), or with `--sizes` sends
//! seeded random messages of those sizes, checks each reply and prints `OK <count>`. Then it
//! closes and prints `CLOSED`.
//!
//! ```text
//! # as root, inside a network namespace of your own:
//! ip netns add tp-demo
//! ip -n tp-demo tuntap add dev tap0 mode tap
//! ip -n tp-demo link set tap0 up
//! ip -n tp-demo addr add 192.168.69.100/24 dev tap0
//! ip netns exec tp-demo cargo run -p tinyproto-examples --bin embassy-echo -- --role server
//! ip netns exec tp-demo target/py/venv-3.0/bin/python examples/python/echo_client.py \
//!     --host 192.168.69.1 --port 9123
//! ip netns delete tp-demo
//! ```
//!
//! Timeouts are embassy-time's `with_timeout` around the core's futures, which may be dropped
//! at any await point: a receive that times out between messages is simply called again (no
//! idle limit, as in Python), one that times out without progress inside a message ends the
//! connection (a stalled peer). TCP's own timeout bounds a peer that stops acknowledging.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Parser, ValueEnum};
use embassy_executor::{Executor, Spawner};
use embassy_net::tcp::TcpSocket;
use embassy_net::StaticConfigV4;
use embassy_net::{Config, IpAddress, IpEndpoint, Ipv4Cidr, Runner, Stack, StackResources};
use embassy_net_tuntap::TunTapDevice;
use embassy_time::{with_timeout, Duration, Instant, Timer};
use embedded_io_async::Write as _;
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::session::{NextRead, Phase, Session};
use tinyproto_core::wire::{MSG_MAX_SIZE, SC_CONLIMIT};
use tinyproto_core::{AsyncConnection, Error, Received, Sent, TransmitError};

/// A peer that sends nothing for this long inside a message (or before its init byte) is
/// dropped.
const STALL: Duration = Duration::from_secs(10);
/// How long the client waits for a reply.
const REPLY_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting receive looks at the peer's progress.
const TICK: Duration = Duration::from_millis(250);
/// A peer that acknowledges nothing we send for this long is dropped (TCP's own timeout).
const TCP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a closing connection waits for the peer's FIN (Python 3.0 never sends one, Q8).
const LINGER: Duration = Duration::from_millis(500);
/// Bytes of each TCP socket buffer (either direction).
const SOCKET_BUFFER: usize = 64 * 1024;
/// Most connections served at once.
const MAX_CONNECTIONS: usize = 16;
/// Sockets of the server beyond its connection limit: one refuses a peer while another listens.
const SPARE_SOCKETS: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Server,
    Client,
}

#[derive(Parser)]
#[command(about = "tinyproto echo server or client on embassy-net over a TAP device")]
struct Args {
    /// Echo server or echo client.
    #[arg(long, value_enum)]
    role: Role,
    /// TAP device to open (it must exist and be up).
    #[arg(long, default_value = "tap0")]
    tap: String,
    /// Address of the embassy-net interface, with its prefix.
    #[arg(long, default_value = "192.168.69.1/24", value_parser = parse_cidr)]
    ip: Ipv4Cidr,
    /// Server: TCP port to listen on.
    #[arg(long, default_value_t = 9123)]
    port: u16,
    /// Server: connections served at once (the connection limit, at most 16).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Largest message accepted, in bytes (a larger one is answered 0x00 and skipped); memory
    /// grows only with the bytes that arrive.
    #[arg(long, default_value_t = MSG_MAX_SIZE as usize)]
    max_message: usize,
    /// Client: server address.
    #[arg(long, default_value = "192.168.69.100:9123")]
    connect: std::net::SocketAddrV4,
    /// Client: a line to send (repeatable).
    #[arg(long)]
    line: Vec<String>,
    /// Client: comma-separated sizes of random messages to send and check instead of lines.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let bad = || format!("`{s}` is not an IPv4 address with a prefix (like 192.168.69.1/24)");
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().ok().filter(|&p| p <= 32).ok_or_else(bad)?;
    Ok(Ipv4Cidr::new(addr, prefix))
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Memory that lives as long as the program (firmware would use `static` cells).
fn forever<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn socket(stack: Stack<'static>) -> TcpSocket<'static> {
    let buffer = || Box::leak(vec![0u8; SOCKET_BUFFER].into_boxed_slice());
    let mut socket = TcpSocket::new(stack, buffer(), buffer());
    socket.set_timeout(Some(TCP_TIMEOUT));
    socket
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        eprintln!("--connections must be 1..={MAX_CONNECTIONS}");
        return ExitCode::FAILURE;
    }
    let device = match TunTapDevice::new(&args.tap) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("cannot open TAP device {}: {e}", args.tap);
            return ExitCode::FAILURE;
        }
    };
    let config = Config::ipv4_static(StaticConfigV4 {
        address: args.ip,
        gateway: None,
        dns_servers: Default::default(),
    });
    // The server's sockets, or the client's one.
    let resources = forever(StackResources::<{ MAX_CONNECTIONS + SPARE_SOCKETS }>::new());
    let seed = u64::from(std::process::id());
    let (stack, runner) = embassy_net::new(device, config, resources, seed);
    let args = forever(args);
    let executor = forever(Executor::new());
    executor.run(|spawner| {
        spawner.spawn(net_task(runner).expect("one network task"));
        match args.role {
            Role::Server => serve(spawner, stack, args),
            Role::Client => spawner.spawn(client(stack, args).expect("one client task")),
        }
    })
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

/// Connections being served now (the executor runs every task on one thread).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Starts the pool: two sockets more than the connection limit, each in a task that accepts a
/// peer, serves it when fewer than `--connections` are served, or else answers it with the
/// single byte `0xfe` (connection limit) and closes. The spare sockets keep one listening
/// while others close, so a peer is never turned away with a reset.
fn serve(spawner: Spawner, stack: Stack<'static>, args: &'static Args) {
    for id in 0..args.connections + SPARE_SOCKETS {
        let socket = forever(socket(stack));
        spawner.spawn(echo_worker(id, socket, args).expect("pool of MAX_CONNECTIONS + SPARE"));
    }
    say(&format!("LISTENING {}", args.port));
}

/// One socket of the pool: accepts a peer, echoes until it ends (or refuses it at the limit),
/// closes, and listens again.
#[embassy_executor::task(pool_size = MAX_CONNECTIONS + SPARE_SOCKETS)]
async fn echo_worker(id: usize, socket: &'static mut TcpSocket<'static>, args: &'static Args) {
    let mut reply = Vec::new();
    loop {
        if let Err(e) = socket.accept(args.port).await {
            say(&format!("accept failed: {e:?}"));
            socket.abort();
            continue;
        }
        let from = socket
            .remote_endpoint()
            .map_or("?".into(), |e| e.to_string());
        if ACTIVE.load(Ordering::Relaxed) >= args.connections {
            say(&format!("Connection refused (limit reached): {from}"));
            let _ = socket.write_all(&[SC_CONLIMIT]).await;
            close(socket).await;
            continue;
        }
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        say(&format!("Connection opened from: {from}"));
        let mut conn = AsyncConnection::new(&mut *socket, VecBuffer::new(args.max_message));
        let end = echo(&mut conn, &mut reply).await;
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
        say(&format!("CLOSED {id} {end}"));
        close(socket).await;
        if end == End::ServerQuit {
            say("STOPPED");
            std::process::exit(0);
        }
    }
}

/// How a connection of the echo server ended.
#[derive(Debug, PartialEq)]
enum End {
    Quit,
    ServerQuit,
    Stalled(Phase),
    Failed(Error<embassy_net::tcp::Error>),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Quit => f.write_str("QUIT"),
            End::ServerQuit => f.write_str("SRVQUIT"),
            End::Stalled(phase) => write!(f, "peer stalled during {phase}"),
            End::Failed(Error::Closed) => f.write_str("peer closed"),
            End::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// The echo loop of one connection.
async fn echo(conn: &mut EchoConn<'_, '_>, reply: &mut Vec<u8>) -> End {
    loop {
        match receive_with_stall_limit(conn, reply).await {
            Ok(Request::Echo) => {}
            Ok(Request::Quit) => return End::Quit,
            Ok(Request::ServerQuit) => return End::ServerQuit,
            Err(Some(e)) => return End::Failed(e),
            Err(None) => return End::Stalled(conn.session().phase()),
        }
        match conn.transmit(reply).await {
            Ok(Sent::Written) => {}
            Ok(Sent::Rejected { len }) => {
                say(&format!("reply of {len} bytes rejected by the peer"))
            }
            Err(TransmitError::Send(e)) => say(&format!("reply not sent: {e}")),
            Err(TransmitError::Connection(e)) => return End::Failed(e),
        }
    }
}

type EchoConn<'a, 's> = AsyncConnection<&'a mut TcpSocket<'s>, VecBuffer>;

/// What a received message asks of the echo server.
enum Request {
    /// Send the reply that was prepared.
    Echo,
    Quit,
    ServerQuit,
}

/// Where a session is in its input: it moved when this changes.
fn progress(session: &Session) -> (Phase, NextRead, usize) {
    (
        session.phase(),
        session.next_read(),
        session.payload_received(),
    )
}

/// Receives one message and prepares its reply; a message we refused (above `--max-message`)
/// is logged and the next one awaited. The receive is bounded by [`TICK`] and called again
/// after each timeout (a dropped receive resumes where the wire is); `Err(None)` is a peer that
/// made no progress for [`STALL`] inside a message or before its init byte. Between messages
/// there is no limit, as in Python.
async fn receive_with_stall_limit(
    conn: &mut EchoConn<'_, '_>,
    reply: &mut Vec<u8>,
) -> Result<Request, Option<Error<embassy_net::tcp::Error>>> {
    let mut seen = progress(conn.session());
    let mut since = Instant::now();
    loop {
        let received = match with_timeout(TICK, conn.receive()).await {
            Ok(Ok(Received::Message(b"QUIT"))) => Ok(Request::Quit),
            Ok(Ok(Received::Message(b"SRVQUIT"))) => Ok(Request::ServerQuit),
            Ok(Ok(Received::Message(msg))) => {
                reply.clear();
                reply.extend_from_slice(b"Echo back: ");
                reply.extend_from_slice(msg);
                Ok(Request::Echo)
            }
            Ok(Ok(other)) => {
                say(&format!("not delivered: {}", not_delivered(&other)));
                Err(None)
            }
            Ok(Err(e)) => Err(Some(e)),
            Err(_timeout) => Err(None),
        };
        if !matches!(received, Err(None)) {
            return received;
        }
        let now = progress(conn.session());
        if now != seen || now.0 == Phase::Idle {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= STALL {
            return Err(None);
        }
    }
}

/// Closes our side, waits a little for the peer's FIN, then frees the socket for the next
/// `accept` (a peer that never closes, like Python 3.0, is reset after [`LINGER`]).
async fn close(socket: &mut TcpSocket<'_>) {
    socket.close();
    let _ = with_timeout(LINGER, async {
        let _ = socket.flush().await;
        let mut scratch = [0u8; 64];
        while let Ok(1..) = embedded_io_async::Read::read(socket, &mut scratch).await {}
    })
    .await;
    socket.abort();
    let _ = with_timeout(LINGER, socket.flush()).await;
}

#[embassy_executor::task]
async fn client(stack: Stack<'static>, args: &'static Args) {
    let code = run_client(stack, args).await;
    // Let the last segments go out before the device closes.
    Timer::after_millis(200).await;
    std::process::exit(code);
}

async fn run_client(stack: Stack<'static>, args: &Args) -> i32 {
    stack.wait_config_up().await;
    let mut socket = socket(stack);
    let server = IpEndpoint::new(IpAddress::Ipv4(*args.connect.ip()), args.connect.port());
    if let Err(e) = socket.connect(server).await {
        say(&format!("FAILED: connect: {e:?}"));
        return 1;
    }
    let mut conn = AsyncConnection::new(&mut socket, VecBuffer::new(args.max_message));
    let result = if args.sizes.is_empty() {
        send_lines(&mut conn, &args.line).await
    } else {
        send_sizes(&mut conn, &args.sizes).await
    };
    drop(conn);
    close(&mut socket).await;
    match result {
        Ok(()) => {
            say("CLOSED");
            0
        }
        Err(why) => {
            say(&format!("FAILED: {why}"));
            1
        }
    }
}

type ClientConn<'a, 's> = AsyncConnection<&'a mut TcpSocket<'s>, VecBuffer>;

/// A send that was not written whole, as text.
fn sent(result: Result<Sent, TransmitError<embassy_net::tcp::Error>>) -> Result<(), String> {
    match result {
        Ok(Sent::Written) => Ok(()),
        Ok(Sent::Rejected { len }) => Err(format!("the peer rejected {len} bytes (too large)")),
        Err(e) => Err(e.to_string()),
    }
}

/// Why a received message was not delivered.
fn not_delivered<M>(received: &Received<M>) -> String {
    match received {
        Received::Message(_) => "delivered".into(),
        Received::Refused { len, limit } => {
            format!("refused a message of {len} bytes (limit {limit})")
        }
        Received::Discarded(e) => format!("a plugin discarded a message: {e}"),
    }
}

async fn send_lines(conn: &mut ClientConn<'_, '_>, lines: &[String]) -> Result<(), String> {
    for line in lines {
        sent(conn.transmit(line.as_bytes()).await)?;
        if line == "QUIT" || line == "SRVQUIT" {
            break;
        }
        let reply = receive_reply(conn).await?;
        say(&format!(
            "Response from server: {}",
            String::from_utf8_lossy(reply)
        ));
    }
    Ok(())
}

/// Waits for the reply to a line.
async fn receive_reply<'c>(conn: &'c mut ClientConn<'_, '_>) -> Result<&'c [u8], String> {
    match with_timeout(REPLY_WAIT, conn.receive()).await {
        Ok(Ok(Received::Message(reply))) => Ok(reply),
        Ok(Ok(other)) => Err(not_delivered(&other)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no reply in time".into()),
    }
}

async fn send_sizes(conn: &mut ClientConn<'_, '_>, sizes: &[usize]) -> Result<(), String> {
    let mut rng = tinyproto_testkit::Rng(0x9e37_79b9_7f4a_7c15);
    for (i, &size) in sizes.iter().enumerate() {
        let msg = rng.bytes(size);
        sent(conn.transmit(&msg).await).map_err(|e| format!("message {i}: {e}"))?;
        let reply = match with_timeout(REPLY_WAIT, conn.receive()).await {
            Ok(Ok(Received::Message(reply))) => reply,
            // A refused reply leaves the connection usable: say so, and go on.
            Ok(Ok(other)) => {
                say(&format!(
                    "REFUSED reply to message {i}: {}",
                    not_delivered(&other)
                ));
                continue;
            }
            Ok(Err(e)) => return Err(format!("reply to message {i}: {e}")),
            Err(_) => return Err(format!("no reply to message {i} in time")),
        };
        if reply.strip_prefix(b"Echo back: ") != Some(&msg[..]) {
            return Err(format!(
                "wrong reply to message {i} ({} bytes)",
                reply.len()
            ));
        }
    }
    say(&format!("OK {}", sizes.len()));
    Ok(())
}
