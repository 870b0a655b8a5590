//! One connection driven without a socket, a clock or a thread: a scripted stream, a fake
//! time, and its hooks run by a direct call where the reactor would hand them to a hook thread.

use super::*;
use crate::config::ConnSettings;
use crate::error::Error;
use crate::mailbox::{Link, Shared, Wake};
use crate::protocol::protocol;
use crate::serial::ConnSerial;
use crate::spares::Spares;
use std::cell::RefCell;
use std::io::{self, ErrorKind, IoSliceMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;
use tinyproto_core::connection::Timeouts;

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

impl Stream for Script {}

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

/// Writes down each hook call it gets, and transmits nothing.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn note(&self, call: String) {
        self.0.lock().unwrap().push(call);
    }
}

impl Handler for Recorder {
    fn pre_loop(&mut self, _: &mut Conn) {
        self.note("pre_loop".into());
    }
    fn transmission_received(&mut self, _: &mut Conn, msg: Vec<u8>) {
        self.note(format!("received {}", msg.len()));
    }
    fn loop_pass(&mut self, _: &mut Conn) {
        self.note("loop_pass".into());
    }
    fn post_loop(&mut self, _: &mut Conn) {
        self.note("post_loop".into());
    }
    fn transmission_failed(&mut self, _: &mut Conn, error: ConnError) {
        self.note(format!("failed: {error}"));
    }
}

/// One connection, its peer, the time, and how its handler is made.
struct Harness {
    entry: Entry<Script>,
    peer: Script,
    now: u64,
    make: Box<dyn Fn() -> Box<dyn Handler>>,
}

/// Wakes nobody.
struct NoDriver;

impl Wake for NoDriver {
    fn wake(&self) {}
}

/// A link to no reactor: what the entry would tell it is dropped.
fn handle() -> ConnectionHandle {
    let (commands, _) = mpsc::channel();
    let (link, _) = Link::new(commands, Arc::new(NoDriver));
    let addr = "127.0.0.1:1".parse().unwrap();
    let shared = Shared::new((ConnSerial(1), 0), (addr, addr), (16, 1 << 20), link);
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
            timeouts: Timeouts::new().stall(300),
            ..ConnSettings::default()
        };
        let peer = Script::default();
        peer.0.borrow_mut().room = usize::MAX;
        let conn = protocol(&settings, &Spares::new(0));
        let mut harness = Self {
            entry: Entry::new(handle(), peer.clone(), conn, None),
            peer,
            now: 0,
            make: Box::new(|| Box::new(Echo)),
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
                let mut handler = handler.unwrap_or_else(|| (self.make)());
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

    /// Waits for each timer the connection sets until it closes, within `limit` ms; the
    /// reason and when.
    fn wait_for_close(&mut self, budget: &mut Budget, limit: u64) -> (CloseReason, u64) {
        while self.now <= limit {
            if let Err(reason) = self.wait(budget) {
                return (reason, self.now);
            }
        }
        panic!("still open at {} ms", self.now);
    }

    /// The peer stops reading and sends an empty message: we owe it `0xff`.
    fn owe_an_answer(&mut self, budget: &mut Budget) {
        self.drive(budget).unwrap();
        self.written();
        self.peer.0.borrow_mut().room = 0;
        self.send(&header(0));
        self.drive(budget).unwrap();
    }

    /// Queues `msg` for a caller that waits for its end; where the end comes.
    fn queue_waited(&mut self, msg: Vec<u8>) -> mpsc::Receiver<Result<(), ConnError>> {
        let (tx, rx) = mpsc::channel();
        self.entry.queue(msg.into(), Some(SendReply::Channel(tx)));
        rx
    }

    /// A connection whose hooks are [`Recorder`]s, past its handshake; the calls it records.
    fn recording(limit: usize) -> (Self, Arc<Mutex<Vec<String>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut h = Self::new(limit);
        let record = calls.clone();
        h.make = Box::new(move || Box::new(Recorder(record.clone())));
        h.drive(&mut budget()).unwrap();
        h.written();
        (h, calls)
    }
}

/// The answer waiting on the connection's hook slot, without waiting for one.
fn hook_answer(h: &Harness) -> Option<HookAnswer> {
    h.entry.handle.shared.hook_slot.wait(Some(Instant::now()))
}

/// The protocol error a connection closed with.
fn error(reason: &CloseReason) -> &Error {
    reason.error().expect("a protocol error")
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
    h.owe_an_answer(&mut budget);
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

#[test]
fn an_answer_owed_to_a_peer_that_never_reads_closes_at_the_stall_limit() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.owe_an_answer(&mut budget);
    let (reason, at) = h.wait_for_close(&mut budget, 10_000);
    assert!(matches!(error(&reason), Error::Timeout { .. }), "{reason}");
    assert_eq!(at, 301, "the first moment past the 300 ms limit");
}

