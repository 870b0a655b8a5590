//! Target `session`: the polled driver ([`Connection::poll`], the one I/O step every driver
//! shares) fed by the fuzzer, which also picks every read and write chunk and when sends start.
//!
//! The first byte picks one of two games:
//! * **stream** (even): our side receives an arbitrary byte stream, then end of stream. A
//!   plain decoder of the wire format ([`model`]) says which messages must be delivered, which
//!   refused, which answers we must write and how the connection must end; the driver must
//!   agree exactly, and its receive buffer must never hold more than its limit.
//! * **pair** (odd): two of our connections over in-memory pipes, the peer sending messages of
//!   random lengths (some above our limit); every message must be delivered whole, in order,
//!   or refused with the peer told so, and neither side may fail.

use crate::input::Input;
use crate::pipe::{Budget, End};
use std::collections::VecDeque;
use tinyproto_core::buffer::{Buffer, VecBuffer};
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::plugin::Plugins;
use tinyproto_core::session::{Phase, ProtocolError};
use tinyproto_core::wire::{HEADER_LEN, SC_CONLIMIT, SC_GENERIC_ERROR, SC_OK};

/// The driver's error over the in-memory pipes.
pub type Error = tinyproto_core::Error<core::convert::Infallible>;

/// Largest receive limit the games use.
const MAX_LIMIT: u16 = 4096;

/// Runs the game the first byte picks.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    if input.byte() % 2 == 0 {
        stream(&mut input);
    } else {
        pair(&mut input, Vec::new);
    }
}

/// What the receiving side must do with a byte stream: the [`model`]'s verdict.
#[derive(Debug, PartialEq, Eq)]
pub struct Expected {
    /// Messages delivered, in order.
    pub messages: Vec<Vec<u8>>,
    /// Lengths announced above the limit, in order.
    pub refused: Vec<u32>,
    /// Everything we write: our init byte, then one answer per header.
    pub output: Vec<u8>,
    /// How the connection ends at end of stream.
    pub end: Error,
}

/// Decodes `stream` (the peer's bytes until it closes) as a receiver with `limit` would.
pub fn model(stream: &[u8], limit: u32) -> Expected {
    let mut e = Expected {
        messages: Vec::new(),
        refused: Vec::new(),
        output: vec![SC_OK],
        end: Error::Closed,
    };
    let eof = |phase, missing: usize| {
        Error::Protocol(ProtocolError::UnexpectedEof {
            phase,
            missing: missing as u32,
        })
    };
    let Some((&init, mut rest)) = stream.split_first() else {
        e.end = eof(Phase::Handshake, 1);
        return e;
    };
    e.end = match init {
        SC_OK => Error::Closed,
        SC_CONLIMIT => Error::Protocol(ProtocolError::ConnectionLimit),
        SC_GENERIC_ERROR => Error::Protocol(ProtocolError::InitRefused),
        byte => Error::Protocol(ProtocolError::BadInitByte { byte }),
    };
    if e.end != Error::Closed {
        return e;
    }
    while !rest.is_empty() {
        if rest.len() < HEADER_LEN {
            e.end = eof(Phase::Header, HEADER_LEN - rest.len());
            return e;
        }
        let (header, after) = rest.split_at(HEADER_LEN);
        let len = u32::from_be_bytes(header.try_into().expect("four bytes"));
        rest = after;
        if len > limit {
            e.output.push(SC_GENERIC_ERROR);
            e.refused.push(len);
            continue;
        }
        e.output.push(SC_OK);
        let len = len as usize;
        if rest.len() < len {
            e.end = eof(Phase::ReceivingPayload, len - rest.len());
            return e;
        }
        let (payload, after) = rest.split_at(len);
        e.messages.push(payload.to_vec());
        rest = after;
    }
    e
}

