//! Real traffic: the `embassy-echo` example (tinyproto-embassy, on the core's async driver, over
//! a TAP device) against the Python package (2.0.1 and 3.0, both roles) on the kernel's TCP
//! stack, and the conformance runner against its server.
//!
//! Each test creates its own network namespace (deleted on drop, even on failure), puts a TAP
//! device in it with the kernel at 192.168.69.100/24 and embassy-net at 192.168.69.1, and runs
//! both sides inside it: no address outside the namespace is used. Where a namespace cannot be
//! created (not root, no iproute2) the tests say so loudly and end; under CI they fail.

use std::io::Write as _;
use std::process::{ChildStdin, Stdio};
use std::time::Duration;

use tinyproto_testkit::TAP_STACK_IP as EMBASSY_IP;
use tinyproto_testkit::{
    per_python_version, NetNs, Peer, PyVersion, TAP, TAP_KERNEL_IP as KERNEL_IP,
};

const PORT: &str = "9123";
/// 0 B, 1 B, 70,000 B (above one 64 KiB socket buffer) and 5 MiB.
const SIZES: &str = "0,1,70000,5242880";
/// Upper bound for either side of one step.
const LIMIT: Duration = Duration::from_secs(120);

fn namespace(tag: &str) -> Option<NetNs> {
    NetNs::with_tap_or_skip(tag)
}

/// The example inside `ns` with `args`.
fn embassy(ns: &NetNs, args: &[&str]) -> Peer {
    let mut command = ns.command(env!("CARGO_BIN_EXE_embassy-echo"));
    command
        .args(["--tap", TAP, "--ip", &format!("{EMBASSY_IP}/24")])
        .args(args)
        .stdin(Stdio::null());
    Peer::spawn(command)
}

fn expect_line(peer: &mut Peer, prefix: &str, what: &str) -> String {
    peer.expect_line(prefix, LIMIT, what)
}

/// `raw_peer.py` in `role` (a server) inside `ns`, listening on the kernel's side; with the
/// address to connect to.
fn raw_server(ns: &NetNs, role: &str) -> (Peer, String) {
    let mut server = ns.python(
        PyVersion::V3_0,
        "raw_peer.py",
        &["--role", role, "--host", KERNEL_IP, "--port", "0"],
    );
    let line = expect_line(&mut server, "LISTENING ", "raw server");
    let port = line.split_whitespace().nth(1).expect("LISTENING <port>");
    let connect = format!("{KERNEL_IP}:{port}");
    (server, connect)
}

fn tag(what: &str, version: PyVersion) -> String {
    format!("{what}{}", version.as_str().replace('.', ""))
}

/// The Python echo client with `extra` arguments sends messages of every size ([`SIZES`]) to
/// the embassy server and checks each reply.
fn python_sizes_client(ns: &NetNs, version: PyVersion, extra: &[&str]) {
    let mut args = vec!["--host", EMBASSY_IP, "--port", PORT, "--sizes", SIZES];
    args.extend_from_slice(extra);
    let mut client = ns.python(version, "echo_client.py", &args);
    let line = client.wait_for_line(
        |l| l.starts_with("OK ") || l.contains("MISMATCH") || l.contains("NO REPLY"),
        LIMIT,
    );
    let version = version.as_str();
    assert_eq!(line.as_deref(), Some("OK 4"), "Python {version} client");
    assert_eq!(client.wait_exit(LIMIT), Some(0), "Python {version} client");
}

/// The embassy client with `extra` arguments sends messages of every size ([`SIZES`]) to the
/// server at `connect` and checks each reply.
fn embassy_sizes_client(ns: &NetNs, connect: &str, extra: &[&str]) {
    let mut args = vec!["--role", "client", "--connect", connect, "--sizes", SIZES];
    args.extend_from_slice(extra);
    let mut client = embassy(ns, &args);
    let line = client.wait_for_line(|l| l.starts_with("OK ") || l.starts_with("FAILED"), LIMIT);
    assert_eq!(line.as_deref(), Some("OK 4"));
    assert_eq!(client.wait_exit(LIMIT), Some(0));
}

