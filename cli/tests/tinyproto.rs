//! The `tinyproto` binary run as a user runs it, against itself, the `echo`/`listen` servers
//! it starts, and the Python package's echo programs (2.0.1 and 3.0).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tinyproto_testkit::{python_examples, Peer, PyVersion};

const BIN: &str = env!("CARGO_BIN_EXE_tinyproto");

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

/// Runs `tinyproto args…` with `input` on stdin to completion (bounded by the tool's own
/// timeouts).
fn tinyproto(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails early may not read its input: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `tinyproto` server (`echo` or `listen`), killed when dropped; its address from the
/// `LISTENING` line on stderr.
struct Server {
    child: Child,
    addr: String,
    /// Kept so that the server's stderr goes on being drained.
    _stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = lines(child.stderr.take().unwrap());
        let line = stderr
            .recv_timeout(WAIT)
            .expect("the server says LISTENING");
        let addr = line
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("not LISTENING: {line}"))
            .to_owned();
        Server {
            child,
            addr,
            _stderr: stderr,
        }
    }

    /// Waits for the exit and returns the code and stdout.
    fn finish(mut self) -> (Option<i32>, String) {
        let mut out = String::new();
        let mut stdout = self.child.stdout.take().unwrap();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        let code = self.child.wait().unwrap().code();
        (code, out)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A loopback port where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The README's commands: `echo`, `send -`, `check --strict` with every default, `bench`,
/// then SRVQUIT stops the server (exit 0).
#[test]
fn the_readme_commands_echo_send_check_bench() {
    let server = Server::start(&["echo", "127.0.0.1:0"]);
    let out = tinyproto(&["send", &server.addr, "-"], b"hi\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Echo back: hi\n");

    // The defaults agree: the check's stall limit (30 s) covers echo's timeout (10 s).
    let out = tinyproto(&["check", &server.addr, "--strict"], b"");
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(
        table.contains("16 passed, 0 failed, 1 unsupported"),
        "{table}"
    );

    let out = tinyproto(
        &[
            "bench",
            &server.addr,
            "--sizes",
            "16,64K",
            "--messages",
            "50",
        ],
        b"",
    );
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(table.contains("| 16 B | 1 | 50 |"), "{table}");
    assert!(table.contains("| 64 KiB | 1 | 50 |"), "{table}");

    let out = tinyproto(&["send", &server.addr, "--expect", "0"], b"SRVQUIT");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(server.finish().0, Some(0));
}

#[test]
fn send_lines_hex_json_and_out() {
    let server = Server::start(&["echo", "127.0.0.1:0"]);
    let out = tinyproto(&["send", &server.addr, "--lines", "--hex"], b"a\r\nb\n");
    assert_eq!(
        text(&out.stdout),
        "4563686f206261636b3a2061\n4563686f206261636b3a2062\n"
    );

    let out = tinyproto(&["send", &server.addr, "--json"], b"\xff");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["len"], 12);
    assert_eq!(json["hex"], "4563686f206261636b3a20ff");
    assert!(json.get("text").is_none(), "not UTF-8: no text");

    let dir = std::env::temp_dir().join(format!("tinyproto-send-{}", std::process::id()));
    let file = dir.join("in.bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&file, vec![7u8; 70_000]).unwrap();
    let out_dir = dir.join("replies");
    let args = [
        "send",
        &server.addr,
        file.to_str().unwrap(),
        "-",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = tinyproto(&args, b"second");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = std::fs::read(out_dir.join("reply-0001.bin")).unwrap();
    assert_eq!(first.len(), 70_011);
    assert_eq!(
        std::fs::read(out_dir.join("reply-0002.bin")).unwrap(),
        b"Echo back: second"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listen_prints_and_answers_then_stops_after_count() {
    let listener = Server::start(&["listen", "127.0.0.1:0", "--echo", "--count", "2", "--json"]);
    let out = tinyproto(&["send", &listener.addr, "--lines"], b"one\ntwo\n");
    assert_eq!(
        text(&out.stdout),
        "one\ntwo\n",
        "--echo answers the same bytes"
    );
    let (code, stdout) = listener.finish();
    assert_eq!(code, Some(0));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["index"].as_u64(), lines[0]["text"].as_str()),
        (Some(1), Some("one"))
    );
    assert_eq!(
        (lines[1]["index"].as_u64(), lines[1]["text"].as_str()),
        (Some(2), Some("two"))
    );
}

#[test]
fn listen_answers_with_a_file_and_saves_each_message() {
    let dir = std::env::temp_dir().join(format!("tinyproto-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let answer = dir.join("answer.bin");
    std::fs::write(&answer, b"got it").unwrap();
    let saved = dir.join("saved");
    let listener = Server::start(&[
        "listen",
        "127.0.0.1:0",
        "--reply",
        answer.to_str().unwrap(),
        "--out",
        saved.to_str().unwrap(),
        "--count",
        "1",
    ]);
    let out = tinyproto(&["send", &listener.addr], b"\x00\x01binary");
    assert_eq!(text(&out.stdout), "got it\n");
    let (code, stdout) = listener.finish();
    assert_eq!(code, Some(0));
    let file = saved.join("conn1-0001.bin");
    assert_eq!(
        stdout.trim(),
        file.display().to_string(),
        "the path is printed"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"\x00\x01binary");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_that_never_answers_is_a_timeout_not_a_hang() {
    let listener = Server::start(&["listen", "127.0.0.1:0"]);
    let out = tinyproto(&["send", &listener.addr, "--timeout", "0.5"], b"hello?");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "tinyproto: {}: waiting for the reply to message 1: nothing arrived within 500ms",
            listener.addr
        )
    );
}

#[test]
fn errors_name_the_address_and_the_phase() {
    let closed = closed_port();
    let out = tinyproto(&["send", &closed], b"x");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("tinyproto: cannot connect to {closed}: connection refused")
    );

    let server = Server::start(&["echo", "127.0.0.1:0", "--max-connections", "0"]);
    let out = tinyproto(&["send", &server.addr], b"x");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "tinyproto: {} is at its connection limit (0xfe)",
            server.addr
        )
    );

    let out = tinyproto(&["listen", &server.addr], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "tinyproto: cannot listen on {}: address already in use",
            server.addr
        )
    );
}

