//! Real traffic: this crate's server and client on a smoltcp stack over a TAP device, against
//! the Python package (2.0.1 and 3.0, both roles) on the kernel's TCP stack.
//!
//! Each test creates its own network namespace (deleted on drop, even on failure), puts a TAP
//! device in it with the kernel at 192.168.69.100/24 and smoltcp at 192.168.69.1, and runs
//! both sides inside it: no address outside the namespace is used. The smoltcp side is this
//! test binary run again inside the namespace (`ip netns exec`), in the `smoltcp_side` test,
//! which does nothing unless `TP_SMOLTCP_ROLE` is set.
//!
//! Where a namespace cannot be created (not root, no iproute2) the tests say so loudly and
//! end; under CI they fail.

use std::io::Write as _;
use std::os::unix::io::AsRawFd;
use std::time::Duration as StdDuration;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::phy::{self, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use tinyproto_smoltcp::tinyproto_core::buffer::{Buffer, SliceBuffer};
use tinyproto_smoltcp::tinyproto_core::connection::Timeouts;
use tinyproto_smoltcp::tinyproto_core::plugin::{Plugin, PluginError, Plugins};
use tinyproto_smoltcp::{
    Client, ClientHooks, Config, Conn, Control, Handler, Server, ServerHooks, Shutdown, Slot,
};
use tinyproto_testkit::{per_python_version, NetNs, Peer, PyVersion, TAP};

// The testkit's TAP_KERNEL_IP and TAP_STACK_IP, as smoltcp addresses.
const KERNEL_IP: IpAddress = IpAddress::v4(192, 168, 69, 100);
const SMOLTCP_IP: IpAddress = IpAddress::v4(192, 168, 69, 1);
const SMOLTCP_PORT: u16 = 7000;
/// Largest message the smoltcp side accepts; replies add 11 bytes ("Echo back: ").
const CAPACITY: usize = 80 * 1024;
/// Binary messages exchanged, up to above 64 KiB (one smoltcp socket buffer).
const SIZES: &str = "0,1,5,100,1460,3000,65536,70000";
/// Upper bound for either side of one test.
const LIMIT: StdDuration = StdDuration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// The parent side: namespace, Python peer, and this binary run again as the smoltcp side.

/// This test binary, inside `ns`, playing `role` on the smoltcp stack.
fn spawn_smoltcp_side(ns: &NetNs, role: &str, port: u16) -> Peer {
    spawn_smoltcp_side_with(ns, role, port, &[])
}

fn spawn_smoltcp_side_with(ns: &NetNs, role: &str, port: u16, env: &[(&str, &str)]) -> Peer {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = ns.command(exe);
    command
        .args(["--exact", "smoltcp_side", "--nocapture", "--test-threads=1"])
        .env("TP_SMOLTCP_ROLE", role)
        .env("TP_SMOLTCP_PORT", port.to_string())
        .env("TP_SMOLTCP_SIZES", SIZES)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null());
    Peer::spawn(command)
}

fn python_client_talks_to_smoltcp_server(version: PyVersion) {
    let Some(ns) = NetNs::with_tap_or_skip(&format!("srv{}", version.as_str().replace('.', "")))
    else {
        return;
    };
    let mut server = spawn_smoltcp_side(&ns, "server", SMOLTCP_PORT);
    server.expect_line("LISTENING ", LIMIT, "smoltcp server");
    let port = SMOLTCP_PORT.to_string();
    let host = "192.168.69.1";

    // Binary messages of many sizes, each answered "Echo back: " + message.
    let mut client = ns.python(
        version,
        "echo_client.py",
        &[
            "--host", host, "--port", &port, "--sizes", SIZES, "--seed", "5",
        ],
    );
    let line = client.wait_for_line(
        |l| l.starts_with("OK ") || l.contains("MISMATCH") || l.contains("NO REPLY"),
        LIMIT,
    );
    let count = SIZES.split(',').count();
    assert_eq!(
        line,
        Some(format!("OK {count}")),
        "Python {} client",
        version.as_str()
    );
    server.expect_line("CLOSED ", LIMIT, "the Python client's close");

    // The seed README's session: a line, QUIT (closes that connection), then SRVQUIT.
    for (input, want) in [
        (
            "hello\nQUIT\n",
            Some("Response from server: Echo back: hello"),
        ),
        ("SRVQUIT\n", None),
    ] {
        let mut command = ns.command(version.python());
        command
            .args(["-u", "echo_client.py", "--host", host, "--port", &port])
            .current_dir(tinyproto_testkit::python_examples())
            .stdin(std::process::Stdio::piped());
        let mut client = Peer::spawn(command);
        let mut stdin = client.child_mut().stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        if let Some(want) = want {
            assert_eq!(client.next_line(LIMIT).as_deref(), Some(want));
        }
        assert_eq!(client.wait_exit(LIMIT), Some(0), "Python client exits");
        server.expect_line("CLOSED ", LIMIT, "a closed connection");
    }
    server.expect_line("STOPPED", LIMIT, "SRVQUIT stops the smoltcp server");
    assert_eq!(server.wait_exit(LIMIT), Some(0));
}

