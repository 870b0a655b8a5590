//! The cases, in the order they run.

use super::{
    case, closed_within_stall_limit, Case, Check, Ending, Raw, Stop, Target, Tier, Verdict,
};
use crate::pyrandom::PyRandom;
use tinyproto_core::wire::{SC_CONLIMIT, SC_GENERIC_ERROR, SC_OK};

use Tier::{Default as D, Strict as S};

/// Every case of the suite.
pub static CASES: &[Case] = &[
    case(
        "handshake/1",
        D,
        "the server answers our init byte ff with its own ff",
        handshake,
    ),
    case(
        "echo/1",
        D,
        "b'hello' is answered b'Echo back: hello'",
        hello,
    ),
    case(
        "echo/2",
        D,
        "an empty message (header 00000000, no payload) is accepted and answered",
        |t| echo_sizes(t, &[0]),
    ),
    case(
        "echo/3",
        D,
        "a 70,000-byte message arrives whole and is answered",
        |t| echo_sizes(t, &[70_000]),
    ),
    case(
        "echo/4",
        D,
        "a 1 MiB message arrives whole and is answered",
        |t| echo_sizes(t, &[1 << 20]),
    ),
    case(
        "many/1",
        D,
        "100 messages of 0..2000 bytes, lockstep, are each answered in order",
        many,
    ),
    case(
        "concurrent/1",
        D,
        "two connections at once are served independently",
        concurrent,
    ),
    case(
        "oversize/1",
        D,
        "header f1000000 (above 0xf0ffffff) is answered 00 and no payload is read",
        oversize,
    ),
    case(
        "maxsize/1",
        D,
        "header f0ffffff (the protocol maximum) is answered ff",
        maxsize,
    ),
    case(
        "quit/1",
        D,
        "b'QUIT' closes the connection without an answer",
        quit,
    ),
    case(
        "conlimit/1",
        D,
        "a connection beyond the limit gets a refusal instead of ff, then is closed",
        conlimit_refused,
    )
    .with_conlimit(),
    case(
        "oversize/2",
        S,
        "after refusing f1000000 the stream stays in sync: the next message is answered",
        oversize_sync,
    ),
    case(
        "eof/1",
        S,
        "end of stream inside a header: the server closes and delivers nothing",
        eof_header,
    ),
    case(
        "eof/2",
        S,
        "end of stream inside a payload: the server closes and delivers nothing",
        eof_payload,
    ),
    case(
        "eof/3",
        S,
        "end of stream at a message boundary: the server closes its side",
        eof_boundary,
    ),
    case(
        "init/1",
        S,
        "a bad init byte (41) makes the server close the connection",
        bad_init,
    ),
    case(
        "timeout/1",
        S,
        "a peer that stalls inside a header is dropped within the stall limit",
        stall_header,
    ),
    case(
        "timeout/2",
        S,
        "a peer that never sends its init byte is dropped within the stall limit",
        stall_handshake,
    ),
    case(
        "conlimit/2",
        S,
        "the refusal at the limit is exactly one byte fe, then close (PROTOCOL.md Q1)",
        conlimit_exact,
    )
    .with_conlimit(),
];

fn handshake(t: &Target) -> Check {
    let mut raw = Raw::connect(t.addr, t.patience)?;
    raw.send(&[SC_OK])?;
    raw.expect(&[SC_OK], "the server's init byte")
}

fn hello(t: &Target) -> Check {
    Raw::ready(t.addr, t.patience)?.round_trip(b"hello", b"Echo back: hello")
}

/// One message of each size (deterministic bytes), each answered before the next is sent.
fn echo_sizes(t: &Target, sizes: &[usize]) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    for (i, &size) in sizes.iter().enumerate() {
        let msg = PyRandom::new(i as u64).randbytes(size);
        raw.round_trip(&msg, &[b"Echo back: ", &msg[..]].concat())?;
    }
    Ok(())
}

fn many(t: &Target) -> Check {
    let mut rng = PyRandom::new(5050);
    let sizes: Vec<usize> = (0..100).map(|_| (rng.next_u32() % 2001) as usize).collect();
    echo_sizes(t, &sizes)
}