#[test]
fn our_payload_that_the_peer_stops_taking_closes_at_the_stall_limit() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.drive(&mut budget).unwrap();
    h.written();
    h.peer.0.borrow_mut().room = 4 + 10;
    h.entry.queue(vec![9; 100].into(), None);
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), header(100));
    h.send(&[0xff]);
    h.now = 50;
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), [9; 10], "what the socket took");
    let (reason, at) = h.wait_for_close(&mut budget, 10_000);
    let expected = Error::Timeout {
        phase: Phase::SendingPayload,
    };
    assert_eq!(error(&reason).to_string(), expected.to_string());
    assert_eq!(at, 351, "300 ms after the last progress");
}

#[test]
fn a_header_that_stops_arriving_closes_at_the_stall_limit() {
    let (mut h, mut budget) = (Harness::new(64), budget());
    h.drive(&mut budget).unwrap();
    h.now = 20;
    h.send(&[0, 0]);
    h.drive(&mut budget).unwrap();
    assert_eq!(h.entry.poll_at(), Some(321));
    let (reason, _) = h.wait_for_close(&mut budget, 10_000);
    assert!(matches!(error(&reason), Error::Timeout { .. }), "{reason}");
}

#[test]
fn a_message_in_flight_is_read_to_its_end_while_a_tick_hook_runs() {
    // Replaces a real-time test (a 300 ms stall on a socket): the tick's hook runs, held by
    // the test, while the payload keeps arriving, slower than the whole stall limit in all.
    let (mut h, calls) = Harness::recording(64);
    let mut budget = budget();
    h.send(&header(10));
    h.send(b"abc");
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), [0xff]);
    h.entry.tick();
    let (handler, call) = h.entry.next_call().expect("the tick");
    assert!(matches!(call, Call::LoopPass));
    for (now, bytes) in [(200, &b"defg"[..]), (400, b"hij")] {
        h.now = now;
        h.send(bytes);
        h.drive(&mut budget)
            .expect("progress within each stall limit");
    }
    h.send(&header(2));
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), b"", "the next header waits for the hook");
    assert_eq!(
        budget.room(),
        usize::MAX - 10,
        "the message waits for its hook"
    );
    assert!(h.entry.next_call().is_none(), "one hook at a time");
    assert!(h
        .entry
        .hook_done(handler.or_else(|| Some((h.make)())), false)
        .is_none());
    h.send(b"kl");
    h.drive(&mut budget).unwrap();
    assert_eq!(
        h.written(),
        [0xff],
        "the next message, once the hook returned"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        ["pre_loop", "received 10", "received 2"]
    );
}

#[test]
fn a_message_read_ahead_while_a_hook_runs_is_delivered_when_it_returns() {
    // Both messages come in one read: the second's header and payload wait in the read-ahead
    // and the stream, with no readiness event left to announce them.
    let (mut h, calls) = Harness::recording(64);
    let mut budget = budget();
    h.send(&[&header(1)[..], b"a", &header(1), b"b"].concat());
    h.entry.drive(h.now, &mut budget).unwrap();
    assert_eq!(h.written(), [0xff], "the first message only");
    let (handler, call) = h.entry.next_call().expect("its hook");
    assert!(matches!(call, Call::Received(_)));
    h.entry.drive(h.now, &mut budget).unwrap();
    assert_eq!(h.written(), b"", "nothing read while the hook runs");
    let mut handler = handler.expect("made for pre_loop");
    call.run(
        &mut *handler,
        &mut Conn::inline(h.entry.handle.clone(), Vec::new()),
    );
    assert!(h.entry.hook_done(Some(handler), false).is_none());
    h.drive(&mut budget).unwrap();
    assert_eq!(
        h.written(),
        [0xff],
        "the second message, without a new event"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        ["pre_loop", "received 1", "received 1"]
    );
}

#[test]
fn a_rejected_send_goes_to_its_waiter_or_else_to_transmission_failed() {
    let (mut h, calls) = Harness::recording(64);
    let mut budget = budget();
    let rx = h.queue_waited(vec![1; 8]);
    h.entry.queue(vec![2; 9].into(), None);
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), header(8));
    h.send(&[0x00]);
    h.drive(&mut budget).unwrap();
    assert!(matches!(
        rx.try_recv(),
        Ok(Err(ConnError::Rejected { len: 8 }))
    ));
    assert_eq!(h.written(), header(9), "the connection goes on");
    h.send(&[0x00]);
    h.drive(&mut budget).unwrap();
    let failed = format!("failed: {}", ConnError::Rejected { len: 9 });
    assert_eq!(*calls.lock().unwrap(), ["pre_loop".to_string(), failed]);
}