/// The Python echo client in line mode inside `ns`, connected to `host:port`, and its stdin:
/// it sends each line written there and holds its connection until QUIT or the end of input.
fn python_line_client(
    ns: &NetNs,
    version: PyVersion,
    host: &str,
    port: &str,
) -> (Peer, ChildStdin) {
    let mut command = ns.command(version.python());
    command
        .args(["-u", "echo_client.py", "--host", host, "--port", port])
        .current_dir(tinyproto_testkit::python_examples())
        .stdin(Stdio::piped());
    let mut client = Peer::spawn(command);
    let stdin = client.child_mut().stdin.take().expect("piped stdin");
    (client, stdin)
}

/// Python echo clients against the embassy server: messages of every size, then the seed
/// README's session (a line, QUIT), then SRVQUIT, which stops the server.
fn python_clients_talk_to_embassy_server(version: PyVersion) {
    let Some(ns) = namespace(&tag("esrv", version)) else {
        return;
    };
    let mut server = embassy(&ns, &["--role", "server", "--port", PORT]);
    expect_line(&mut server, "LISTENING ", "embassy server");

    python_sizes_client(&ns, version, &[]);
    expect_line(&mut server, "CLOSED ", "the Python client's close");

    for (input, want, end) in [
        (
            "hello\nQUIT\n",
            Some("Response from server: Echo back: hello"),
            "QUIT",
        ),
        ("SRVQUIT\n", None, "SRVQUIT"),
    ] {
        let (mut client, mut stdin) = python_line_client(&ns, version, EMBASSY_IP, PORT);
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        if let Some(want) = want {
            assert_eq!(client.next_line(LIMIT).as_deref(), Some(want));
        }
        assert_eq!(client.wait_exit(LIMIT), Some(0), "Python client exits");
        let closed = expect_line(&mut server, "CLOSED ", "a closed connection");
        assert!(closed.ends_with(end), "{closed}");
    }
    expect_line(&mut server, "STOPPED", "SRVQUIT stops the embassy server");
    assert_eq!(server.wait_exit(LIMIT), Some(0));
}

per_python_version!(
    python_clients_talk_to_embassy_server:
    python_2_0_1_clients_talk_to_embassy_server,
    python_3_0_clients_talk_to_embassy_server
);

/// The embassy client against a Python echo server: messages of every size, then the seed
/// README's session.
fn embassy_client_talks_to_python_server(version: PyVersion) {
    let Some(ns) = namespace(&tag("ecli", version)) else {
        return;
    };
    let (_server, connect) = python_server(&ns, version, &[]);

    embassy_sizes_client(&ns, &connect, &[]);

    let mut client = embassy(
        &ns,
        &[
            "--role",
            "client",
            "--connect",
            &connect,
            "--line",
            "hello",
            "--line",
            "QUIT",
        ],
    );
    assert_eq!(
        client.next_line(LIMIT).as_deref(),
        Some("Response from server: Echo back: hello")
    );
    assert_eq!(client.next_line(LIMIT).as_deref(), Some("CLOSED"));
    assert_eq!(client.wait_exit(LIMIT), Some(0));
}

per_python_version!(
    embassy_client_talks_to_python_server:
    embassy_client_talks_to_python_2_0_1_server,
    embassy_client_talks_to_python_3_0_server
);

/// A reply above the embassy client's limit is refused with 0x00 and nothing of it is
/// delivered. (The Python server's connection thread then dies of "Transmission rejected", so
/// the connection ends there: 2.0.1 closes it, 3.0 leaves it open until our reply wait ends.)
fn embassy_client_refuses_an_oversize_reply(version: PyVersion) {
    let Some(ns) = namespace(&tag("eovr", version)) else {
        return;
    };
    let (_server, connect) = python_server(&ns, version, &[]);
    // Replies are 11 bytes longer: 61 fits in 100, 211 does not.
    let mut client = embassy(
        &ns,
        &[
            "--role",
            "client",
            "--connect",
            &connect,
            "--max-message",
            "100",
            "--sizes",
            "50,200",
        ],
    );
    let line = client.wait_for_line(|l| !l.is_empty(), LIMIT);
    assert_eq!(
        line.as_deref(),
        Some("REFUSED reply to message 1: refused a message of 211 bytes (limit 100)")
    );
    // Nothing partial was taken for the reply: the next line is the end, not a message.
    let line = client.wait_for_line(|l| !l.is_empty(), LIMIT);
    assert_eq!(line.as_deref(), Some("OK 2"));
    assert_eq!(client.wait_exit(LIMIT), Some(0));
}

