//! The binding over an in-memory stack that counts its open sockets: no failure path leaks one.

use super::*;
use crate::connection::Event;
use crate::session::{Phase, ProtocolError};
use crate::wire::{SC_CONLIMIT, SC_OK};
use crate::{Connection, Error, Received, Sent, TransmitError};
use core::net::SocketAddr;
use embedded_nal::TcpFullStack;
use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

#[derive(Debug, Clone, Copy, PartialEq)]
struct MockError(TcpErrorKind);

impl TcpError for MockError {
    fn kind(&self) -> TcpErrorKind {
        self.0
    }
}

/// One connection as the stack sees it.
#[derive(Debug, Default)]
struct Pipe {
    input: VecDeque<u8>,
    output: Vec<u8>,
    /// The peer closed: `receive` reports the end once `input` is empty.
    eof: bool,
    /// The peer reset: `receive` and `send` fail.
    reset: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ConnectBehaviour {
    Succeed,
    Refuse,
    Pending,
}

/// How this stack reports "nothing yet" and "end of stream" from `receive`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReceiveStyle {
    /// `WouldBlock`, then `Ok(0)` at the end (std-embedded-nal).
    Std,
    /// `Ok(0)` for nothing yet, `PipeClosed` at the end.
    ZeroIsEmpty,
}

struct MockStack {
    connect: ConnectBehaviour,
    style: ReceiveStyle,
    next_id: u32,
    open: BTreeMap<u32, Pipe>,
    closed: BTreeMap<u32, Pipe>,
    /// Clients waiting to be accepted.
    backlog: VecDeque<Pipe>,
}

impl MockStack {
    fn new() -> Self {
        Self {
            connect: ConnectBehaviour::Succeed,
            style: ReceiveStyle::Std,
            next_id: 0,
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            backlog: VecDeque::new(),
        }
    }

    fn pipe(&mut self, id: u32) -> &mut Pipe {
        self.open.get_mut(&id).expect("socket is open")
    }

    fn new_socket(&mut self, pipe: Pipe) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, pipe);
        id
    }
}

fn addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9123))
}

impl TcpClientStack for MockStack {
    type TcpSocket = u32;
    type Error = MockError;

    fn socket(&mut self) -> Result<u32, MockError> {
        Ok(self.new_socket(Pipe::default()))
    }

    fn connect(&mut self, _: &mut u32, _: SocketAddr) -> nb::Result<(), MockError> {
        match self.connect {
            ConnectBehaviour::Succeed => Ok(()),
            ConnectBehaviour::Refuse => Err(nb::Error::Other(MockError(TcpErrorKind::Other))),
            ConnectBehaviour::Pending => Err(nb::Error::WouldBlock),
        }
    }