fn concurrent(t: &Target) -> Check {
    let mut a = Raw::ready(t.addr, t.patience)?;
    let mut b = Raw::ready(t.addr, t.patience)?;
    b.round_trip(b"from b", b"Echo back: from b")?;
    a.round_trip(b"from a", b"Echo back: from a")
}

fn oversize(t: &Target) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.send(&[0xf1, 0, 0, 0])?;
    raw.expect(&[SC_GENERIC_ERROR], "status 00 for an oversize header")
}

fn maxsize(t: &Target) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.send(&[0xf0, 0xff, 0xff, 0xff])?;
    // Close right after the answer: a Python server would go on to read ~4 GB.
    match raw.read(1, "status ff for header f0ffffff")?[0] {
        SC_OK => Ok(()),
        SC_GENERIC_ERROR => Err(Verdict::Unsupported {
            reason: "answered 00: the server's configured limit is below the protocol maximum (allowed, PROTOCOL.md Q2)".into(),
        }
        .into()),
        other => Err(Stop::fail("ff", format!("{other:02x}"))),
    }
}

fn quit(t: &Target) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.send_message(b"QUIT")?;
    raw.wait_close(t.patience)
        .closed_silently("the connection closed, no answer")
}

/// Fills the server's connection slots, then opens one more and returns what it saw.
fn beyond_limit(t: &Target) -> Result<Ending, Stop> {
    let limit = t.conlimit.unwrap_or(0);
    let held: Vec<Raw> = (0..limit)
        .map(|_| Raw::ready(t.addr, t.patience))
        .collect::<Result<_, _>>()?;
    let mut extra = Raw::connect(t.addr, t.patience)?;
    let ending = extra.wait_close(t.patience);
    drop(held);
    Ok(ending)
}

fn conlimit_refused(t: &Target) -> Check {
    match beyond_limit(t)? {
        Ending::Closed(b) | Ending::Reset(b) if b.first().is_some_and(|&x| x != SC_OK) => Ok(()),
        other => Err(Stop::fail(
            "a byte other than ff, then close",
            format!("{other:?}"),
        )),
    }
}

fn conlimit_exact(t: &Target) -> Check {
    match beyond_limit(t)? {
        Ending::Closed(b) if b == [SC_CONLIMIT] => Ok(()),
        other => Err(Stop::fail("fe, then close", format!("{other:?}"))),
    }
}

fn oversize_sync(t: &Target) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.send(&[0xf1, 0, 0, 0])?;
    raw.expect(&[SC_GENERIC_ERROR], "status 00 for an oversize header")?;
    raw.round_trip(b"hello", b"Echo back: hello")
}

/// Sends `bytes` after the handshake, half-closes, and wants a silent close.
fn truncated(t: &Target, bytes: &[u8], answer: Option<u8>) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.send(bytes)?;
    if let Some(status) = answer {
        raw.expect(&[status], "status ff")?;
        raw.send(b"abcd")?;
    }
    raw.finish();
    raw.wait_close(t.patience)
        .closed_silently("close, nothing delivered or answered")
}

fn eof_header(t: &Target) -> Check {
    truncated(t, &[0x00, 0x01], None)
}

fn eof_payload(t: &Target) -> Check {
    truncated(t, &[0, 0, 0, 10], Some(SC_OK))
}

fn eof_boundary(t: &Target) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.round_trip(b"hello", b"Echo back: hello")?;
    raw.finish();
    raw.wait_close(t.patience).closed_silently("close (FIN)")
}

fn bad_init(t: &Target) -> Check {
    let mut raw = Raw::connect(t.addr, t.patience)?;
    raw.send(&[0x41])?;
    // The server's own init byte may come first.
    match raw.wait_close(t.patience) {
        Ending::Closed(b) | Ending::Reset(b) if b.len() <= 1 => Ok(()),
        other => Err(Stop::fail(
            "close (after at most the server's ff)",
            format!("{other:?}"),
        )),
    }
}

fn stall_header(t: &Target) -> Check {
    let mut raw = Raw::ready(t.addr, t.patience)?;
    raw.send(&[0x00, 0x01])?;
    closed_within_stall_limit(t, &mut raw, "dropped")
}

fn stall_handshake(t: &Target) -> Check {
    let mut raw = Raw::admitted(t.addr, t.patience, false)?;
    closed_within_stall_limit(t, &mut raw, "dropped")
}
