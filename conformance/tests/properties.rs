//! Properties of our core as a tinyproto peer, with `proptest`: any message sequence
//! round-trips between a Rust sender and receiver under any chunking; arbitrary garbage never
//! panics; a refusal keeps the stream in sync; plugins apply in order.

use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use tinyproto_conformance::plugins::{self, Chain};
use tinyproto_conformance::replay::{play_scripted, Driver};
use tinyproto_conformance::role::{Behaviour, Role};
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::transport::Transport;
use tinyproto_core::Error;

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
        let mut inbox = self.inbox.borrow_mut();
        if inbox.is_empty() {
            return Ok(None);
        }
        let n = buf.len().min(self.chunk).min(inbox.len());
        for (slot, byte) in buf.iter_mut().zip(inbox.drain(..n)) {
            *slot = byte;
        }
        Ok(Some(n))
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        let n = buf.len().min(self.chunk);
        self.outbox.borrow_mut().extend(&buf[..n]);
        self.written.extend_from_slice(&buf[..n]);
        Ok(Some(n))
    }
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
            Err(Error::Rejected { .. }) => out.rejected += 1,
            Ok(_) => {}
            Err(e) => panic!("sender: {e:?}"),
        }
        match b.poll(&mut b_io, 0) {
            Ok(Some(Event::Received)) => out.delivered.push(b.message().to_vec()),
            Err(Error::TooLarge { .. }) => out.refused += 1,
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

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
        polled in any::<bool>(),
    ) {
        let driver = if polled { Driver::Polled } else { Driver::Blocking };
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