    fn send(&mut self, socket: &mut u32, buffer: &[u8]) -> nb::Result<usize, MockError> {
        let pipe = self.pipe(*socket);
        if pipe.reset {
            return Err(nb::Error::Other(MockError(TcpErrorKind::PipeClosed)));
        }
        pipe.output.extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn receive(&mut self, socket: &mut u32, buffer: &mut [u8]) -> nb::Result<usize, MockError> {
        let style = self.style;
        let pipe = self.pipe(*socket);
        if pipe.reset {
            return Err(nb::Error::Other(MockError(TcpErrorKind::Other)));
        }
        if pipe.input.is_empty() {
            return match (style, pipe.eof) {
                (ReceiveStyle::Std, true) => Ok(0),
                (ReceiveStyle::Std, false) => Err(nb::Error::WouldBlock),
                (ReceiveStyle::ZeroIsEmpty, true) => {
                    Err(nb::Error::Other(MockError(TcpErrorKind::PipeClosed)))
                }
                (ReceiveStyle::ZeroIsEmpty, false) => Ok(0),
            };
        }
        let n = buffer.len().min(pipe.input.len());
        for (b, byte) in buffer.iter_mut().zip(pipe.input.drain(..n)) {
            *b = byte;
        }
        Ok(n)
    }

    fn close(&mut self, socket: u32) -> Result<(), MockError> {
        let pipe = self.open.remove(&socket).expect("closed twice");
        self.closed.insert(socket, pipe);
        Ok(())
    }
}

impl TcpFullStack for MockStack {
    fn bind(&mut self, _: &mut u32, _: u16) -> Result<(), MockError> {
        Ok(())
    }
    fn listen(&mut self, _: &mut u32) -> Result<(), MockError> {
        Ok(())
    }
    fn accept(&mut self, _: &mut u32) -> nb::Result<(u32, SocketAddr), MockError> {
        let pipe = self.backlog.pop_front().ok_or(nb::Error::WouldBlock)?;
        Ok((self.new_socket(pipe), addr()))
    }
}

type Buf = heapless::Vec<u8, 64>;

fn conn() -> Connection<Buf> {
    Connection::new(Buf::new(), Buf::new())
}

/// A clock that advances 1 ms per call.
fn ticking() -> impl FnMut() -> u64 {
    let mut now = 0;
    move || {
        now += 1;
        now
    }
}

fn connect(stack: &mut MockStack) -> Result<NalClient<MockStack, Buf>, ConnectError<MockError>> {
    NalClient::connect(stack, addr(), conn(), &mut ticking(), 100)
}

#[test]
fn failed_connects_close_their_socket() {
    let mut stack = MockStack::new();
    stack.connect = ConnectBehaviour::Refuse;
    let err = connect(&mut stack).unwrap_err();
    assert_eq!(err, ConnectError::Connect(MockError(TcpErrorKind::Other)));
    assert!(stack.open.is_empty());

    stack.connect = ConnectBehaviour::Pending;
    assert_eq!(connect(&mut stack).unwrap_err(), ConnectError::Timeout);
    assert!(stack.open.is_empty());

    // The non-blocking path reports the same through `poll`.
    let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
    assert!(client.is_connecting());
    assert_eq!(client.poll_at(), Some(10));
    assert_eq!(client.poll(&mut stack, 5), Ok(None));
    let timeout = Error::Timeout {
        phase: Phase::Handshake,
    };
    assert_eq!(client.poll(&mut stack, 11), Err(timeout));
    assert!(!client.is_open() && stack.open.is_empty());
    assert_eq!(client.poll(&mut stack, 12), Err(Error::Closed));
}

#[test]
fn refusals_in_the_handshake_are_typed_and_close_the_socket() {
    for (answer, want) in [
        (SC_CONLIMIT, ProtocolError::ConnectionLimit),
        (0x00, ProtocolError::InitRefused),
    ] {
        let mut stack = MockStack::new();
        let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
        stack.pipe(0).input.push_back(answer);
        assert_eq!(
            client.poll(&mut stack, 1),
            Err(Error::Protocol(want)),
            "{answer:#04x}"
        );
        assert!(stack.open.is_empty());
        assert_eq!(stack.closed[&0].output, [SC_OK], "our init byte went out");
    }
    // No init byte at all: the handshake limit of the caller's clock.
    let mut stack = MockStack::new();
    let err = connect(&mut stack).unwrap_err();
    let timeout = Error::Timeout {
        phase: Phase::Handshake,
    };
    assert_eq!(err, ConnectError::Handshake(timeout));
    assert!(stack.open.is_empty());
}

#[test]
fn a_vanishing_peer_closes_the_socket() {
    let mut stack = MockStack::new();
    let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
    stack.pipe(0).input.extend([SC_OK, 0, 0, 0, 9, b'a']);
    assert_eq!(client.poll(&mut stack, 1), Ok(Some(Event::HandshakeDone)));
    assert_eq!(client.poll(&mut stack, 2), Ok(None));
    stack.pipe(0).reset = true;
    let err = client.poll(&mut stack, 3).unwrap_err();
    assert_eq!(
        err,
        Error::Transport(StackError(MockError(TcpErrorKind::Other)))
    );
    assert!(!client.is_open() && stack.open.is_empty());

    // End of stream inside a payload: truncation, reported with the missing count.
    let mut stack = MockStack::new();
    let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
    stack.pipe(0).input.extend([SC_OK, 0, 0, 0, 9, b'a']);
    stack.pipe(0).eof = true;
    assert_eq!(client.poll(&mut stack, 1), Ok(Some(Event::HandshakeDone)));
    let eof = ProtocolError::UnexpectedEof {
        phase: Phase::ReceivingPayload,
        missing: 8,
    };
    assert_eq!(client.poll(&mut stack, 2), Err(Error::Protocol(eof)));
    assert!(stack.open.is_empty());
}

#[test]
fn zero_reads_follow_the_configured_meaning() {
    let mut stack = MockStack::new();
    stack.style = ReceiveStyle::ZeroIsEmpty;
    let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
    client.set_zero_read(ZeroRead::WouldBlock);
    // Ok(0) while nothing came: not an end of stream.
    assert_eq!(client.poll(&mut stack, 1), Ok(None));
    stack.pipe(0).input.push_back(SC_OK);
    assert_eq!(client.poll(&mut stack, 2), Ok(Some(Event::HandshakeDone)));
    // PipeClosed from receive: a clean close between messages.
    stack.pipe(0).eof = true;
    assert_eq!(client.poll(&mut stack, 3), Err(Error::Closed));
    assert!(stack.open.is_empty());
}

#[test]
fn spinning_calls_time_out_as_documented() {
    let mut stack = MockStack::new();
    let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
    stack.pipe(0).input.push_back(SC_OK);
    let clock = &mut ticking();
    // Nothing arrives: `receive` gives up and the connection stays open.
    assert_eq!(client.receive(&mut stack, clock, 20), Ok(None));
    assert!(client.is_open() && client.can_send());
    // No status byte answers our header: `transmit` times out and closes.
    let err = client.transmit(&mut stack, b"hi", clock, 20).unwrap_err();
    let phase = Phase::Status;
    assert_eq!(err, TransmitError::Connection(Error::Timeout { phase }));
    assert!(stack.open.is_empty());
    assert_eq!(stack.closed[&0].output, [SC_OK, 0, 0, 0, 2]);
}

#[test]
fn transmit_waits_for_the_answer_to_an_empty_message() {
    let mut stack = MockStack::new();
    let mut client = NalClient::start_connect(&mut stack, addr(), conn(), 0, 10).unwrap();
    // The peer's init byte, an empty message, then "go ahead" for ours.
    stack.pipe(0).input.extend([SC_OK, 0, 0, 0, 0]);
    let clock = &mut ticking();
    let empty = Received::Message(&[][..]);
    assert_eq!(client.receive(&mut stack, clock, 20), Ok(Some(empty)));
    stack.pipe(0).input.push_back(SC_OK);
    assert_eq!(
        client.transmit(&mut stack, b"re", clock, 20),
        Ok(Sent::Written)
    );
    let wire = &stack.pipe(0).output;
    assert_eq!(wire.as_slice(), [SC_OK, SC_OK, 0, 0, 0, 2, b'r', b'e']);
    client.close(&mut stack).unwrap();
    assert!(stack.open.is_empty());
}

#[test]
fn the_server_refuses_beyond_its_limit_and_closes_what_it_drops() {
    let mut stack = MockStack::new();
    let mut server = NalServer::<_, _, _, _, _, 1>::bind(&mut stack, 9123, conn).unwrap();
    let listener = 0;
    let hello = Pipe {
        input: [SC_OK, 0, 0, 0, 1, b'x'].into_iter().collect(),
        ..Pipe::default()
    };
    stack.backlog.push_back(hello);
    stack.backlog.push_back(Pipe::default());

    let first = match server.poll(&mut stack, 0) {
        Ok(Some(ServerEvent::Accepted { id, .. })) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        server.poll(&mut stack, 0),
        Ok(Some(ServerEvent::Refused { peer: addr() }))
    );
    // The refused socket got exactly 0xfe; it lingers (its init byte is read and dropped)
    // until the client closes, then it is closed.
    assert_eq!(stack.pipe(2).output, [SC_CONLIMIT]);
    assert_eq!(server.poll_at(), Some(crate::refusal::LINGER_MS.into()));
    stack.pipe(2).input.push_back(SC_OK);
    stack.pipe(2).eof = true;
    let handshake = ServerEvent::Connection {
        id: first,
        event: Event::HandshakeDone,
    };
    assert_eq!(server.poll(&mut stack, 0), Ok(Some(handshake)));
    assert_eq!(
        stack.closed[&2].output,
        [SC_CONLIMIT],
        "closed after the client"
    );
    assert!(stack.closed[&2].input.is_empty());
    let received = ServerEvent::Connection {
        id: first,
        event: Event::Received,
    };
    assert_eq!(server.poll(&mut stack, 0), Ok(Some(received)));
    assert_eq!(server.connection_mut(first).unwrap().message(), b"x");
    assert_eq!(server.poll(&mut stack, 0), Ok(None));

    // The client vanishes mid-header: the server drops it and closes its socket.
    stack.pipe(1).input.extend([0, 0]);
    stack.pipe(1).eof = true;
    let eof = ProtocolError::UnexpectedEof {
        phase: Phase::Header,
        missing: 2,
    };
    let closed = ServerEvent::Closed {
        id: first,
        peer: addr(),
        reason: Error::Protocol(eof),
    };
    assert_eq!(server.poll(&mut stack, 0), Ok(Some(closed)));
    assert!(server.is_empty());
    assert!(
        server.connection_mut(first).is_none(),
        "an old id addresses nothing"
    );
    assert_eq!(stack.open.keys().copied().collect::<Vec<_>>(), [listener]);
    server.close(&mut stack).unwrap();
    assert!(stack.open.is_empty());
}

#[test]
fn a_refused_client_that_stays_is_closed_when_the_linger_ends() {
    let mut stack = MockStack::new();
    let mut server = NalServer::<_, _, _, _, _, 1>::bind(&mut stack, 9123, conn).unwrap();
    server.set_refusal_linger(500);
    stack.backlog.push_back(Pipe::default());
    stack.backlog.push_back(Pipe::default());
    assert!(matches!(
        server.poll(&mut stack, 0),
        Ok(Some(ServerEvent::Accepted { .. }))
    ));
    let refused = ServerEvent::Refused { peer: addr() };
    assert_eq!(server.poll(&mut stack, 10), Ok(Some(refused)));
    assert_eq!(server.poll(&mut stack, 10), Ok(None));
    assert_eq!(server.poll_at(), Some(510));
    assert_eq!(server.poll(&mut stack, 509), Ok(None));
    assert!(stack.open.contains_key(&2), "still lingering");
    assert_eq!(server.poll(&mut stack, 510), Ok(None));
    assert_eq!(stack.closed[&2].output, [SC_CONLIMIT]);
    server.close(&mut stack).unwrap();
    assert!(stack.open.is_empty());
}