#[test]
fn a_hook_waiting_in_receive_takes_the_next_message_or_times_out() {
    let (mut h, calls) = Harness::recording(64);
    let mut budget = budget();
    h.entry.tick();
    let (handler, _) = h
        .entry
        .next_call()
        .expect("loop_pass, which waits in receive");
    h.entry.receive();
    assert!(hook_answer(&h).is_none(), "nothing arrived yet");
    h.send(&header(3));
    h.send(b"abc");
    h.drive(&mut budget).unwrap();
    match hook_answer(&h) {
        Some(HookAnswer::Received(Ok(msg))) => assert_eq!(msg, b"abc"),
        other => panic!("{other:?}"),
    }
    h.entry.receive();
    h.entry.cancel_receive();
    assert!(matches!(
        hook_answer(&h),
        Some(HookAnswer::Received(Err(ConnError::Timeout)))
    ));
    h.entry.hook_done(handler, false);
    h.send(&header(1));
    h.send(b"d");
    h.drive(&mut budget).unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        ["pre_loop", "received 1"],
        "the message taken by receive is not handed to transmission_received"
    );
}

#[test]
fn the_budget_holds_a_message_from_its_header_until_its_hook_returns() {
    let (mut h, calls) = Harness::recording(1000);
    let mut budget = Budget::new(100);
    h.send(&header(100));
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), [0xff], "exactly the room: accepted");
    assert_eq!(budget.room(), 0, "held from the header on");
    h.send(&[5; 100]);
    h.entry.drive(h.now, &mut budget).unwrap();
    let (handler, call) = h.entry.next_call().expect("its hook");
    assert!(matches!(call, Call::Received(_)));
    h.send(&header(1));
    h.entry.drive(h.now, &mut budget).unwrap();
    assert_eq!(budget.room(), 0, "held while its hook runs");
    h.entry.hook_done(handler, false);
    h.send(b"z");
    h.drive(&mut budget).unwrap();
    assert_eq!(budget.room(), 100, "free once the hooks returned");
    h.written();
    h.send(&header(101));
    h.drive(&mut budget).unwrap();
    assert_eq!(h.written(), [0x00], "one byte over the room: refused");
    let calls = calls.lock().unwrap();
    assert_eq!(
        *calls,
        ["pre_loop", "received 1"],
        "the test held the first hook"
    );
}

#[test]
fn a_client_learns_the_end_of_the_handshake_and_a_close_before_it_runs_no_hook() {
    let settings = ConnSettings::default();
    let conn = protocol(&settings, &Spares::new(0));
    let peer = Script::default();
    peer.0.borrow_mut().room = 1;
    let (tx, rx) = mpsc::channel();
    let mut entry = Entry::new(handle(), peer.clone(), conn, Some(tx));
    entry.drive(0, &mut budget()).unwrap();
    assert!(rx.try_recv().is_err(), "no answer before the init byte");
    assert!(!entry.is_established());
    assert!(entry.close(CloseReason::Shutdown).is_some());
    assert!(matches!(rx.try_recv(), Ok(Err(StartError::Handshake(_)))));
    assert!(
        entry.next_call().is_none(),
        "neither pre_loop nor post_loop"
    );
    assert!(matches!(entry.finished(), Some(CloseReason::Shutdown)));

    let conn = protocol(&settings, &Spares::new(0));
    let (tx, rx) = mpsc::channel();
    let mut entry = Entry::new(handle(), peer.clone(), conn, Some(tx));
    peer.0.borrow_mut().room = 1;
    peer.0.borrow_mut().input.push_back(0xff);
    entry.drive(0, &mut budget()).unwrap();
    assert!(matches!(rx.try_recv(), Ok(Ok(_))));
    assert!(entry.is_established());
}

#[test]
fn what_waits_is_answered_at_a_close_and_at_a_shutdown_that_gives_up_on_a_hook() {
    let (mut h, _) = Harness::recording(64);
    let mut budget = budget();
    let rx = h.queue_waited(vec![1; 4]);
    h.drive(&mut budget).unwrap();
    let queued_rx = h.queue_waited(vec![2; 4]);
    assert!(h.entry.close(CloseReason::Local).is_some());
    for rx in [rx, queued_rx] {
        assert!(matches!(
            rx.try_recv(),
            Ok(Err(ConnError::Closed(CloseReason::Local)))
        ));
    }
    let late_rx = h.queue_waited(vec![3]);
    assert!(matches!(late_rx.try_recv(), Ok(Err(ConnError::Closed(_)))));

    // The end of a shutdown's grace drops the entry while its hook still waits.
    let (mut h, _) = Harness::recording(64);
    let rx = h.queue_waited(vec![1; 4]);
    h.drive(&mut budget).unwrap();
    h.entry.tick();
    let _running = h.entry.next_call().expect("a hook that does not return");
    h.entry.receive();
    drop(h.entry);
    assert!(matches!(
        rx.try_recv(),
        Ok(Err(ConnError::Closed(CloseReason::Shutdown)))
    ));
}
