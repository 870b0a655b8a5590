//! The client suite: the runner plays a scripted server for a client with the seed README's
//! echo-client semantics (connect, send each line of its input as a message and wait for the
//! reply, close at the end of input). Each case starts the client afresh with the input
//! `hello\n`.

use super::{
    case, closed_within_stall_limit, Case, Check, Ending, Raw, RunError, Stop, Target, Tier,
    Verdict,
};
use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tinyproto_core::wire::{SC_CONLIMIT, SC_GENERIC_ERROR, SC_OK};

use Tier::{Default as D, Strict as S};

/// Every case of the client suite.
pub static CLIENT_CASES: &[Case] = &[
    case(
        "client-handshake/1",
        D,
        "the client writes the init byte ff right after connecting",
        handshake,
    ),
    case(
        "client-message/1",
        D,
        "its line b'hello' goes out as header 00000005, then the payload after our ff",
        message,
    ),
    case(
        "client-reply/1",
        D,
        "it answers our reply's header with ff",
        reply,
    ),
    case(
        "client-close/1",
        D,
        "after the reply and the end of its input it closes at a message boundary",
        close,
    ),
    case(
        "client-rejected/1",
        D,
        "when we answer its header with 00 it sends no payload",
        rejected,
    ),
    case(
        "client-oversize/1",
        D,
        "it answers header f1000000 with 00",
        oversize,
    ),
    case(
        "client-eof/1",
        S,
        "end of stream inside a header: it closes without answering",
        eof,
    ),
    case(
        "client-conlimit/1",
        S,
        "init byte fe: it closes without sending more than its own ff",
        conlimit,
    ),
    case(
        "client-timeout/1",
        S,
        "a server that never answers its header is given up within the stall limit",
        timeout,
    ),
];

/// The client under test, killed when dropped.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Listens, starts the client with `{port}` filled in and the input `hello\n`, and accepts its
/// connection.
fn start(t: &Target) -> Result<(Raw, Started), Stop> {
    let setup = |e: std::io::Error| Verdict::fail("to start the client", e.to_string());
    let listener = TcpListener::bind(t.addr).map_err(|source| {
        Stop::Abort(RunError::Listen {
            addr: t.addr,
            source,
        })
    })?;
    let port = listener.local_addr().map_err(setup)?.port().to_string();
    let args: Vec<String> = t
        .command
        .iter()
        .map(|a| a.replace("{port}", &port))
        .collect();
    let spawn_failed = |program: &str, source| {
        Stop::Abort(RunError::Spawn {
            program: program.to_owned(),
            source,
        })
    };
    let (program, rest) = args.split_first().ok_or_else(|| {
        spawn_failed(
            "",
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"),
        )
    })?;
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| spawn_failed(program, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"hello\n");
    }
    let started = Started(child);
    listener.set_nonblocking(true).map_err(setup)?;
    let deadline = Instant::now() + t.patience;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(setup)?;
                return Ok((Raw::accepted(stream, t.patience), started));
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => {
                return Err(Stop::fail(
                    "a connection from the client",
                    format!("none within {:?}", t.patience),
                ))
            }
        }
    }
}

fn handshake(t: &Target) -> Check {
    let (mut raw, _client) = start(t)?;
    raw.expect(&[SC_OK], "the client's init byte (before ours)")
}

/// Handshake, then the client's `hello` with its header answered `ff`.
fn hello(t: &Target) -> Result<(Raw, Started), Stop> {
    let (mut raw, client) = start(t)?;
    raw.expect(&[SC_OK], "the client's init byte")?;
    raw.send(&[SC_OK])?;
    raw.expect(&[0, 0, 0, 5], "the header of b'hello'")?;
    raw.send(&[SC_OK])?;
    raw.expect(b"hello", "the payload b'hello'")?;
    Ok((raw, client))
}

fn message(t: &Target) -> Check {
    hello(t).map(drop)
}

/// `hello`, then our reply with the client's `ff` checked.
fn replied(t: &Target) -> Result<(Raw, Started), Stop> {
    let (mut raw, client) = hello(t)?;
    let answer = b"Echo back: hello";
    raw.send(&(answer.len() as u32).to_be_bytes())?;
    raw.expect(&[SC_OK], "status ff for our reply")?;
    raw.send(answer)?;
    Ok((raw, client))
}

fn reply(t: &Target) -> Check {
    replied(t).map(drop)
}

fn close(t: &Target) -> Check {
    let (mut raw, _client) = replied(t)?;
    raw.wait_close(t.patience)
        .closed_silently("close (FIN), nothing more")
}

fn rejected(t: &Target) -> Check {
    let (mut raw, _client) = start(t)?;
    raw.expect(&[SC_OK], "the client's init byte")?;
    raw.send(&[SC_OK])?;
    raw.expect(&[0, 0, 0, 5], "the header of b'hello'")?;
    raw.send(&[SC_GENERIC_ERROR])?;
    match raw.wait_close(Duration::from_secs(1)) {
        Ending::Closed(b) | Ending::Reset(b) | Ending::Open(b) if b.is_empty() => Ok(()),
        other => Err(Stop::fail("no payload", format!("{other:?}"))),
    }
}

fn oversize(t: &Target) -> Check {
    let (mut raw, _client) = hello(t)?;
    raw.send(&[0xf1, 0, 0, 0])?;
    raw.expect(&[SC_GENERIC_ERROR], "status 00 for an oversize header")
}

fn eof(t: &Target) -> Check {
    let (mut raw, _client) = hello(t)?;
    raw.send(&[0x00, 0x01])?;
    raw.finish();
    raw.wait_close(t.patience)
        .closed_silently("close, no answer to half a header")
}

fn conlimit(t: &Target) -> Check {
    let (mut raw, _client) = start(t)?;
    raw.send(&[SC_CONLIMIT])?;
    raw.finish();
    match raw.wait_close(t.patience) {
        Ending::Closed(b) | Ending::Reset(b) if b.is_empty() || b == [SC_OK] => Ok(()),
        other => Err(Stop::fail("close after at most ff", format!("{other:?}"))),
    }
}

fn timeout(t: &Target) -> Check {
    let (mut raw, _client) = start(t)?;
    raw.expect(&[SC_OK], "the client's init byte")?;
    raw.send(&[SC_OK])?;
    raw.expect(&[0, 0, 0, 5], "the header of b'hello'")?;
    closed_within_stall_limit(t, &mut raw, "given up")
}
