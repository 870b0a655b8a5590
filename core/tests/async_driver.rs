//! The async driver: its futures dropped at every await point (cancel safety), and the same
//! bytes out and messages in as the blocking driver under any chunking (simultaneous sends
//! included). `cargo test -p tinyproto-core --features async --test async_driver`.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use embedded_io::ErrorKind;
use proptest::prelude::*;
use tinyproto_core::buffer::{Buffer, VecBuffer};
use tinyproto_core::plugin::{Plugin, PluginError};
use tinyproto_core::script::ScriptedPeer;
use tinyproto_core::session::{Phase, SendError};
use tinyproto_core::{AsyncConnection, BlockingConnection, Error, Received, Sent, TransmitError};

/// Polls `future` once: `Some` when it completed, `None` when it waits.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Runs a future whose transport never waits.
fn ready<F: Future>(future: F) -> F::Output {
    poll_once(future).expect("the transport is always ready")
}

/// An in-memory peer whose `read`, `write` and `flush` are counted; the one numbered `stop`
/// waits forever (an await point at which the test drops the future), the others are ready.
struct Gated {
    input: Vec<u8>,
    chunk: usize,
    output: Vec<u8>,
    calls: usize,
    stop: Option<usize>,
}

impl Gated {
    fn new(input: &[u8], chunk: usize) -> Self {
        Self {
            input: input.to_vec(),
            chunk,
            output: Vec::new(),
            calls: 0,
            stop: None,
        }
    }

    async fn gate(&mut self) {
        let stop = self.stop == Some(self.calls);
        self.calls += 1;
        if stop {
            core::future::pending::<()>().await;
        }
    }
}

