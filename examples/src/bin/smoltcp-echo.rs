//! The seed README's echo server on a smoltcp stack over a Linux TAP device: what firmware
//! runs, on a host, so that a Python tinyproto client can talk to it.
//!
//! Replies b"Echo back: " + message; `QUIT` closes that connection; `SRVQUIT` stops the server.
//! Prints `LISTENING <port>` once it listens, one line per connection opened and closed, and
//! `SERVER STOPPED` at the end. Up to 4 connections at once; a fifth peer is answered `0xfe`
//! (connection limit) and closed.
//!
//! ```text
//! # as root, inside a network namespace of your own:
//! ip netns add tp-demo
//! ip -n tp-demo tuntap add dev tap0 mode tap
//! ip -n tp-demo link set tap0 up
//! ip -n tp-demo addr add 192.168.69.100/24 dev tap0
//! ip netns exec tp-demo cargo run -p tinyproto-examples --bin smoltcp-echo -- --tap tap0
//! ip netns exec tp-demo target/py/venv-3.0/bin/python examples/python/echo_client.py \
//!     --host 192.168.69.1 --port 9123
//! ip netns delete tp-demo
//! ```
//!
//! The loop is the one firmware runs: `Interface::poll`, then `Server::poll`, then sleep
//! until either needs a poll or a frame arrives. Message buffers are caller-provided slices
//! (firmware would place them in static memory); nothing else is allocated per connection.
#![forbid(unsafe_code)]

use std::os::unix::io::AsRawFd;
use std::process::ExitCode;

use clap::Parser;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpCidr, IpEndpoint};
use tinyproto_smoltcp::tinyproto_core::buffer::SliceBuffer;
use tinyproto_smoltcp::tinyproto_core::connection::Timeouts;
use tinyproto_smoltcp::{
    Config, Conn, ConnId, Control, Handler, Server, ServerHooks, Shutdown, Slot,
};

/// Connections served at once (the connection limit).
const CONNECTIONS: usize = 4;

#[derive(Parser)]
#[command(about = "tinyproto echo server on smoltcp over a TAP device")]
struct Args {
    /// TAP device to open (it must exist and be up; it is checked, never created).
    #[arg(long, default_value = "tap0")]
    tap: String,
    /// Address of the smoltcp interface, with its prefix.
    #[arg(long, default_value = "192.168.69.1/24", value_parser = parse_cidr)]
    ip: IpCidr,
    /// TCP port to listen on.
    #[arg(long, default_value_t = 9123)]
    port: u16,
    /// Largest message accepted, in bytes (a larger one is answered 0x00 and skipped).
    #[arg(long, default_value_t = 65536)]
    max_message: usize,
    /// Stop after this many seconds even without SRVQUIT (0: never).
    #[arg(long, default_value_t = 0)]
    run_for: u64,
}

fn parse_cidr(s: &str) -> Result<IpCidr, String> {
    s.parse()
        .map_err(|()| format!("`{s}` is not an address with a prefix (like 192.168.69.1/24)"))
}

/// The seed README's echo server.
struct Echo {
    reply: Vec<u8>,
    quit: bool,
}

impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        match conn.message() {
            b"QUIT" => conn.shutdown(),
            b"SRVQUIT" => self.quit = true,
            msg => {
                self.reply.clear();
                self.reply.extend_from_slice(b"Echo back: ");
                self.reply.extend_from_slice(msg);
                if let Err(e) = conn.transmit(&self.reply) {
                    say(&format!("Cannot reply on {}: {e}", conn.id()));
                }
            }
        }
    }
}

impl ServerHooks for Echo {
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.quit {
            ctl.stop();
        }
    }

    fn conn_init(&mut self, conn: &mut Conn<'_>) {
        say(&format!(
            "Connection opened from: {}",
            endpoint(conn.remote_endpoint())
        ));
    }

    fn conn_shutdown(&mut self, id: ConnId, why: &Shutdown) {
        say(&format!("Connection closed: {id} ({why})"));
    }

    fn conn_refused(&mut self, remote: IpEndpoint) {
        say(&format!("Connection refused (limit reached): {remote}"));
    }
}

fn endpoint(e: Option<IpEndpoint>) -> String {
    e.map_or_else(|| "?".to_owned(), |e| e.to_string())
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn tcp_socket(size: usize) -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; size]),
        tcp::SocketBuffer::new(vec![0; size]),
    )
}

