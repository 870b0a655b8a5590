//! The `smoltcp-echo` binary on a TAP device inside a network namespace made for the test,
//! talking to the Python package's echo client (2.0.1 and 3.0) on the kernel's TCP stack in
//! the same namespace. Where no namespace can be made the test says so loudly (and fails
//! under CI).

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use tinyproto_testkit::{python_examples, NetNs, Peer, PyVersion};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs the Python echo client in `ns` with `input` on stdin and returns its output lines.
fn python_client(ns: &NetNs, version: PyVersion, input: &str) -> Vec<String> {
    let mut command = ns.command(version.python());
    command
        .args([
            "-u",
            "echo_client.py",
            "--host",
            "192.168.69.1",
            "--port",
            "9123",
        ])
        .current_dir(python_examples())
        .stdin(Stdio::piped());
    let mut client = Peer::spawn(command);
    let mut stdin = client.child_mut().stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let mut lines = Vec::new();
    while let Some(line) = client.next_line(LIMIT) {
        lines.push(line);
    }
    assert_eq!(
        client.wait_exit(LIMIT),
        Some(0),
        "Python {} client exit",
        version.as_str()
    );
    lines
}

#[test]
fn python_clients_talk_to_smoltcp_echo_over_a_tap_device() {
    let Some(ns) = NetNs::create_or_skip("smoltcp-echo") else {
        return;
    };
    ns.add_tap("tap0", "192.168.69.100/24").expect("TAP device");
    let mut command = ns.command(env!("CARGO_BIN_EXE_smoltcp-echo"));
    command
        .args(["--tap", "tap0", "--ip", "192.168.69.1/24", "--port", "9123"])
        .args(["--run-for", "120"])
        .stdin(Stdio::null());
    let mut server = Peer::spawn(command);
    server
        .wait_for_line(|l| l == "LISTENING 9123", LIMIT)
        .expect("smoltcp-echo listens");

    for version in PyVersion::ALL {
        let lines = python_client(&ns, version, "hello\nhow are you\nQUIT\n");
        assert_eq!(
            lines,
            [
                "Response from server: Echo back: hello",
                "Response from server: Echo back: how are you"
            ],
            "Python {}",
            version.as_str()
        );
        server
            .wait_for_line(|l| l.starts_with("Connection closed"), LIMIT)
            .expect("QUIT closes the connection");
    }
    let lines = python_client(&ns, PyVersion::V3_0, "SRVQUIT\n");
    assert!(lines.is_empty(), "{lines:?}");
    server
        .wait_for_line(|l| l == "SERVER STOPPED", LIMIT)
        .expect("SRVQUIT stops the server");
    assert_eq!(server.wait_exit(LIMIT), Some(0));
}

/// `--run-for` ends the run even when no frame ever arrives (the wait for traffic has the
/// deadline too).
#[test]
fn run_for_stops_smoltcp_echo_without_traffic() {
    let Some(ns) = NetNs::create_or_skip("smoltcp-run-for") else {
        return;
    };
    ns.add_tap("tap0", "192.168.69.100/24").expect("TAP device");
    let mut command = ns.command(env!("CARGO_BIN_EXE_smoltcp-echo"));
    command
        .args(["--tap", "tap0", "--run-for", "1"])
        .stdin(Stdio::null());
    let mut server = Peer::spawn(command);
    server
        .wait_for_line(|l| l == "SERVER STOPPED", LIMIT)
        .expect("smoltcp-echo stops after --run-for");
    assert_eq!(server.wait_exit(LIMIT), Some(0));
}

/// A TAP device that is missing is an error (and is not created); one that is down too.
#[test]
fn smoltcp_echo_refuses_a_missing_or_down_tap_device() {
    let Some(ns) = NetNs::create_or_skip("smoltcp-tap-check") else {
        return;
    };
    let run = |tap: &str| {
        let mut command = ns.command(env!("CARGO_BIN_EXE_smoltcp-echo"));
        command.args(["--tap", tap, "--run-for", "5"]);
        command.stdin(Stdio::null()).output().unwrap()
    };
    let out = run("doesnotexist");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no LISTENING");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TAP device doesnotexist does not exist"),
        "{err}"
    );
    assert!(
        ns.ip(&["link", "show", "doesnotexist"]).is_err(),
        "the device was created"
    );

    ns.ip(&["tuntap", "add", "dev", "tapdown", "mode", "tap"])
        .expect("TAP device");
    let out = run("tapdown");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TAP device tapdown is down"), "{err}");
}
