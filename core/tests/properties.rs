//! Properties of the core: exact wire bytes, any chunking, hostile input.

use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::VecDeque;
use tinyproto_core::buffer::SliceBuffer;
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::script::ScriptedPeer;
use tinyproto_core::session::{Phase, ProtocolError};
use tinyproto_core::transport::Transport;
use tinyproto_core::{BlockingConnection, Error, Received, Sent};

/// Largest message; smaller under Miri, which interprets every byte moved.
const MAX: usize = if cfg!(miri) { 2 * 1024 } else { 64 * 1024 };
/// Cases per property: a few under Miri (which checks memory safety, not coverage).
const CASES: u32 = if cfg!(miri) { 3 } else { 48 };

fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Mostly small messages, some up to 64 KiB.
    let one = prop_oneof![
        4 => vec(any::<u8>(), 0..64),
        1 => vec(any::<u8>(), 0..=MAX),
    ];
    vec(one, 0..12)
}

/// What a sender puts on the wire for `msgs` when every header is accepted.
fn sender_stream(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0xff];
    for m in msgs {
        out.extend_from_slice(&(m.len() as u32).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

fn storage() -> Vec<u8> {
    vec![0; MAX]
}

/// One direction of an in-memory link, read and written in chunks of varying sizes.
struct End<'a> {
    inbox: &'a mut VecDeque<u8>,
    outbox: &'a mut VecDeque<u8>,
    chunks: &'a [usize],
    turn: usize,
}

impl End<'_> {
    fn chunk(&mut self) -> usize {
        self.turn += 1;
        self.chunks[self.turn % self.chunks.len()]
    }
}

