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
//! The server is `tinyproto-embassy`'s: a pool of sockets (two more than the limit) each
//! looping on `Server::accept`, the limit answered `0xfe` on the core's refusal machine. A
//! message that stops arriving for 10 s ends its connection (the stall limit), and so does a
//! peer that does not answer our header within 10 s (the status limit); between messages
//! there is no limit, as in Python. TCP's own timeout bounds a peer that stops
//! acknowledging. `--plugin xor5a` / `--plugin bang` put the Python peers' test plugins on
//! every connection (in the order given), as the Python examples' `--plugin` does.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use embassy_executor::{Executor, Spawner};
use embassy_net::tcp::TcpSocket;
use embassy_net::StaticConfigV4;
use embassy_net::{Config, IpAddress, IpEndpoint, Ipv4Cidr, Runner, Stack, StackResources};
use embassy_net_tuntap::TunTapDevice;
use embassy_time::{with_timeout, Duration, Timer};
use tinyproto_conformance::plugins::{chain, Chain};
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::{Error, Received, Sent, TransmitError};
use tinyproto_embassy::{connect, Accepted, Server};

/// A message that stops arriving for this long (or a missing init byte, or a missing status
/// byte) ends its connection.
const STALL: Duration = Duration::from_secs(10);
/// How long the client waits for a reply.
const REPLY_WAIT: Duration = Duration::from_secs(30);
/// A peer that acknowledges nothing we send for this long is dropped (TCP's own timeout).
const TCP_TIMEOUT: Duration = Duration::from_secs(20);
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
    /// A plugin on every connection (repeatable, in order): the Python peers' `xor5a`, `bang`.
    #[arg(long = "plugin", value_parser = ["xor5a", "bang"])]
    plugins: Vec<String>,
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

/// The limits of every connection, server's and client's.
fn limits() -> tinyproto_embassy::Config {
    tinyproto_embassy::Config::new()
        .handshake(STALL)
        .status(Some(STALL))
        .stall(Some(STALL))
}

/// The plugin chain of one connection, from `--plugin` (names checked by clap).
fn plugins(args: &Args) -> Chain {
    chain(&args.plugins).unwrap_or_default()
}

/// Starts the pool: two sockets more than the connection limit, each in a task that accepts
/// peers on the one server, which serves up to `--connections` of them and answers the others
/// `0xfe`. The spare sockets keep one listening while others close, so a peer is never turned
/// away with a reset.
fn serve(spawner: Spawner, stack: Stack<'static>, args: &'static Args) {
    let server = forever(Server::new(args.port, args.connections, limits()));
    for id in 0..args.connections + SPARE_SOCKETS {
        let socket = forever(socket(stack));
        spawner.spawn(echo_worker(id, socket, server, args).expect("pool of MAX + SPARE"));
    }
    say(&format!("LISTENING {}", args.port));
}

/// One socket of the pool: accepts a peer, echoes until it ends (or the server refuses it at
/// the limit), closes, and accepts again.
#[embassy_executor::task(pool_size = MAX_CONNECTIONS + SPARE_SOCKETS)]
async fn echo_worker(
    id: usize,
    socket: &'static mut TcpSocket<'static>,
    server: &'static Server,
    args: &'static Args,
) {
    let mut reply = Vec::new();
    loop {
        let buf = VecBuffer::new(args.max_message);
        let mut conn = match server.accept(socket, buf, plugins(args)).await {
            Ok(Accepted::Connection(conn)) => conn,
            Ok(Accepted::Refused(refused)) => {
                say(&format!(
                    "Connection refused (limit reached): {}",
                    endpoint(refused.remote)
                ));
                continue;
            }
            Err(e) => {
                say(&format!("accept failed: {e}"));
                continue;
            }
        };
        say(&format!(
            "Connection opened from: {}",
            endpoint(conn.remote())
        ));
        let end = echo(&mut conn, &mut reply).await;
        say(&format!("CLOSED {id} {end}"));
        conn.close().await;
        if end == End::ServerQuit {
            say("STOPPED");
            std::process::exit(0);
        }
    }
}

fn endpoint(remote: Option<IpEndpoint>) -> String {
    remote.map_or("?".into(), |e| e.to_string())
}

/// How a connection of the echo server ended.
#[derive(Debug, PartialEq)]
enum End {
    Quit,
    ServerQuit,
    Failed(Error<embassy_net::tcp::Error>),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Quit => f.write_str("QUIT"),
            End::ServerQuit => f.write_str("SRVQUIT"),
            End::Failed(Error::Closed) => f.write_str("peer closed"),
            End::Failed(Error::Timeout { phase }) => write!(f, "peer stalled during {phase}"),
            End::Failed(e) => write!(f, "{e}"),
        }
    }
}

type EchoConn<'s> = tinyproto_embassy::Conn<'s, &'s mut TcpSocket<'static>, VecBuffer, Chain>;

/// The echo loop of one connection: a message refused (above `--max-message`) or discarded
/// by a plugin is logged and the next one awaited.
async fn echo(conn: &mut EchoConn<'_>, reply: &mut Vec<u8>) -> End {
    loop {
        match conn.receive().await {
            Ok(Received::Message(b"QUIT")) => return End::Quit,
            Ok(Received::Message(b"SRVQUIT")) => return End::ServerQuit,
            Ok(Received::Message(msg)) => {
                reply.clear();
                reply.extend_from_slice(b"Echo back: ");
                reply.extend_from_slice(msg);
            }
            Ok(other) => {
                say(&format!("not delivered: {}", not_delivered(&other)));
                continue;
            }
            Err(e) => return End::Failed(e),
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
    let buf = VecBuffer::new(args.max_message);
    let mut conn = match connect(&mut socket, server, buf, plugins(args), limits()).await {
        Ok(conn) => conn,
        Err(e) => {
            say(&format!("FAILED: {e}"));
            return 1;
        }
    };
    let result = if args.sizes.is_empty() {
        send_lines(&mut conn, &args.line).await
    } else {
        send_sizes(&mut conn, &args.sizes).await
    };
    conn.close().await;
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

type ClientConn<'s> =
    tinyproto_embassy::Conn<'static, &'s mut TcpSocket<'static>, VecBuffer, Chain>;

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

async fn send_lines(conn: &mut ClientConn<'_>, lines: &[String]) -> Result<(), String> {
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
async fn receive_reply<'c>(conn: &'c mut ClientConn<'_>) -> Result<&'c [u8], String> {
    match with_timeout(REPLY_WAIT, conn.receive()).await {
        Ok(Ok(Received::Message(reply))) => Ok(reply),
        Ok(Ok(other)) => Err(not_delivered(&other)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no reply in time".into()),
    }
}

async fn send_sizes(conn: &mut ClientConn<'_>, sizes: &[usize]) -> Result<(), String> {
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
