//! One connection driven without a socket, a clock or a thread: a scripted stream, a fake
//! time, and its hooks run by a direct call where the reactor would hand them to a hook thread.

use super::*;
use crate::config::{ConnSettings, Timeouts};
use crate::error::Error;
use crate::id::ConnId;
use crate::mailbox::{Link, Shared};
use crate::protocol::protocol;
use crate::spares::Spares;
use std::cell::RefCell;
use std::io::{self, ErrorKind, IoSliceMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The peer's side of the socket: what it sent and we did not read yet, what we wrote, and how
/// much more the socket takes.
#[derive(Default)]
struct Pipe {
    input: VecDeque<u8>,
    output: Vec<u8>,
    room: usize,
}

#[derive(Clone, Default)]
struct Script(Rc<RefCell<Pipe>>);

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_vectored(&mut [IoSliceMut::new(buf)])
    }
    /// Like a socket: what there is, spread over the buffers.
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut pipe = self.0.borrow_mut();
        if pipe.input.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(pipe.input.len());
            for (b, byte) in buf.iter_mut().zip(pipe.input.drain(..take)) {
                *b = byte;
            }
            n += take;
        }
        Ok(n)
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pipe = self.0.borrow_mut();
        let n = buf.len().min(pipe.room);
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        pipe.room -= n;
        pipe.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Echoes every message; panics on `b"panic"`.
struct Echo;

impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        assert_ne!(msg, b"panic", "the hook panics");
        let _ = conn.transmit(msg);
    }
}

/// One connection, its peer, the time, and the budget it shares.
struct Harness {
    entry: Entry<Script>,
    peer: Script,
    now: u64,
}

/// A link to no reactor: what the entry would tell it is dropped.
fn handle() -> ConnectionHandle {
    let poll = mio::Poll::new().expect("an epoll instance");
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("a waker"));
    let (commands, _) = mpsc::channel();
    let (link, _) = Link::new(commands, waker);
    let addr = "127.0.0.1:1".parse().unwrap();
    let shared = Shared::new((ConnId(1), 0), (addr, addr), (16, 1 << 20), link);
    ConnectionHandle {
        shared: Arc::new(shared),
    }
}

impl Harness {
    /// A connection that accepts messages of up to `limit` bytes, with a 300 ms stall limit;
    /// the peer sent its init byte and reads whatever we write.
    fn new(limit: usize) -> Self {
        let settings = ConnSettings {
            max_message_size: limit,
            timeouts: Timeouts {
                stall: Some(Duration::from_millis(300)),
                ..Timeouts::NONE
            },
            ..ConnSettings::default()
        };
        let peer = Script::default();
        peer.0.borrow_mut().room = usize::MAX;
        let conn = protocol(&settings, &Spares::new(0));
        let mut harness = Self {
            entry: Entry::new(handle(), peer.clone(), conn, None),
            peer,
            now: 0,
        };
        harness.send(&[0xff]);
        harness
    }

    /// The peer sends `bytes`, and the socket says it is readable.
    fn send(&mut self, bytes: &[u8]) {
        self.peer.0.borrow_mut().input.extend(bytes);
        self.entry.readable(false);
    }

    /// What we wrote since the last call.
    fn written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.peer.0.borrow_mut().output)
    }

    /// Drives the connection, then runs its hooks the way inline hooks run, until nothing
    /// moves; an error is why it closed.
    fn drive(&mut self, budget: &mut Budget) -> Result<(), CloseReason> {
        loop {
            self.entry.drive(self.now, budget)?;
            let Some((handler, call)) = self.entry.next_call() else {
                return Ok(());
            };
            let mut conn = Conn::inline(self.entry.handle.clone(), Vec::new());
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let mut handler = handler.unwrap_or_else(|| Box::new(Echo));
                call.run(&mut *handler, &mut conn);
                handler
            }));
            let (shutdown, sent) = conn.finish();
            for msg in sent {
                self.entry.queue(msg, None);
            }
            if let Some(reason) = self.entry.hook_done(outcome.ok(), shutdown) {
                let _ = self.entry.close(reason.clone());
                return Err(reason);
            }
        }
    }

    /// Moves the clock to when the connection asked to be polled, and drives it.
    fn wait(&mut self, budget: &mut Budget) -> Result<(), CloseReason> {
        self.now = self.entry.poll_at().expect("a timer");
        self.drive(budget)
    }
}

fn header(len: u32) -> [u8; 4] {
    len.to_be_bytes()
}

fn budget() -> Budget {
    Budget::new(usize::MAX)
}

