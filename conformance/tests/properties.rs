//! Properties of our core as a tinyproto peer, with `proptest`: any message sequence
//! round-trips between a Rust sender and receiver under any chunking; arbitrary garbage never
//! panics; a refusal keeps the stream in sync; plugins apply in order; a send started while
//! the answer to an empty message or a refusal is still owed puts that answer on the wire
//! first, then its header.

use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use tinyproto_conformance::plugins::{self, Chain};
use tinyproto_conformance::replay::{play_scripted, Driver};
use tinyproto_conformance::role::{Behaviour, Role};
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::script::ScriptedPeer;
use tinyproto_core::transport::Transport;
use tinyproto_core::wire::{LengthHeader, SC_GENERIC_ERROR, SC_OK};
use tinyproto_core::{BlockingConnection, Received, Sent};

type Wire = Rc<RefCell<VecDeque<u8>>>;

/// One end of an in-memory TCP connection that moves at most `chunk` bytes per call.
struct End {
    inbox: Wire,
    outbox: Wire,
    chunk: usize,
    /// Everything this end wrote.
    written: Vec<u8>,
}

impl Transport for End {
    type Error = std::convert::Infallible;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        Ok(take(&mut self.inbox.borrow_mut(), buf, self.chunk))
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        let n = buf.len().min(self.chunk);
        self.outbox.borrow_mut().extend(&buf[..n]);
        self.written.extend_from_slice(&buf[..n]);
        Ok(Some(n))
    }
}

/// Moves at most `chunk` bytes from `inbox` to `buf`; `None` ("not ready") when it is empty.
fn take(inbox: &mut VecDeque<u8>, buf: &mut [u8], chunk: usize) -> Option<usize> {
    if inbox.is_empty() {
        return None;
    }
    let n = buf.len().min(chunk).min(inbox.len());
    for (slot, byte) in buf.iter_mut().zip(inbox.drain(..n)) {
        *slot = byte;
    }
    Some(n)
}

/// What the receiver got and the sender was told.
#[derive(Debug, Default)]
struct Exchange {
    delivered: Vec<Vec<u8>>,
    refused: usize,
    rejected: usize,
    wire: Vec<u8>,
}

/// Sends `msgs` from one Rust connection to another (receive limit `max_len`), each side
/// moving at most its own chunk size per call, both stepped in turn.
fn exchange(
    msgs: &[Vec<u8>],
    chunks: (usize, usize),
    max_len: usize,
    plugins: &[&str],
) -> Exchange {
    let (a_to_b, b_to_a) = (Wire::default(), Wire::default());
    let mut a_io = End {
        inbox: b_to_a.clone(),
        outbox: a_to_b.clone(),
        chunk: chunks.0,
        written: Vec::new(),
    };
    let mut b_io = End {
        inbox: a_to_b,
        outbox: b_to_a,
        chunk: chunks.1,
        written: Vec::new(),
    };
    let chain = || -> Chain { plugins::chain(plugins).unwrap() };
    let big = || VecBuffer::new(1 << 20);
    let mut a = Connection::with_plugins(big(), big(), chain());
    let mut b = Connection::with_plugins(VecBuffer::new(max_len), big(), chain());
    let mut out = Exchange::default();
    let mut next = 0;
    let mut handshaken = false;
    // Every step moves at least one byte while work is left; this bounds a stuck exchange.
    for _ in 0..50_000 {
        if handshaken && a.can_send() && next < msgs.len() {
            a.send(&msgs[next]).unwrap();
            next += 1;
        }
        match a.poll(&mut a_io, 0) {
            Ok(Some(Event::HandshakeDone)) => handshaken = true,
            Ok(Some(Event::Rejected { .. })) => out.rejected += 1,
            Ok(_) => {}
            Err(e) => panic!("sender: {e:?}"),
        }
        match b.poll(&mut b_io, 0) {
            Ok(Some(Event::Received)) => out.delivered.push(b.message().to_vec()),
            Ok(Some(Event::Refused { .. })) => out.refused += 1,
            Ok(_) => {}
            Err(e) => panic!("receiver: {e:?}"),
        }
        if next == msgs.len() && a.can_send() && out.delivered.len() + out.refused == msgs.len() {
            out.wire = a_io.written;
            return out;
        }
    }
    panic!("exchange did not finish: {out:?}");
}