impl Transport for End<'_> {
    type Error = core::convert::Infallible;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        let n = buf.len().min(self.chunk()).min(self.inbox.len());
        if n == 0 {
            return Ok(None);
        }
        for (slot, byte) in buf.iter_mut().zip(self.inbox.drain(..n)) {
            *slot = byte;
        }
        Ok(Some(n))
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        let n = buf.len().min(self.chunk());
        self.outbox.extend(&buf[..n]);
        Ok(Some(n))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Two polled connections wired back to back deliver every message intact, in both
    /// directions (taking turns, as the protocol requires), whatever the chunking.
    #[test]
    fn back_to_back_connections_deliver_everything(
        msgs in messages(),
        directions in vec(any::<bool>(), 12),
        chunks in vec(1usize..5000, 1..8),
    ) {
        let (mut a_rx, mut a_tx, mut b_rx, mut b_tx) = (storage(), storage(), storage(), storage());
        let mut a = Connection::new(SliceBuffer::new(&mut a_rx), SliceBuffer::new(&mut a_tx));
        let mut b = Connection::new(SliceBuffer::new(&mut b_rx), SliceBuffer::new(&mut b_tx));
        let (mut ab, mut ba) = (VecDeque::new(), VecDeque::new());
        let mut done = [false, false];
        for (i, msg) in msgs.iter().enumerate() {
            let a_sends = directions[i % directions.len()];
            let (tx_side, rx_side) = if a_sends { (0, 1) } else { (1, 0) };
            let mut sent = false;
            let mut received = None;
            let mut started = false;
            // Each round polls both ends once; a message needs a bounded number of rounds.
            for _round in 0..200_000 {
                for side in [0, 1] {
                    let (conn, inbox, outbox) = if side == 0 {
                        (&mut a, &mut ba, &mut ab)
                    } else {
                        (&mut b, &mut ab, &mut ba)
                    };
                    if side == tx_side && !started && conn.can_send() {
                        conn.send(msg).unwrap();
                        started = true;
                    }
                    let mut end = End { inbox, outbox, chunks: &chunks, turn: i + side };
                    match conn.poll(&mut end, 0).unwrap() {
                        Some(Event::HandshakeDone) => done[side] = true,
                        Some(Event::Sent) => sent = true,
                        Some(Event::Received) => {
                            prop_assert_eq!(side, rx_side);
                            received = Some(conn.message().to_vec());
                        }
                        Some(other) => prop_assert!(false, "unexpected {:?}", other),
                        None => {}
                    }
                }
                if sent && received.is_some() {
                    break;
                }
            }
            prop_assert!(done[0] && done[1]);
            prop_assert!(sent, "message {} was not sent", i);
            prop_assert_eq!(received.as_ref(), Some(msg));
        }
    }

    /// A blocking receiver fed a sender's exact stream at any chunk size delivers every
    /// message and answers exactly one `0xff` per message; a blocking sender answered `0xff`
    /// writes exactly the canonical stream.
    #[test]
    fn blocking_driver_wire_bytes_are_exact(msgs in messages(), chunk in 1usize..2000) {
        let stream = sender_stream(&msgs);
        let mut out = storage();
        let peer = ScriptedPeer::new(&stream, chunk, SliceBuffer::new(&mut out));
        let mut rx = storage();
        let mut conn = BlockingConnection::new(peer, SliceBuffer::new(&mut rx));
        for m in &msgs {
            prop_assert_eq!(conn.receive().unwrap(), Received::Message(&m[..]));
        }
        prop_assert_eq!(conn.receive(), Err(Error::Closed));
        let peer = conn.into_inner();
        prop_assert_eq!(peer.output(), &vec![0xff; msgs.len() + 1][..]);

        let answers = vec![0xff; msgs.len() + 1];
        let mut out = vec![0; stream.len()];
        let peer = ScriptedPeer::new(&answers, chunk, SliceBuffer::new(&mut out));
        let mut conn = BlockingConnection::new(peer, heapless::Vec::<u8, 0>::new());
        conn.handshake().unwrap();
        for m in &msgs {
            prop_assert_eq!(conn.transmit(m).unwrap(), Sent::Written);
        }
        let peer = conn.into_inner();
        prop_assert_eq!(peer.output(), &stream[..]);
    }

    /// Any byte stream gives messages or typed errors: never a panic, never a hang, and the
    /// receiver never delivers more bytes than arrived.
    #[test]
    fn garbage_never_panics(input in vec(any::<u8>(), 0..4096), chunk in 1usize..64) {
        let mut out = vec![0; 8192];
        let peer = ScriptedPeer::new(&input, chunk, SliceBuffer::new(&mut out));
        let mut rx = [0u8; 512];
        let mut conn = BlockingConnection::new(peer, SliceBuffer::new(&mut rx));
        let mut delivered = 0;
        // Each receive consumes at least one byte or ends the session.
        for _ in 0..=input.len() {
            match conn.receive() {
                Ok(Received::Message(m)) => delivered += m.len(),
                Ok(Received::Refused { .. } | Received::Discarded(_)) => {}
                Err(_) => break,
            }
        }
        prop_assert!(delivered <= input.len());
        prop_assert_eq!(conn.session().phase(), Phase::Closed);
    }

    /// After a header above the limit is answered `0x00`, the next message still arrives.
    #[test]
    fn oversize_refusal_keeps_the_stream_in_sync(
        limit in 0usize..256,
        excess in 1u32..1_000_000,
        next in vec(any::<u8>(), 0..256),
        chunk in 1usize..16,
    ) {
        let big = limit as u32 + excess;
        let next = &next[..next.len().min(limit)];
        let mut input = vec![0xff];
        input.extend_from_slice(&big.to_be_bytes());
        input.extend_from_slice(&(next.len() as u32).to_be_bytes());
        input.extend_from_slice(next);
        let mut out = [0u8; 8];
        let peer = ScriptedPeer::new(&input, chunk, SliceBuffer::new(&mut out));
        let mut rx = vec![0u8; limit];
        let mut conn = BlockingConnection::new(peer, SliceBuffer::new(&mut rx));
        let refused = Received::Refused { len: big, limit: limit as u32 };
        prop_assert_eq!(conn.receive(), Ok(refused));
        prop_assert_eq!(conn.receive().unwrap(), Received::Message(next));
        let peer = conn.into_inner();
        prop_assert_eq!(peer.output(), &[0xff, 0x00, 0xff]);
    }

    /// A stream cut inside a header or payload is `UnexpectedEof` with the missing count;
    /// the complete messages before it arrive, and nothing partial is delivered.
    #[test]
    fn truncation_is_an_error_and_nothing_partial_is_delivered(
        msgs in vec(vec(any::<u8>(), 0..300), 1..5),
        cut_seed in any::<usize>(),
        chunk in 1usize..50,
    ) {
        let stream = sender_stream(&msgs);
        // Cut strictly inside the last message (its header or payload).
        let last_len = 4 + msgs.last().unwrap().len();
        let last_start = stream.len() - last_len;
        let cut = last_start + 1 + cut_seed % (last_len - 1).max(1);
        prop_assume!(cut < stream.len());
        let mut out = vec![0u8; 64];
        let peer = ScriptedPeer::new(&stream[..cut], chunk, SliceBuffer::new(&mut out));
        let mut rx = vec![0u8; 512];
        let mut conn = BlockingConnection::new(peer, SliceBuffer::new(&mut rx));
        for m in &msgs[..msgs.len() - 1] {
            prop_assert_eq!(conn.receive().unwrap(), Received::Message(&m[..]));
        }
        let got = cut - last_start;
        let (phase, missing) = if got < 4 {
            (Phase::Header, 4 - got)
        } else {
            (Phase::ReceivingPayload, last_len - got)
        };
        let eof = ProtocolError::UnexpectedEof { phase, missing: missing as u32 };
        prop_assert_eq!(conn.receive(), Err(Error::Protocol(eof)));
    }
}

#[test]
fn rejected_message_sends_no_payload_and_stays_usable() {
    let answers = [0xff, 0x00, 0xff];
    let mut out = [0u8; 32];
    let peer = ScriptedPeer::new(&answers, 1, SliceBuffer::new(&mut out));
    let mut conn = BlockingConnection::new(peer, heapless::Vec::<u8, 0>::new());
    assert_eq!(conn.transmit(b"big"), Ok(Sent::Rejected { len: 3 }));
    assert_eq!(conn.transmit(b"ok"), Ok(Sent::Written));
    let wire = conn.into_inner();
    assert_eq!(wire.output(), b"\xff\0\0\0\x03\0\0\0\x02ok");
}

#[test]
fn init_byte_errors_are_typed() {
    for (byte, err) in [
        (0xfe, ProtocolError::ConnectionLimit),
        (0x00, ProtocolError::InitRefused),
        (0x42, ProtocolError::BadInitByte { byte: 0x42 }),
    ] {
        let input = [byte];
        let mut out = [0u8; 4];
        let peer = ScriptedPeer::new(&input, 1, SliceBuffer::new(&mut out));
        let mut conn = BlockingConnection::new(peer, heapless::Vec::<u8, 8>::new());
        assert_eq!(conn.handshake(), Err(Error::Protocol(err)));
        assert_eq!(
            conn.receive(),
            Err(Error::Closed),
            "a failed session stays closed"
        );
    }
}