impl embedded_io::ErrorType for Gated {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for Gated {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.gate().await;
        let n = buf.len().min(self.chunk).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl embedded_io_async::Write for Gated {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.gate().await;
        let n = buf.len().min(self.chunk);
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    async fn flush(&mut self) -> Result<(), ErrorKind> {
        self.gate().await;
        Ok(())
    }
}

type Conn = AsyncConnection<Gated, VecBuffer>;

/// What one `receive()` gave, comparable across runs.
type Got = Result<Received<Vec<u8>>, Error<ErrorKind>>;

fn received(result: Result<Received<&[u8]>, Error<ErrorKind>>) -> Got {
    result.map(|r| r.map(<[u8]>::to_vec))
}

fn frame(msg: &[u8]) -> Vec<u8> {
    [&(msg.len() as u32).to_be_bytes()[..], msg].concat()
}

/// Receives until the connection ends. The I/O call numbered `stop` (if any) makes its
/// `receive()` wait: that future is dropped and `receive()` called again. Returns what each
/// completed call gave, the bytes we wrote, and whether a future was dropped.
fn receive_all(input: &[u8], chunk: usize, stop: Option<usize>) -> (Vec<Got>, Vec<u8>, bool) {
    let mut io = Gated::new(input, chunk);
    io.stop = stop;
    let mut conn: Conn = AsyncConnection::new(io, VecBuffer::new(80));
    let mut results = Vec::new();
    let mut dropped = false;
    for _ in 0..32 {
        let Some(result) = poll_once(conn.receive()).map(received) else {
            // Dropped at the await point; nothing else waits from now on.
            dropped = true;
            conn.io_mut().stop = None;
            continue;
        };
        let end = result.is_err();
        results.push(result);
        if end {
            break;
        }
    }
    (results, conn.into_inner().output, dropped)
}

#[test]
fn a_receive_dropped_at_any_await_point_resumes_and_delivers_every_message_whole() {
    // Init byte, an empty message, an oversize header (refused), a 70-byte message, "hi",
    // then a clean close.
    let big: Vec<u8> = (0..70).collect();
    let input = [
        &[0xff][..],
        &frame(b""),
        &100u32.to_be_bytes(),
        &frame(&big),
        &frame(b"hi"),
    ]
    .concat();
    for chunk in [1, 3, 1000] {
        let (want, wire, dropped) = receive_all(&input, chunk, None);
        assert!(!dropped);
        assert_eq!(
            want,
            [
                Ok(Received::Message(Vec::new())),
                Ok(Received::Refused {
                    len: 100,
                    limit: 80
                }),
                Ok(Received::Message(big.clone())),
                Ok(Received::Message(b"hi".to_vec())),
                Err(Error::Closed),
            ]
        );
        assert_eq!(wire, [0xff, 0xff, 0x00, 0xff, 0xff]);
        let mut stops = 0;
        for stop in 0.. {
            let (got, got_wire, dropped) = receive_all(&input, chunk, Some(stop));
            if !dropped {
                break;
            }
            stops += 1;
            assert_eq!(got, want, "dropped at I/O call {stop}, reads of {chunk}");
            assert_eq!(
                got_wire, wire,
                "dropped at I/O call {stop}, reads of {chunk}"
            );
        }
        assert!(stops > 8, "only {stops} await points at reads of {chunk}");
    }
}

/// Doubles every byte on transmit, halves on receive: the outgoing message lives in the buffer.
struct Double;

impl Plugin for Double {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        let doubled: Vec<u8> = msg.as_slice().iter().flat_map(|&b| [b, b]).collect();
        msg.set(&doubled)?;
        Ok(())
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        let halved: Vec<u8> = msg.as_slice().iter().step_by(2).copied().collect();
        msg.set(&halved)?;
        Ok(())
    }
}

#[test]
fn a_transmit_dropped_at_any_await_point_sent_all_or_nothing_or_closes_the_connection() {
    // The peer: its init byte, then "go ahead" to every header.
    let input = [0xff, 0xff, 0xff];
    for chunk in [1, 2, 1000] {
        let mut outcomes = [0usize; 3];
        for stop in 0.. {
            let mut io = Gated::new(&input, chunk);
            io.stop = Some(stop);
            let mut conn: Conn = AsyncConnection::new(io, VecBuffer::new(64));
            if poll_once(conn.transmit(b"first")).is_some() {
                break;
            }
            conn.io_mut().stop = None;
            let next = ready(conn.transmit(b"next"));
            let wire = conn.io_mut().output.clone();
            match next {
                Err(TransmitError::Connection(Error::Cancelled)) => {
                    outcomes[0] += 1;
                    // Every later call reports it; nothing more is written.
                    assert_eq!(received(ready(conn.receive())), Err(Error::Cancelled));
                    assert_eq!(
                        ready(conn.transmit(b"x")),
                        Err(TransmitError::Connection(Error::Cancelled))
                    );
                    assert_eq!(conn.session().phase(), Phase::Closed);
                    assert_eq!(conn.io_mut().output, wire);
                    let sent = [&[0xff][..], &frame(b"first")].concat();
                    assert!(wire.len() < sent.len() || stop > 0, "dropped at {stop}");
                }
                Ok(Sent::Written) => {
                    let nothing = [&[0xff][..], &frame(b"next")].concat();
                    let whole = [&[0xff][..], &frame(b"first"), &frame(b"next")].concat();
                    if wire == nothing {
                        outcomes[1] += 1;
                    } else {
                        assert_eq!(wire, whole, "dropped at I/O call {stop}, chunk {chunk}");
                        outcomes[2] += 1;
                    }
                }
                other => panic!("dropped at I/O call {stop}: {other:?}"),
            }
        }
        // Each kind happens: mid-message (closed), before it (handshake), after it (flush).
        assert!(
            outcomes.iter().all(|&n| n > 0),
            "{outcomes:?} at chunk {chunk}"
        );
    }
}

#[test]
fn after_a_receive_dropped_mid_payload_a_transmit_is_refused_and_the_message_stays_whole() {
    let input = [&[0xff][..], &frame(b"0123456789")].concat();
    let mut io = Gated::new(&input, 3);
    // Calls: write init, flush, read init, read header (4 bytes in 3+1), write ff, flush,
    // read 3 payload bytes, then the read that waits.
    io.stop = Some(9);
    let mut conn = AsyncConnection::with_plugins(io, VecBuffer::new(64), [Double]);
    assert!(poll_once(conn.receive()).is_none());
    conn.io_mut().stop = None;
    assert_eq!(conn.session().phase(), Phase::ReceivingPayload);
    assert_eq!(
        ready(conn.transmit(b"clobber?")),
        Err(TransmitError::Send(SendError::Busy {
            phase: Phase::ReceivingPayload
        }))
    );
    // The plugin halves the payload: every second byte of "0123456789".
    assert_eq!(
        received(ready(conn.receive())),
        Ok(Received::Message(b"02468".to_vec()))
    );
    assert_eq!(conn.into_inner().output, [0xff, 0xff]);
}

#[test]
fn a_receive_dropped_while_answering_an_empty_message_still_delivers_it_and_blocks_sends() {
    let input = [&[0xff][..], &frame(b"")].concat();
    let mut io = Gated::new(&input, 1000);
    // Calls: write init, flush, read init, read header, then the write of our 0xff waits.
    io.stop = Some(4);
    let mut conn: Conn = AsyncConnection::new(io, VecBuffer::new(8));
    assert!(poll_once(conn.receive()).is_none());
    conn.io_mut().stop = None;
    assert_eq!(
        ready(conn.transmit(b"x")),
        Err(TransmitError::Send(SendError::Busy { phase: Phase::Idle }))
    );
    assert_eq!(
        received(ready(conn.receive())),
        Ok(Received::Message(Vec::new()))
    );
    assert_eq!(conn.into_inner().output, [0xff, 0xff]);
}

/// One operation of a script both drivers play.
#[derive(Clone, Debug)]
enum Op {
    Transmit(Vec<u8>),
    Receive,
}

/// What an operation gave.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Sent(Sent),
    Received(Received<Vec<u8>>),
    /// The send could not start.
    NotSent(SendError),
    /// The connection ended.
    Ended(Error<ErrorKind>),
}