fn messages(max_len: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..max_len), 0..6)
}

fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..8, 8usize..2000, Just(usize::MAX)]
}

/// Receive limit of the connections that answer first: larger headers are refused.
const OWED_LIMIT: usize = 16;

/// What the peer sends first: an empty message (answered `ff`) or a header above
/// [`OWED_LIMIT`] (answered `00`); the header and the answer owed to it.
fn first_header() -> impl Strategy<Value = ([u8; 4], u8)> {
    prop_oneof![
        Just((LengthHeader::new(0).to_bytes(), SC_OK)),
        (OWED_LIMIT as u32 + 1..=u32::MAX).prop_map(|len| (len.to_be_bytes(), SC_GENERIC_ERROR)),
    ]
}

/// A peer whose writes can be held back (the socket's send buffer is full) and then taken in
/// chunks of at most `write_chunk`; reads come from `input`, at most `read_chunk` at a time.
struct Gated {
    input: VecDeque<u8>,
    read_chunk: usize,
    writes_open: bool,
    write_chunk: usize,
    written: Vec<u8>,
}

impl Transport for Gated {
    type Error = std::convert::Infallible;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        Ok(take(&mut self.input, buf, self.read_chunk))
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        if !self.writes_open {
            return Ok(None);
        }
        let n = buf.len().min(self.write_chunk);
        self.written.extend_from_slice(&buf[..n]);
        Ok(Some(n))
    }
}