per_python_version!(
    embassy_client_refuses_an_oversize_reply:
    embassy_client_refuses_an_oversize_reply_from_python_2_0_1,
    embassy_client_refuses_an_oversize_reply_from_python_3_0
);

/// The conformance runner, default and strict tiers, against the embassy server with a
/// connection limit of 2: oversize refused with the stream in sync, the limit answered with a
/// single `fe` then a close, end of stream inside a header or payload (the server closes and
/// delivers nothing), bad init byte, stalled peers dropped, QUIT.
#[test]
fn conformance_runner_passes_against_embassy_server() {
    let Some(ns) = namespace("erun") else {
        return;
    };
    let mut server = embassy(
        &ns,
        &["--role", "server", "--port", PORT, "--connections", "2"],
    );
    expect_line(&mut server, "LISTENING ", "embassy server");
    let runner =
        std::path::Path::new(env!("CARGO_BIN_EXE_embassy-echo")).with_file_name("tinyproto");
    assert!(
        runner.exists(),
        "build the runner first: cargo build -p tinyproto-cli --bin tinyproto"
    );
    let mut command = ns.command(runner);
    command
        .args(["check", &format!("{EMBASSY_IP}:{PORT}"), "--strict"])
        .args(["--conlimit", "2", "--stall-limit", "12"])
        .stdin(Stdio::null());
    let mut runner = Peer::spawn(command);
    let verdict = runner
        .wait_for_line(|l| l.contains(" passed, "), Duration::from_secs(300))
        .expect("runner verdict");
    assert_eq!(verdict, "19 passed, 0 failed, 0 unsupported");
    assert_eq!(runner.wait_exit(LIMIT), Some(0));
    // The server logged each truncated message as a typed error, nothing as delivered.
    let mut log = Vec::new();
    while let Some(line) = server.next_line(Duration::from_millis(200)) {
        log.push(line);
    }
    for want in [
        "protocol error: stream ended during length header with 2 byte(s) missing",
        "protocol error: stream ended during receiving payload with 6 byte(s) missing",
    ] {
        assert!(
            log.iter().any(|l| l.ends_with(want)),
            "no `{want}` in {log:#?}"
        );
    }
}

/// Python echo clients with the `xor5a` plugin against the embassy server with it: messages of
/// every size (a side without the plugin would see each reply garbled), then SRVQUIT, which
/// passes the plugins too and stops the server.
fn python_clients_with_xor5a_talk_to_embassy_server(version: PyVersion) {
    let Some(ns) = namespace(&tag("eplg", version)) else {
        return;
    };
    let mut server = embassy(
        &ns,
        &["--role", "server", "--port", PORT, "--plugin", "xor5a"],
    );
    expect_line(&mut server, "LISTENING ", "embassy server");
    python_sizes_client(&ns, version, &["--plugin", "xor5a", "--finally", "SRVQUIT"]);
    expect_line(
        &mut server,
        "STOPPED",
        "SRVQUIT (through xor5a) stops the server",
    );
    assert_eq!(server.wait_exit(LIMIT), Some(0));
}

per_python_version!(
    python_clients_with_xor5a_talk_to_embassy_server:
    python_2_0_1_clients_with_xor5a_talk_to_embassy_server,
    python_3_0_clients_with_xor5a_talk_to_embassy_server
);

/// The embassy client with `xor5a` against a Python echo server with it: every size.
fn embassy_client_with_xor5a_talks_to_python_server(version: PyVersion) {
    let Some(ns) = namespace(&tag("eplc", version)) else {
        return;
    };
    let (_server, connect) = python_server(&ns, version, &["--plugin", "xor5a"]);
    embassy_sizes_client(&ns, &connect, &["--plugin", "xor5a"]);
}

per_python_version!(
    embassy_client_with_xor5a_talks_to_python_server:
    embassy_client_with_xor5a_talks_to_python_2_0_1_server,
    embassy_client_with_xor5a_talks_to_python_3_0_server
);