fn smoltcp_client_talks_to_python_server(version: PyVersion) {
    let Some(ns) = NetNs::with_tap_or_skip(&format!("cli{}", version.as_str().replace('.', "")))
    else {
        return;
    };
    let mut server = ns.python(
        version,
        "echo_server.py",
        &["--host", "192.168.69.100", "--port", "0"],
    );
    let line = server.expect_line("LISTENING ", LIMIT, "Python server");
    let port: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut client = spawn_smoltcp_side(&ns, "client", port);
    let line = client.wait_for_line(|l| l.starts_with("OK ") || l.starts_with("FAILED"), LIMIT);
    let count = SIZES.split(',').count();
    assert_eq!(
        line,
        Some(format!("OK {count}")),
        "against Python {}",
        version.as_str()
    );
    assert_eq!(client.wait_exit(LIMIT), Some(0));
}

/// The smoltcp client with the `xor5a` plugin against a Python server with the same plugin:
/// the bytes on the wire are transformed, the messages are not.
fn smoltcp_client_with_plugin_talks_to_python_server(version: PyVersion) {
    let Some(ns) = NetNs::with_tap_or_skip(&format!("xor{}", version.as_str().replace('.', "")))
    else {
        return;
    };
    let mut server = ns.python(
        version,
        "echo_server.py",
        &[
            "--host",
            "192.168.69.100",
            "--port",
            "0",
            "--plugin",
            "xor5a",
        ],
    );
    let line = server.expect_line("LISTENING ", LIMIT, "Python server");
    let port: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut client = spawn_smoltcp_side_with(&ns, "client", port, &[("TP_SMOLTCP_XOR", "90")]);
    let line = client.wait_for_line(|l| l.starts_with("OK ") || l.starts_with("FAILED"), LIMIT);
    let count = SIZES.split(',').count();
    assert_eq!(
        line,
        Some(format!("OK {count}")),
        "xor5a against Python {}",
        version.as_str()
    );
    assert_eq!(client.wait_exit(LIMIT), Some(0));
}

per_python_version!(smoltcp_client_with_plugin_talks_to_python_server: smoltcp_client_with_xor_plugin_talks_to_python_2_0_1_server, smoltcp_client_with_xor_plugin_talks_to_python_3_0_server);

/// A Python 2.0.1 server at its connection limit sends zero bytes (quirk Q1): the smoltcp
/// client reports `InitRefused` and frees its socket. (3.0 at its limit crashes instead.)
#[test]
fn python_2_0_1_server_at_its_limit_is_init_refused() {
    let Some(ns) = NetNs::with_tap_or_skip("lim201") else {
        return;
    };
    let mut server = ns.python(
        PyVersion::V2_0_1,
        "echo_server.py",
        &["--host", "192.168.69.100", "--port", "0", "--limit", "1"],
    );
    let line = server.expect_line("LISTENING ", LIMIT, "Python server");
    let port: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut client = spawn_smoltcp_side(&ns, "client-limit", port);
    let line = client.wait_for_line(
        |l| l.starts_with("REFUSED") || l.starts_with("FAILED"),
        LIMIT,
    );
    assert_eq!(line.as_deref(), Some("REFUSED InitRefused, socket free"));
    assert_eq!(client.wait_exit(LIMIT), Some(0));
}

per_python_version!(python_client_talks_to_smoltcp_server: python_2_0_1_client_talks_to_smoltcp_server, python_3_0_client_talks_to_smoltcp_server);

per_python_version!(smoltcp_client_talks_to_python_server: smoltcp_client_talks_to_python_2_0_1_server, smoltcp_client_talks_to_python_3_0_server);

// ---------------------------------------------------------------------------------------------
// The smoltcp side, run inside the namespace.

/// Does nothing in a normal run; inside the namespace (with `TP_SMOLTCP_ROLE` set) it is the
/// smoltcp side of one of the tests above, and exits the process with its result.
#[test]
fn smoltcp_side() {
    let Ok(role) = std::env::var("TP_SMOLTCP_ROLE") else {
        return;
    };
    let port: u16 = std::env::var("TP_SMOLTCP_PORT").unwrap().parse().unwrap();
    let sizes: Vec<usize> = std::env::var("TP_SMOLTCP_SIZES")
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    // End the harness's "test smoltcp_side ... " so that our lines start at a line start.
    say("");
    let code = match role.as_str() {
        "server" => run_server(port),
        "client" => run_client(port, &sizes),
        "client-limit" => run_client_at_limit(port),
        other => panic!("unknown role {other}"),
    };
    std::process::exit(code);
}

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().unwrap();
}