#[test]
fn a_message_goes_to_the_hook_and_its_echo_back_in_lockstep() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), [0xff], "our init byte");
    h.send(&[0, 0, 0, 2, b'h', b'i']);
    h.drive(&mut budget).unwrap();
    assert_eq!(
        h.written(),
        [&[0xff][..], &header(2)].concat(),
        "go ahead, then the echo's header"
    );
    h.send(&[0xff]);
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), b"hi");
}

#[test]
fn an_oversize_message_is_refused_and_the_next_one_accepted() {
    let (mut h, mut budget) = (Harness::new(4), budget());
    h.drive(&mut budget).unwrap();
    h.written();
    h.send(&header(5));
    h.send(&header(1));
    h.send(b"x");
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), [&[0x00, 0xff][..], &header(1)].concat());
}

#[test]
fn an_answer_owed_to_a_peer_that_reads_nothing_goes_out_when_it_reads() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.drive(&mut budget).unwrap();
    h.written();
    h.peer.0.borrow_mut().room = 0;
    h.send(&header(0)); // an empty message: we owe `0xff`
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), b"");
    assert!(
        h.entry.poll_at().is_some_and(|at| at < 300),
        "a probe before the stall limit"
    );
    h.peer.0.borrow_mut().room = 1;
    h.wait(&mut budget).unwrap();
    assert_eq!(h.written(), [0xff]);
}

#[test]
fn a_payload_that_stops_arriving_closes_at_the_stall_limit() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.drive(&mut budget).unwrap();
    h.send(&header(10));
    h.send(b"abc");
    h.now = 1_000;
    h.drive(&mut budget).unwrap();
    assert_eq!(
        h.entry.poll_at(),
        Some(1_301),
        "the first moment past the limit"
    );
    h.now = 1_300;
    h.drive(&mut budget).unwrap();
    h.now = 1_301;
    let reason = h.drive(&mut budget).unwrap_err();
    let error = reason.error().expect("a protocol error");
    assert!(
        matches!(
            error,
            Error::Timeout {
                phase: Phase::ReceivingPayload
            }
        ),
        "{error}"
    );
}

#[test]
fn headers_past_the_shared_budget_are_refused_until_it_is_free() {
    let mut budget = Budget::new(100);
    let (mut a, mut b) = (Harness::new(1000), Harness::new(1000));
    a.drive(&mut budget).unwrap();
    b.drive(&mut budget).unwrap();
    a.written();
    b.written();
    a.send(&header(60));
    a.drive(&mut budget).unwrap();
    assert_eq!(a.written(), [0xff], "A holds 60 of 100 from its header on");
    b.send(&header(41));
    b.send(&header(40));
    b.drive(&mut budget).unwrap();
    assert_eq!(b.written(), [0x00, 0xff], "41 is refused, 40 fits");
    b.send(&[7; 40]);
    a.send(&[1; 60]);
    a.drive(&mut budget).unwrap();
    b.drive(&mut budget).unwrap();
    assert_eq!(
        budget.room(),
        100,
        "both delivered and their hooks returned"
    );
    assert_eq!(a.written(), header(60), "A's echo");
    a.send(&[0xff]);
    a.drive(&mut budget).unwrap();
    assert_eq!(a.written(), [1; 60]);
    a.send(&header(100));
    a.drive(&mut budget).unwrap();
    assert_eq!(a.written(), [0xff], "the whole budget is free");
}

#[test]
fn a_hook_that_panics_closes_its_connection_without_post_loop() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.drive(&mut budget).unwrap();
    h.send(&header(5));
    h.send(b"panic");
    let reason = h.drive(&mut budget).unwrap_err();
    assert!(matches!(reason, CloseReason::HookPanicked), "{reason}");
    assert!(h.entry.next_call().is_none(), "no post_loop after a panic");
    assert!(h.entry.finished().is_some());
}

#[test]
fn a_connection_closed_while_its_hook_runs_is_finished_only_when_the_hook_returns() {
    // What a shutdown's grace period waits for.
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.entry.drive(0, &mut budget).unwrap();
    let (handler, call) = h.entry.next_call().expect("pre_loop");
    assert!(matches!(call, Call::PreLoop));
    assert!(h.entry.close(CloseReason::Shutdown).is_some());
    assert!(h.entry.finished().is_none(), "pre_loop still runs");
    assert!(h.entry.close_reason().is_some());
    assert!(h
        .entry
        .hook_done(handler.or(Some(Box::new(Echo))), false)
        .is_none());
    let (_, call) = h.entry.next_call().expect("post_loop");
    assert!(matches!(call, Call::PostLoop));
    assert!(h.entry.hook_done(Some(Box::new(Echo)), false).is_none());
    assert!(matches!(h.entry.finished(), Some(CloseReason::Shutdown)));
}