/// A raw server that reads our header and never answers it: the embassy client's transmit ends
/// at its status limit with the typed timeout, nothing of the payload sent, and it closes.
#[test]
fn embassy_client_times_out_on_a_status_byte_that_never_comes() {
    let Some(ns) = namespace("esta") else {
        return;
    };
    let (mut server, connect) = raw_server(&ns, "mute-server");
    let mut client = embassy(
        &ns,
        &["--role", "client", "--connect", &connect, "--line", "hello"],
    );
    assert_eq!(server.next_line(LIMIT).as_deref(), Some("GOT HEADER 5"));
    assert_eq!(
        client.next_line(LIMIT).as_deref(),
        Some("FAILED: timed out during status byte")
    );
    assert_eq!(client.wait_exit(LIMIT), Some(1));
    assert_eq!(
        server.next_line(LIMIT).as_deref(),
        Some("EOF"),
        "no payload after the header, then our close"
    );
}

/// A Python echo server inside `ns` on an ephemeral port, listening: itself and `HOST:PORT`.
fn python_server(ns: &NetNs, version: PyVersion, extra: &[&str]) -> (Peer, String) {
    let mut args = vec!["--host", KERNEL_IP, "--port", "0"];
    args.extend_from_slice(extra);
    let mut server = ns.python(version, "echo_server.py", &args);
    let line = expect_line(&mut server, "LISTENING ", "Python server");
    let port = line.split_whitespace().nth(1).expect("LISTENING <port>");
    let connect = format!("{KERNEL_IP}:{port}");
    (server, connect)
}

/// The embassy server at its limit of one connection: the Python client over it fails its
/// init on the `0xfe` as the package does (`Initialisation error: bytearray(b'\xfe')`, exit
/// non-zero); a raw peer sees exactly `fe` then a clean close (FIN, no reset); once the first
/// client QUITs, the next one is served.
fn embassy_server_refuses_python_client_at_its_limit(version: PyVersion) {
    let Some(ns) = namespace(&tag("elim", version)) else {
        return;
    };
    let mut server = embassy(
        &ns,
        &["--role", "server", "--port", PORT, "--connections", "1"],
    );
    expect_line(&mut server, "LISTENING ", "embassy server");
    // The first client holds the one connection until its stdin says QUIT.
    let (mut first, mut stdin) = python_line_client(&ns, version, EMBASSY_IP, PORT);
    expect_line(&mut server, "Connection opened from: ", "the first client");

    let (code, errors) =
        ns.python_client_refused_at_init(version, EMBASSY_IP, PORT.parse().unwrap(), LIMIT);
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}");
    assert!(
        errors.contains("Initialisation error: bytearray(b'\\xfe')"),
        "{errors}"
    );
    expect_line(
        &mut server,
        "Connection refused (limit reached): ",
        "the refusal",
    );

    let mut probe = ns.python(
        version,
        "raw_peer.py",
        &[
            "--role",
            "limit-probe",
            "--host",
            EMBASSY_IP,
            "--port",
            PORT,
        ],
    );
    assert_eq!(probe.next_line(LIMIT).as_deref(), Some("GOT fe EOF"));
    expect_line(
        &mut server,
        "Connection refused (limit reached): ",
        "the refusal",
    );

    stdin.write_all(b"QUIT\n").unwrap();
    drop(stdin);
    assert_eq!(first.wait_exit(LIMIT), Some(0));
    let closed = expect_line(&mut server, "CLOSED ", "the first client's QUIT");
    assert!(closed.ends_with("QUIT"), "{closed}");

    let mut next = ns.python(
        version,
        "echo_client.py",
        &[
            "--host",
            EMBASSY_IP,
            "--port",
            PORT,
            "--sizes",
            "1",
            "--finally",
            "SRVQUIT",
        ],
    );
    assert_eq!(next.next_line(LIMIT).as_deref(), Some("OK 1"));
    expect_line(&mut server, "STOPPED", "SRVQUIT");
}

per_python_version!(
    embassy_server_refuses_python_client_at_its_limit:
    embassy_server_refuses_python_2_0_1_client_at_its_limit,
    embassy_server_refuses_python_3_0_client_at_its_limit
);