impl Outcome {
    fn of_transmit(result: Result<Sent, TransmitError<ErrorKind>>) -> Self {
        match result {
            Ok(sent) => Self::Sent(sent),
            Err(TransmitError::Send(e)) => Self::NotSent(e),
            Err(TransmitError::Connection(e)) => Self::Ended(e),
        }
    }

    fn of_receive(result: Result<Received<&[u8]>, Error<ErrorKind>>) -> Self {
        match received(result) {
            Ok(got) => Self::Received(got),
            Err(e) => Self::Ended(e),
        }
    }
}

fn play_blocking(input: &[u8], chunk: usize, ops: &[Op], limit: usize) -> (Vec<Outcome>, Vec<u8>) {
    let peer = ScriptedPeer::new(input, chunk, VecBuffer::new(usize::MAX));
    let mut conn = BlockingConnection::new(peer, VecBuffer::new(limit));
    let mut outcomes = Vec::new();
    for op in ops {
        let outcome = match op {
            Op::Transmit(msg) => Outcome::of_transmit(conn.transmit(msg)),
            Op::Receive => Outcome::of_receive(conn.receive()),
        };
        let end = matches!(outcome, Outcome::Ended(_));
        outcomes.push(outcome);
        if end {
            break;
        }
    }
    (outcomes, conn.into_inner().output().to_vec())
}

fn play_async(input: &[u8], chunk: usize, ops: &[Op], limit: usize) -> (Vec<Outcome>, Vec<u8>) {
    let peer = ScriptedPeer::new(input, chunk, VecBuffer::new(usize::MAX));
    let mut conn = AsyncConnection::new(peer, VecBuffer::new(limit));
    let mut outcomes = Vec::new();
    for op in ops {
        let outcome = match op {
            Op::Transmit(msg) => Outcome::of_transmit(ready(conn.transmit(msg))),
            Op::Receive => Outcome::of_receive(ready(conn.receive())),
        };
        let end = matches!(outcome, Outcome::Ended(_));
        outcomes.push(outcome);
        if end {
            break;
        }
    }
    (outcomes, conn.into_inner().output().to_vec())
}

/// Peer input: its init byte, then pieces that are frames, status bytes or stray bytes, so
/// that headers often arrive where we wait for a status byte (simultaneous sends, Q6).
fn peer_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|m| frame(&m)),
        Just(vec![0xff]),
        Just(vec![0x00]),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    (any::<bool>(), proptest::collection::vec(piece, 0..10)).prop_map(|(ok, pieces)| {
        let init = if ok { 0xff } else { 0xfe };
        std::iter::once(vec![init])
            .chain(pieces)
            .flatten()
            .collect()
    })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Op::Transmit),
        Just(Op::Receive),
    ];
    proptest::collection::vec(op, 0..10)
}

proptest! {
    // A few cases under Miri, which checks memory safety rather than coverage.
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 256 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn same_bytes_out_and_messages_in_as_the_blocking_driver(
        input in peer_input(),
        ops in ops(),
        chunk in prop_oneof![1usize..6, Just(usize::MAX)],
        limit in 0usize..10,
    ) {
        let blocking = play_blocking(&input, chunk, &ops, limit);
        let asynchronous = play_async(&input, chunk, &ops, limit);
        prop_assert_eq!(blocking, asynchronous);
    }
}

#[test]
fn a_simultaneous_send_is_handled_as_the_blocking_driver_does() {
    // We send "hello" while the peer sends its own 7-byte header: its first byte (0x00) reads
    // as a rejection of ours, the rest is never taken for a message.
    let input = [&[0xff][..], &frame(b"goodbye")].concat();
    let ops = [Op::Transmit(b"hello".to_vec()), Op::Receive, Op::Receive];
    for chunk in [1, 3, usize::MAX] {
        let (outcomes, wire) = play_async(&input, chunk, &ops, 64);
        assert_eq!(outcomes[0], Outcome::Sent(Sent::Rejected { len: 5 }));
        assert!(
            outcomes
                .iter()
                .all(|o| !matches!(o, Outcome::Received(Received::Message(_)))),
            "{outcomes:?}"
        );
        assert_eq!((outcomes, wire), play_blocking(&input, chunk, &ops, 64));
    }
}