/// The wire bytes our side must write: init byte, the owed answer, then our message.
fn answer_then_message(answer: u8, msg: &[u8]) -> Vec<u8> {
    let header = LengthHeader::new(msg.len() as u32).to_bytes();
    [&[SC_OK, answer][..], &header, msg].concat()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// `Connection::poll`: the answer cannot be written when the event fires (writes held
    /// back); `send` is accepted all the same and queues its header behind the answer.
    #[test]
    fn polled_a_send_behind_an_owed_answer_writes_the_answer_first(
        (header, answer) in first_header(),
        msg in prop::collection::vec(any::<u8>(), 0..64),
        read_chunk in chunk(),
        write_chunk in chunk(),
    ) {
        let mut io = Gated {
            input: VecDeque::from([SC_OK]),
            read_chunk,
            writes_open: true,
            write_chunk,
            written: Vec::new(),
        };
        let mut conn = Connection::new(VecBuffer::new(OWED_LIMIT), VecBuffer::new(1 << 10));
        let mut polls = 0;
        while conn.poll(&mut io, 0) != Ok(Some(Event::HandshakeDone)) {
            polls += 1;
            prop_assert!(polls < 100, "no handshake");
        }
        prop_assert_eq!(&io.written, &[SC_OK]);
        // The peer's first header arrives while our socket takes nothing.
        io.writes_open = false;
        io.input.extend(header);
        let event = loop {
            match conn.poll(&mut io, 0) {
                Ok(None) => {}
                other => break other,
            }
            polls += 1;
            prop_assert!(polls < 200, "no event for the first header");
        };
        if answer == SC_OK {
            prop_assert_eq!(event, Ok(Some(Event::Received)));
            prop_assert_eq!(conn.message(), b"");
        } else {
            let len = u32::from_be_bytes(header);
            prop_assert_eq!(event, Ok(Some(Event::Refused { len, limit: OWED_LIMIT as u32 })));
        }
        prop_assert_eq!(conn.session().pending_output(), &[answer]);
        prop_assert!(conn.can_send(), "send must not be Busy between messages");
        conn.send(&msg).unwrap();
        let header_out = LengthHeader::new(msg.len() as u32).to_bytes();
        prop_assert_eq!(conn.session().pending_output(), &[&[answer][..], &header_out].concat()[..]);
        // The socket drains; the peer accepts our header.
        io.writes_open = true;
        io.input.push_back(SC_OK);
        loop {
            match conn.poll(&mut io, 0) {
                Ok(Some(Event::Sent)) => break,
                Ok(_) => {}
                Err(e) => prop_assert!(false, "sending: {e:?}"),
            }
            polls += 1;
            prop_assert!(polls < 1000, "not sent");
        }
        prop_assert_eq!(io.written, answer_then_message(answer, &msg));
    }

    /// `BlockingConnection`: `receive` returns only once the answer is written, so the send
    /// always comes after it; the wire bytes are the same as with the polled driver.
    #[test]
    fn blocking_a_send_after_an_empty_message_or_a_refusal_follows_the_answer(
        (header, answer) in first_header(),
        msg in prop::collection::vec(any::<u8>(), 0..64),
        read_chunk in chunk(),
    ) {
        let input = [&[SC_OK][..], &header, &[SC_OK]].concat();
        let peer = ScriptedPeer::new(&input, read_chunk, VecBuffer::new(usize::MAX));
        let mut conn = BlockingConnection::new(peer, VecBuffer::new(OWED_LIMIT));
        match conn.receive() {
            Ok(Received::Message(m)) => prop_assert!(answer == SC_OK && m.is_empty(), "got {:?}", m),
            Ok(Received::Refused { .. }) => prop_assert_eq!(answer, SC_GENERIC_ERROR),
            other => prop_assert!(false, "receive: {other:?}"),
        }
        prop_assert_eq!(conn.io_mut().output(), &[SC_OK, answer]);
        prop_assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
        prop_assert_eq!(conn.io_mut().output(), &answer_then_message(answer, &msg)[..]);
    }

    #[test]
    fn any_messages_round_trip_under_any_chunking(
        msgs in messages(64 * 1024), ca in chunk(), cb in chunk()
    ) {
        let out = exchange(&msgs, (ca, cb), 1 << 20, &[]);
        prop_assert_eq!(out.delivered, msgs);
    }

    #[test]
    fn a_refusal_keeps_the_stream_in_sync(
        msgs in messages(4096), limit in 0usize..4096, ca in chunk(), cb in chunk()
    ) {
        let out = exchange(&msgs, (ca, cb), limit, &[]);
        let fitting: Vec<Vec<u8>> = msgs.iter().filter(|m| m.len() <= limit).cloned().collect();
        let too_big = msgs.len() - fitting.len();
        prop_assert_eq!(out.delivered, fitting);
        prop_assert_eq!((out.refused, out.rejected), (too_big, too_big));
    }

    #[test]
    fn plugins_apply_in_order_on_transmit_and_in_reverse_on_receive(
        msg in prop::collection::vec(any::<u8>(), 0..4096), ca in chunk(), cb in chunk()
    ) {
        let out = exchange(std::slice::from_ref(&msg), (ca, cb), 1 << 20, &["xor5a", "bang"]);
        prop_assert_eq!(&out.delivered, &vec![msg.clone()]);
        // On the wire: xor5a first, then bang's '!' (unxored), as Python's [xor5a, bang].
        let mut payload: Vec<u8> = msg.iter().map(|b| b ^ 0x5a).collect();
        payload.push(b'!');
        prop_assert!(out.wire.ends_with(&payload));
    }

    #[test]
    fn garbage_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        chunk in chunk(),
        role in prop_oneof![Just(Role::Client), Just(Role::Server)],
        driver in prop::sample::select(Driver::ALL.to_vec()),
    ) {
        // Plays the echo server or a lockstep client (one message) against arbitrary bytes:
        // it must end, with an error or a clean close, and never panic.
        let behaviour = match role {
            Role::Client => Behaviour::client(vec![b"hello".to_vec()], &[]),
            Role::Server => Behaviour::echo_server(&[]),
        };
        let replay = play_scripted(&bytes, &behaviour, driver, chunk);
        prop_assert!(replay.output.first() == Some(&0xff));
    }
}