/// A Python 2.0.1 server at its limit of one: the embassy client's handshake fails with the
/// typed `InitRefused`, and it exits cleanly.
#[test]
fn embassy_client_is_refused_by_python_2_0_1_server_at_its_limit() {
    let Some(ns) = namespace("eclm") else {
        return;
    };
    let (_server, connect) = python_server(&ns, PyVersion::V2_0_1, &["--limit", "1"]);
    let (host, port) = connect.split_once(':').unwrap();
    let (mut first, mut stdin) = python_line_client(&ns, PyVersion::V2_0_1, host, port);
    stdin.write_all(b"hello\n").unwrap();
    assert_eq!(
        first.next_line(LIMIT).as_deref(),
        Some("Response from server: Echo back: hello"),
        "the first client holds the one connection"
    );
    let mut client = embassy(
        &ns,
        &["--role", "client", "--connect", &connect, "--sizes", "1"],
    );
    let line = client.wait_for_line(|l| !l.is_empty(), LIMIT);
    let line = line.unwrap_or_default();
    assert!(
        line.starts_with(
            "FAILED: init handshake failed: protocol error: rejected by server during init"
        ),
        "{line}"
    );
    assert_eq!(client.wait_exit(LIMIT), Some(1));
    drop(stdin);
}

/// A peer that closes inside a message's payload: the embassy server ends that connection
/// with the typed error and delivers (echoes) nothing of it. The peer is a raw socket
/// (`raw_peer.py`): the package itself never stops mid-message.
#[test]
fn embassy_server_reports_a_client_closing_mid_message() {
    let Some(ns) = namespace("emid") else {
        return;
    };
    let mut server = embassy(&ns, &["--role", "server", "--port", PORT]);
    expect_line(&mut server, "LISTENING ", "embassy server");
    let mut peer = ns.python(
        PyVersion::V3_0,
        "raw_peer.py",
        &["--role", "client", "--host", EMBASSY_IP, "--port", PORT],
    );
    assert_eq!(peer.next_line(LIMIT).as_deref(), Some("SENT 40 OF 100"));
    expect_line(&mut server, "Connection opened from: ", "the peer");
    let closed = server.next_line(LIMIT).unwrap_or_default();
    assert!(
        closed.ends_with(
            "protocol error: stream ended during receiving payload with 60 byte(s) missing"
        ),
        "{closed}"
    );
}

/// A server that closes inside its reply's payload: the embassy client fails with the typed
/// error and delivers nothing of the reply (no `OK`).
#[test]
fn embassy_client_reports_a_server_closing_mid_reply() {
    let Some(ns) = namespace("ecmd") else {
        return;
    };
    let (mut peer, connect) = raw_server(&ns, "server");
    let mut client = embassy(
        &ns,
        &["--role", "client", "--connect", &connect, "--sizes", "5"],
    );
    let line = client.wait_for_line(|l| !l.is_empty(), LIMIT);
    assert_eq!(
        line.as_deref(),
        Some(
            "FAILED: reply to message 0: protocol error: stream ended during receiving payload \
             with 60 byte(s) missing"
        )
    );
    assert_eq!(client.wait_exit(LIMIT), Some(1));
    assert_eq!(peer.next_line(LIMIT).as_deref(), Some("SENT 40 OF 100"));
}

/// A message above the embassy server's limit (1000 bytes): refused with `0x00`, and the next
/// message on the same connection is echoed (the stream stayed in sync).
fn embassy_server_refuses_an_oversize_message(version: PyVersion) {
    let Some(ns) = namespace(&tag("esov", version)) else {
        return;
    };
    let mut server = embassy(
        &ns,
        &["--role", "server", "--port", PORT, "--max-message", "1000"],
    );
    expect_line(&mut server, "LISTENING ", "embassy server");
    let mut client = ns.python(
        version,
        "oversize_client.py",
        &["--host", EMBASSY_IP, "--port", PORT],
    );
    let rejected = client.next_line(LIMIT).unwrap_or_default();
    assert!(rejected.starts_with("REJECTED"), "{rejected}");
    assert_eq!(client.next_line(LIMIT).as_deref(), Some("OK"));
    let refused = expect_line(&mut server, "not delivered: ", "the refusal");
    assert!(refused.contains("(limit 1000)"), "{refused}");
}

per_python_version!(
    embassy_server_refuses_an_oversize_message:
    embassy_server_refuses_an_oversize_message_from_python_2_0_1,
    embassy_server_refuses_an_oversize_message_from_python_3_0
);
