//! Real traffic: the `embassy-echo` example (tinyproto-core's async driver on embassy-net over
//! a TAP device) against the Python package (2.0.1 and 3.0, both roles) on the kernel's TCP
//! stack, and the conformance runner against its server.
//!
//! Each test creates its own network namespace (deleted on drop, even on failure), puts a TAP
//! device in it with the kernel at 192.168.69.100/24 and embassy-net at 192.168.69.1, and runs
//! both sides inside it: no address outside the namespace is used. Where a namespace cannot be
//! created (not root, no iproute2) the tests say so loudly and end; under CI they fail.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use tinyproto_testkit::{NetNs, Peer, PyVersion};

const TAP: &str = "tap0";
const KERNEL_CIDR: &str = "192.168.69.100/24";
const KERNEL_IP: &str = "192.168.69.100";
const EMBASSY_IP: &str = "192.168.69.1";
const PORT: &str = "9123";
/// 0 B, 1 B, 70,000 B (above one 64 KiB socket buffer) and 5 MiB.
const SIZES: &str = "0,1,70000,5242880";
/// Upper bound for either side of one step.
const LIMIT: Duration = Duration::from_secs(120);

fn namespace(tag: &str) -> Option<NetNs> {
    let ns = NetNs::create_or_skip(tag)?;
    ns.add_tap(TAP, KERNEL_CIDR)
        .expect("TAP device inside the namespace");
    Some(ns)
}

/// The example inside `ns` with `args`.
fn embassy(ns: &NetNs, args: &[&str]) -> Peer {
    let mut command = ns.command(env!("CARGO_BIN_EXE_embassy-echo"));
    command
        .args(["--tap", TAP, "--ip", "192.168.69.1/24"])
        .args(args)
        .stdin(Stdio::null());
    Peer::spawn(command)
}

fn expect_line(peer: &mut Peer, prefix: &str, what: &str) -> String {
    peer.wait_for_line(|l| l.starts_with(prefix), LIMIT)
        .unwrap_or_else(|| panic!("{what}: no `{prefix}` line in time"))
}

fn tag(what: &str, version: PyVersion) -> String {
    format!("{what}{}", version.as_str().replace('.', ""))
}

/// Python echo clients against the embassy server: messages of every size, then the seed
/// README's session (a line, QUIT), then SRVQUIT, which stops the server.
fn python_clients_talk_to_embassy_server(version: PyVersion) {
    let Some(ns) = namespace(&tag("esrv", version)) else {
        return;
    };
    let mut server = embassy(&ns, &["--role", "server", "--port", PORT]);
    expect_line(&mut server, "LISTENING ", "embassy server");

    let mut client = ns.python(
        version,
        "echo_client.py",
        &["--host", EMBASSY_IP, "--port", PORT, "--sizes", SIZES],
    );
    let line = client.wait_for_line(
        |l| l.starts_with("OK ") || l.contains("MISMATCH") || l.contains("NO REPLY"),
        LIMIT,
    );
    assert_eq!(
        line.as_deref(),
        Some("OK 4"),
        "Python {} client",
        version.as_str()
    );
    expect_line(&mut server, "CLOSED ", "the Python client's close");

    for (input, want, end) in [
        (
            "hello\nQUIT\n",
            Some("Response from server: Echo back: hello"),
            "QUIT",
        ),
        ("SRVQUIT\n", None, "SRVQUIT"),
    ] {
        let mut command = ns.command(version.python());
        command
            .args(["-u", "echo_client.py", "--host", EMBASSY_IP, "--port", PORT])
            .current_dir(tinyproto_testkit::python_examples())
            .stdin(Stdio::piped());
        let mut client = Peer::spawn(command);
        let mut stdin = client.child_mut().stdin.take().unwrap();
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

#[test]
fn python_2_0_1_clients_talk_to_embassy_server() {
    python_clients_talk_to_embassy_server(PyVersion::V2_0_1);
}

#[test]
fn python_3_0_clients_talk_to_embassy_server() {
    python_clients_talk_to_embassy_server(PyVersion::V3_0);
}

/// The embassy client against a Python echo server: messages of every size, then the seed
/// README's session.
fn embassy_client_talks_to_python_server(version: PyVersion) {
    let Some(ns) = namespace(&tag("ecli", version)) else {
        return;
    };
    let mut server = ns.python(
        version,
        "echo_server.py",
        &["--host", KERNEL_IP, "--port", "0"],
    );
    let line = expect_line(&mut server, "LISTENING ", "Python server");
    let port = line.split_whitespace().nth(1).unwrap();
    let connect = format!("{KERNEL_IP}:{port}");

    let mut client = embassy(
        &ns,
        &["--role", "client", "--connect", &connect, "--sizes", SIZES],
    );
    let line = client.wait_for_line(|l| l.starts_with("OK ") || l.starts_with("FAILED"), LIMIT);
    assert_eq!(
        line.as_deref(),
        Some("OK 4"),
        "against Python {}",
        version.as_str()
    );
    assert_eq!(client.wait_exit(LIMIT), Some(0));

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

#[test]
fn embassy_client_talks_to_python_2_0_1_server() {
    embassy_client_talks_to_python_server(PyVersion::V2_0_1);
}

#[test]
fn embassy_client_talks_to_python_3_0_server() {
    embassy_client_talks_to_python_server(PyVersion::V3_0);
}

/// A reply above the embassy client's limit is refused with 0x00 and nothing of it is
/// delivered. (The Python server's connection thread then dies of "Transmission rejected", so
/// the connection ends there: 2.0.1 closes it, 3.0 leaves it open until our reply wait ends.)
fn embassy_client_refuses_an_oversize_reply(version: PyVersion) {
    let Some(ns) = namespace(&tag("eovr", version)) else {
        return;
    };
    let mut server = ns.python(
        version,
        "echo_server.py",
        &["--host", KERNEL_IP, "--port", "0"],
    );
    let line = expect_line(&mut server, "LISTENING ", "Python server");
    let port = line.split_whitespace().nth(1).unwrap();
    let connect = format!("{KERNEL_IP}:{port}");
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

#[test]
fn embassy_client_refuses_an_oversize_reply_from_python_2_0_1() {
    embassy_client_refuses_an_oversize_reply(PyVersion::V2_0_1);
}

#[test]
fn embassy_client_refuses_an_oversize_reply_from_python_3_0() {
    embassy_client_refuses_an_oversize_reply(PyVersion::V3_0);
}

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