/// `--max-size` on either side: the message is refused, with the phase in the error.
#[test]
fn messages_above_max_size_are_refused_with_the_phase() {
    let server = Server::start(&["echo", "127.0.0.1:0", "--max-size", "4"]);
    let out = tinyproto(&["send", &server.addr], b"hello");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sending message 1 (5 bytes): ") && err.contains("rejected"),
        "{err}"
    );

    let out = tinyproto(&["send", &server.addr, "--max-size", "4"], b"hi");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("waiting for the reply to message 1: refused a message of 13 bytes"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["send", "nonsense"][..],
        &["echo", "::1:9123"],
        &["bench", "127.0.0.1:9", "--sizes", "1T"],
        &["check"],
        &["send", "127.0.0.1:9", "--timeout", "0"],
        &["frobnicate"],
    ] {
        let out = tinyproto(args, b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = tinyproto(&["echo", "nonsense"], b"");
    assert!(text(&out.stderr).contains("the port is missing: expected HOST:PORT"));
}

#[test]
fn check_stops_at_a_closed_port_with_one_error() {
    let closed = closed_port();
    let out = tinyproto(&["check", &closed, "--strict"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no table: {}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("tinyproto: cannot connect to {closed}: connection refused")
    );
}

#[test]
fn check_passes_against_both_python_echo_servers_and_send_talks_to_them() {
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let addr = format!("127.0.0.1:{port}");
        let out = tinyproto(&["check", &addr, "--json"], b"");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "Python {}: {report:#}",
            version.as_str()
        );
        assert_eq!(report["results"].as_array().map(Vec::len), Some(10));

        let out = tinyproto(&["send", &addr, "--lines"], b"hello\nplugins\n");
        assert_eq!(text(&out.stdout), "Echo back: hello\nEcho back: plugins\n");
    }
}

#[test]
fn plugins_interoperate_with_the_python_package() {
    for version in PyVersion::ALL {
        let plugins = ["--plugin", "xor5a", "--plugin", "bang"];
        let (_server, port) = Peer::python_echo_server(version, &plugins);
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["send", &addr[..]];
        args.extend_from_slice(&plugins);
        let out = tinyproto(&args, b"hello");
        assert_eq!(
            text(&out.stdout),
            "Echo back: hello\n",
            "Python {}",
            version.as_str()
        );
    }
}

#[test]
fn python_echo_clients_talk_to_tinyproto_echo() {
    let server = Server::start(&["echo", "127.0.0.1:0"]);
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    for version in PyVersion::ALL {
        let mut command = Command::new(version.python());
        command
            .args(["-u", "echo_client.py", "--port", &port])
            .current_dir(python_examples())
            .stdin(Stdio::piped());
        let mut client = Peer::spawn(command);
        let stdin = client.child_mut().stdin.as_mut().unwrap();
        stdin.write_all(b"hello\nQUIT\n").unwrap();
        let line = client.next_line(WAIT);
        assert_eq!(
            line.as_deref(),
            Some("Response from server: Echo back: hello")
        );
        assert_eq!(
            client.wait_exit(WAIT),
            Some(0),
            "Python {}",
            version.as_str()
        );
    }
}

/// `send --lines` has the seed's echo-client semantics: the client suite, both tiers.
#[test]
fn check_client_mode_passes_against_tinyproto_send() {
    let out = tinyproto(
        &[
            "check",
            "--client",
            "--strict",
            "--stall-limit",
            "3",
            "--",
            BIN,
            "send",
            "127.0.0.1:{port}",
            "--lines",
            "--timeout",
            "2",
        ],
        b"",
    );
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}{}", text(&out.stderr));
    assert!(
        table.contains("9 passed, 0 failed, 0 unsupported"),
        "{table}"
    );
}