/// The stream game: a limit, a stream, then the chunk schedule.
pub fn stream(input: &mut Input<'_>) {
    let limit = input.u16() % (MAX_LIMIT + 1);
    let len = usize::from(input.u16());
    let stream = input.take(len);
    let want = model(stream, u32::from(limit));

    let limit = usize::from(limit);
    let mut conn = Connection::new(VecBuffer::new(limit), VecBuffer::new(limit));
    let mut inbox: VecDeque<u8> = stream.iter().copied().collect();
    let mut outbox = VecDeque::new();
    let mut got = Expected {
        messages: Vec::new(),
        refused: Vec::new(),
        output: Vec::new(),
        end: Error::Closed,
    };
    let mut polls = 0;
    got.end = loop {
        polls += 1;
        assert!(
            polls < 2 * stream.len() + 1000,
            "no end after {polls} polls"
        );
        let mut io = End {
            inbox: &mut inbox,
            outbox: &mut outbox,
            eof: true,
            read: Budget::pick(input),
            write: Budget::pick(input),
        };
        let result = conn.poll(&mut io, 0);
        let rx = conn.rx_buffer_mut();
        assert!(rx.capacity() <= limit, "{} bytes held", rx.capacity());
        assert!(rx.reusable_len() <= stream.len() + stream.len() / 4 + (64 << 10));
        match result {
            Ok(Some(Event::Received)) => got.messages.push(conn.message().to_vec()),
            Ok(Some(Event::Refused { len, .. })) => got.refused.push(len),
            Ok(Some(Event::HandshakeDone) | None) => {}
            Ok(Some(other)) => panic!("{other:?} without a send or plugins"),
            Err(e) => break e,
        }
    };
    got.output = outbox.into_iter().collect();
    assert_eq!(got, want);
    assert_eq!(conn.session().phase(), Phase::Closed);
}

/// The pair game with a plugin chain on both sides (made by `chain`): our limit, the
/// messages the peer sends, then the schedule (budgets of each side, when sends start).
pub fn pair<P: Plugins>(input: &mut Input<'_>, chain: impl Fn() -> P) {
    let limit = usize::from(input.u16() % (MAX_LIMIT + 1));
    let count = input.byte() % 6;
    let msgs: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let len = usize::from(input.u16()) % (limit + 65);
            (0..len).map(|j| (j * 31 + usize::from(i)) as u8).collect()
        })
        .collect();
    // What goes on the wire: each message through the peer's transmit plugins.
    let wire_len = |msg: &[u8]| {
        let mut buf = VecBuffer::new(1 << 20);
        buf.set(msg).expect("fits");
        chain()
            .transmit(&mut buf)
            .expect("a chain that transmits anything");
        buf.as_slice().len()
    };
    let wire: Vec<usize> = msgs.iter().map(|m| wire_len(m)).collect();

    let mut ours = Connection::with_plugins(VecBuffer::new(limit), VecBuffer::new(limit), chain());
    let mut peer = Connection::with_plugins(VecBuffer::new(0), VecBuffer::new(1 << 20), chain());
    let (mut to_us, mut to_peer) = (VecDeque::new(), VecDeque::new());
    let (mut delivered, mut refused, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = 0;
    for round in 0.. {
        assert!(round < 100_000, "no end");
        let drain = input.is_empty();
        if peer.can_send() && next < msgs.len() && (drain || input.byte() % 2 == 1) {
            peer.send(&msgs[next]).expect("an idle peer sends");
            next += 1;
        }
        let mut io = End {
            inbox: &mut to_us,
            outbox: &mut to_peer,
            eof: false,
            read: Budget::pick(input),
            write: Budget::pick(input),
        };
        for _ in 0..16 {
            let result = ours.poll(&mut io, 0);
            let rx = ours.rx_buffer_mut();
            assert!(rx.capacity() <= limit, "{} bytes held", rx.capacity());
            match result {
                Ok(None) => break,
                Ok(Some(Event::Received)) => delivered.push(ours.message().to_vec()),
                Ok(Some(Event::HandshakeDone)) => {}
                Ok(Some(Event::Refused { len, .. })) => refused.push(len as usize),
                other => panic!("our side: {other:?}"),
            }
        }
        let mut io = End {
            inbox: &mut to_peer,
            outbox: &mut to_us,
            eof: false,
            read: Budget::pick(input),
            write: Budget::pick(input),
        };
        for _ in 0..16 {
            match peer.poll(&mut io, 0) {
                Ok(None) => break,
                Ok(Some(Event::Sent)) => outcomes.push(true),
                Ok(Some(Event::Rejected { .. })) => outcomes.push(false),
                Ok(Some(Event::HandshakeDone)) => {}
                other => panic!("peer: {other:?}"),
            }
        }
        let quiet = to_us.is_empty() && to_peer.is_empty() && ours.can_send();
        if drain && next == msgs.len() && outcomes.len() == msgs.len() && quiet {
            break;
        }
    }
    let accepted: Vec<bool> = wire.iter().map(|&len| len <= limit).collect();
    assert_eq!(outcomes, accepted, "the peer's verdicts");
    let kept = msgs.iter().zip(&accepted).filter(|(_, &ok)| ok);
    assert_eq!(delivered, kept.map(|(m, _)| m.clone()).collect::<Vec<_>>());
    let too_large = wire.iter().filter(|&&len| len > limit).copied();
    assert_eq!(refused, too_large.collect::<Vec<_>>());
}