struct Stack {
    device: TunTapInterface,
    iface: Interface,
    sockets: SocketSet<'static>,
}

impl Stack {
    fn new() -> Stack {
        let mut device = TunTapInterface::new(TAP, Medium::Ethernet).expect("open the TAP");
        let hw = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]).into();
        let mut config = IfaceConfig::new(hw);
        config.random_seed = u64::from(std::process::id());
        let mut iface = Interface::new(config, &mut device, Instant::now());
        iface.update_ip_addrs(|a| a.push(IpCidr::new(SMOLTCP_IP, 24)).unwrap());
        Stack {
            device,
            iface,
            sockets: SocketSet::new(vec![]),
        }
    }

    fn socket(&mut self) -> smoltcp::iface::SocketHandle {
        self.sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        ))
    }

    /// Polls the interface, then `endpoint`, until it reports a stop or the time limit.
    fn run(
        &mut self,
        mut endpoint: impl FnMut(&mut Self, Instant) -> tinyproto_smoltcp::Status,
    ) -> bool {
        let start = std::time::Instant::now();
        let fd = self.device.as_raw_fd();
        while start.elapsed() < LIMIT {
            let now = Instant::now();
            self.iface.poll(now, &mut self.device, &mut self.sockets);
            let status = endpoint(self, now);
            if status.is_stopped() {
                return true;
            }
            let delay = [
                self.iface.poll_delay(now, &self.sockets),
                status.poll_delay(now),
                Some(Duration::from_millis(100)),
            ]
            .into_iter()
            .flatten()
            .min();
            phy::wait(fd, delay).expect("wait on the TAP");
        }
        false
    }
}

/// Leaked buffers: the test side has a heap; firmware would use static memory.
fn slot(handle: smoltcp::iface::SocketHandle) -> Slot<SliceBuffer<'static>> {
    slot_with(handle, ())
}

fn slot_with<P: Plugins>(
    handle: smoltcp::iface::SocketHandle,
    plugins: P,
) -> Slot<SliceBuffer<'static>, SliceBuffer<'static>, P> {
    let buffer = || SliceBuffer::new(Box::leak(vec![0u8; CAPACITY + 16].into_boxed_slice()));
    Slot::new(handle, buffer(), buffer(), plugins)
}

/// XORs every byte with a key: the Python examples' `xor5a` plugin with key 0x5a.
struct Xor(u8);

impl Plugin for Xor {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        msg.as_mut_slice().iter_mut().for_each(|b| *b ^= self.0);
        Ok(())
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.on_transmit(msg)
    }
}

fn config() -> Config {
    Config::new()
        .timeouts(
            Timeouts::new()
                .handshake(10_000)
                .status(10_000)
                .stall(20_000),
        )
        .tcp_timeout(Some(Duration::from_secs(20)))
}

/// The seed README's echo server, printing one line per event.
struct EchoServer {
    scratch: Vec<u8>,
    quit: bool,
}

impl Handler for EchoServer {
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        match conn.message() {
            b"QUIT" => conn.shutdown(),
            b"SRVQUIT" => self.quit = true,
            msg => {
                self.scratch.clear();
                self.scratch.extend_from_slice(b"Echo back: ");
                self.scratch.extend_from_slice(msg);
                conn.transmit(&self.scratch).unwrap();
            }
        }
    }
}

impl ServerHooks for EchoServer {
    fn pre_loop(&mut self, _: &mut Control<'_>) {
        say(&format!("LISTENING {SMOLTCP_PORT}"));
    }
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.quit {
            ctl.stop();
        }
    }
    fn post_loop(&mut self) {
        say("STOPPED");
    }
    fn conn_shutdown(&mut self, id: tinyproto_smoltcp::ConnId, why: &Shutdown) {
        say(&format!("CLOSED {id} {why}"));
    }
}

fn run_server(port: u16) -> i32 {
    let mut stack = Stack::new();
    let handles = [stack.socket(), stack.socket()];
    let mut server = Server::new(port, handles.map(slot), config()).unwrap();
    let mut echo = EchoServer {
        scratch: Vec::new(),
        quit: false,
    };
    if stack.run(|s, now| server.poll(now, &mut s.sockets, &mut echo)) {
        0
    } else {
        say("FAILED: time limit");
        1
    }
}