/// Checks that `name` is a TAP device that exists and is up: opening a missing one would
/// create it, down, and the server would listen where nothing can reach it.
fn check_tap(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(format!("`{name}` is not a network device name"));
    }
    let dev = std::path::Path::new("/sys/class/net").join(name);
    if !dev.exists() {
        return Err(format!(
            "TAP device {name} does not exist (create it: ip tuntap add dev {name} mode tap; ip link set {name} up)"
        ));
    }
    if !dev.join("tun_flags").exists() {
        return Err(format!("{name} is not a TAP device"));
    }
    let flags = std::fs::read_to_string(dev.join("flags"))
        .map_err(|e| format!("cannot read the flags of {name}: {e}"))?;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
        .map_err(|_| format!("unreadable flags of {name}: {flags:?}"))?;
    const IFF_UP: u32 = 0x1;
    if flags & IFF_UP == 0 {
        return Err(format!(
            "TAP device {name} is down (bring it up: ip link set {name} up)"
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(why) = check_tap(&args.tap) {
        eprintln!("smoltcp-echo: {why}");
        return ExitCode::FAILURE;
    }
    let mut device = match TunTapInterface::new(&args.tap, Medium::Ethernet) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("cannot open TAP device {}: {e}", args.tap);
            return ExitCode::FAILURE;
        }
    };
    let fd = device.as_raw_fd();
    let hw = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]).into();
    let mut config = IfaceConfig::new(hw);
    config.random_seed = u64::from(std::process::id());
    let mut iface = Interface::new(config, &mut device, Instant::now());
    iface.update_ip_addrs(|addrs| addrs.push(args.ip).expect("one address"));

    let mut sockets = SocketSet::new(vec![]);
    let handles: [SocketHandle; CONNECTIONS] =
        std::array::from_fn(|_| sockets.add(tcp_socket(64 * 1024)));
    let limit_socket = sockets.add(tcp_socket(64));

    // Caller-provided message memory: receive limit `max_message`, replies 11 bytes longer.
    let capacity = args.max_message;
    let slots = handles.map(|handle| {
        let rx = Box::leak(vec![0u8; capacity].into_boxed_slice());
        let tx = Box::leak(vec![0u8; capacity + 11].into_boxed_slice());
        // The receive limit is rx.len(); the buffers may be of different types.
        Slot::new(handle, SliceBuffer::new(rx), SliceBuffer::new(tx), ())
    });
    let timeouts = Timeouts::new()
        .handshake(10_000)
        .stall(30_000)
        .status(30_000);
    let config = Config::new()
        .timeouts(timeouts)
        .tcp_timeout(Some(Duration::from_secs(60)))
        .keep_alive(Some(Duration::from_secs(20)));
    let mut server = match Server::new(args.port, slots, config) {
        Ok(server) => server.with_limit_socket(limit_socket),
        Err(e) => {
            eprintln!("cannot listen on port {}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let mut echo = Echo {
        reply: Vec::with_capacity(capacity + 11),
        quit: false,
    };

    let stop_at = (args.run_for > 0).then(|| Instant::now() + Duration::from_secs(args.run_for));
    let mut announced = false;
    loop {
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);
        let status = server.poll(now, &mut sockets, &mut echo);
        if !announced {
            // The sockets listen from the first poll on.
            say(&format!("LISTENING {}", args.port));
            announced = true;
        }
        if status.is_stopped() {
            break;
        }
        if stop_at.is_some_and(|at| now >= at) {
            server.control().stop();
        }
        // The wait ends at the --run-for deadline too, traffic or not.
        let until_stop = stop_at.map(|at| if at > now { at - now } else { Duration::ZERO });
        let delay = [
            iface.poll_delay(now, &sockets),
            status.poll_delay(now),
            until_stop,
        ]
        .into_iter()
        .flatten()
        .min();
        if let Err(e) = phy::wait(fd, delay) {
            eprintln!("wait on {}: {e}", args.tap);
            return ExitCode::FAILURE;
        }
    }
    // Let the last FINs and ACKs go out before the device closes.
    let end = Instant::now() + Duration::from_millis(200);
    while Instant::now() < end {
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);
        let _ = phy::wait(fd, Some(Duration::from_millis(20)));
    }
    say("SERVER STOPPED");
    ExitCode::SUCCESS
}