/// Sends seeded random messages of the given sizes one by one and checks every reply.
struct Checker {
    messages: Vec<Vec<u8>>,
    next: usize,
    result: Option<Result<usize, String>>,
}

impl Checker {
    fn send_next(&mut self, conn: &mut Conn<'_>) {
        match self.messages.get(self.next) {
            Some(msg) => conn.transmit(msg).unwrap(),
            None => {
                self.result = Some(Ok(self.next));
                conn.shutdown();
            }
        }
    }
}

impl Handler for Checker {
    fn pre_loop(&mut self, conn: &mut Conn<'_>) {
        self.send_next(conn);
    }
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        let mut want = b"Echo back: ".to_vec();
        want.extend_from_slice(&self.messages[self.next]);
        if conn.message() != want {
            self.result = Some(Err(format!("wrong reply to message {}", self.next)));
            conn.shutdown();
            return;
        }
        self.next += 1;
        self.send_next(conn);
    }
}

impl ClientHooks for Checker {
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.result.is_some() {
            ctl.stop();
        }
    }
    fn conn_shutdown(&mut self, _: tinyproto_smoltcp::ConnId, why: &Shutdown) {
        if self.result.is_none() {
            self.result = Some(Err(format!("connection ended: {why}")));
        }
    }
}

fn run_client(port: u16, sizes: &[usize]) -> i32 {
    let mut stack = Stack::new();
    let handles = [stack.socket()];
    let key: u8 = std::env::var("TP_SMOLTCP_XOR").map_or(0, |k| k.parse().unwrap());
    let mut client = Client::new(handles.map(|h| slot_with(h, (Xor(key),))), config());
    let mut rng = tinyproto_testkit::Rng(0x9e37_79b9_7f4a_7c15);
    let messages = sizes.iter().map(|&n| rng.bytes(n)).collect();
    let mut checker = Checker {
        messages,
        next: 0,
        result: None,
    };
    let cx = stack.iface.context();
    client
        .connect(cx, &mut stack.sockets, (KERNEL_IP, port), Instant::now())
        .unwrap();
    let finished = stack.run(|s, now| client.poll(now, &mut s.sockets, &mut checker));
    match (finished, checker.result) {
        (true, Some(Ok(n))) => {
            say(&format!("OK {n}"));
            0
        }
        (_, Some(Err(why))) => {
            say(&format!("FAILED: {why}"));
            1
        }
        _ => {
            say("FAILED: time limit");
            1
        }
    }
}

/// Records the life of the client connections of `run_client_at_limit`.
#[derive(Default)]
struct LimitProbe {
    first_up: bool,
    second: Option<Shutdown>,
}

impl Handler for LimitProbe {
    fn pre_loop(&mut self, _: &mut Conn<'_>) {
        self.first_up = true;
    }
}

impl ClientHooks for LimitProbe {
    fn conn_shutdown(&mut self, _: tinyproto_smoltcp::ConnId, why: &Shutdown) {
        if self.first_up && self.second.is_none() {
            self.second = Some(why.clone());
        }
    }
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.second.is_some() {
            ctl.stop();
        }
    }
}

/// Connects once (which takes the server's only place), then again, and reports how the
/// second connection ended.
fn run_client_at_limit(port: u16) -> i32 {
    use tinyproto_smoltcp::tinyproto_core::session::ProtocolError;
    use tinyproto_smoltcp::Error;
    let mut stack = Stack::new();
    let handles = [stack.socket(), stack.socket()];
    let mut client = Client::new(handles.map(slot), config());
    let mut probe = LimitProbe::default();
    let cx = stack.iface.context();
    client
        .connect(cx, &mut stack.sockets, (KERNEL_IP, port), Instant::now())
        .unwrap();
    let mut second = false;
    let finished = stack.run(|s, now| {
        if probe.first_up && !second {
            second = true;
            let cx = s.iface.context();
            client
                .connect(cx, &mut s.sockets, (KERNEL_IP, port), now)
                .unwrap();
        }
        client.poll(now, &mut s.sockets, &mut probe)
    });
    match probe.second {
        Some(Shutdown::Failed(Error::Protocol(ProtocolError::InitRefused))) if finished => {
            let free = stack.sockets.iter().all(|(_, s)| {
                !<tcp::Socket as smoltcp::socket::AnySocket>::downcast(s)
                    .unwrap()
                    .is_open()
            });
            say(&format!(
                "REFUSED InitRefused, socket {}",
                if free { "free" } else { "LEAKED" }
            ));
            0
        }
        other => {
            say(&format!("FAILED: second connection ended with {other:?}"));
            1
        }
    }
}
