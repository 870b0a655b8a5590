//! The sans-IO state machine of one tinyproto connection.
//!
//! A [`Session`] never touches a socket and never reads a clock. The caller moves bytes and
//! reports what happened. Its methods fall into four kinds:
//!
//! * getters: [`Session::phase`], [`Session::next_read`], [`Session::payload_to_send`];
//! * output: [`Session::pending_output`] (control bytes that must be written now), acknowledged
//!   with [`Session::output_written`];
//! * input: [`Session::handle_control`] (header, status and init bytes),
//!   [`Session::handle_payload`] (the count of payload bytes the caller stored) and
//!   [`Session::handle_eof`];
//! * mutators: [`Session::start_send`] and [`Session::payload_written`].
//!
//! The order to call them in, once per step:
//! 1. write [`Session::pending_output`] and report it with [`Session::output_written`];
//! 2. ask [`Session::next_read`]: read exactly that many control bytes, or at most that many
//!    payload bytes, and hand them in;
//! 3. when [`Session::payload_to_send`] is non-zero, write that many bytes of the payload.
//!
//! Reads are never asked for while control output is pending, so a receiver always answers a
//! header before any byte of its payload is read.

use crate::buffer::CapacityError;
use crate::plugin::PluginError;
use crate::wire::{LengthHeader, HEADER_LEN, MSG_MAX_SIZE, SC_CONLIMIT, SC_GENERIC_ERROR, SC_OK};
use core::fmt;

/// What the connection is doing; also selects which timeout applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// Our init byte is queued or sent; waiting for the peer's.
    Handshake,
    /// Between messages: a header may arrive, or a send may start.
    Idle,
    /// Part of a length header has arrived.
    Header,
    /// Our header is out; waiting for the peer's status byte.
    Status,
    /// Receiving the payload of an accepted message.
    ReceivingPayload,
    /// Sending the payload of a message the peer accepted.
    SendingPayload,
    /// The peer closed at a message boundary, or the session failed; nothing more happens.
    Closed,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Handshake => "init handshake",
            Phase::Idle => "idle",
            Phase::Header => "length header",
            Phase::Status => "status byte",
            Phase::ReceivingPayload => "receiving payload",
            Phase::SendingPayload => "sending payload",
            Phase::Closed => "closed",
        })
    }
}

/// What the caller should read next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NextRead {
    /// Do not read now (control output is pending, a payload is being sent, or the session is
    /// closed).
    Nothing,
    /// Read exactly this many control bytes (fewer are fine; never more) and pass them to
    /// [`Session::handle_control`].
    Control(usize),
    /// Read at most this many payload bytes into the message buffer and report the count with
    /// [`Session::handle_payload`].
    Payload(usize),
}

/// Something the session has to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionEvent {
    /// The peer's init byte was `0xff`: messages may flow.
    HandshakeDone,
    /// A header of `len > 0` bytes was accepted (`0xff` is queued); its payload follows.
    Incoming {
        /// Payload length announced by the peer.
        len: u32,
    },
    /// A whole message has arrived (for an empty message, straight after its header).
    Received,
    /// A header above our limit was answered `0x00`; no payload follows and the stream is in sync.
    Refused {
        /// Length announced by the peer.
        len: u32,
    },
    /// The peer answered our header with `0xff` and the payload may be written.
    Accepted {
        /// Length of our payload.
        len: u32,
    },
    /// Our whole message is written.
    Sent,
    /// The peer answered our header with `0x00` (message too large for it); nothing was sent
    /// and the stream is in sync.
    Rejected {
        /// Length we announced.
        len: u32,
    },
}

/// Violations of the protocol by the peer, or an end of stream where one is not allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// The server is at its connection limit (init byte `0xfe`).
    ConnectionLimit,
    /// The server refused us during init with `0x00` (a Python 2.0.1 server at its limit does
    /// this).
    InitRefused,
    /// The peer's init byte was neither `0xff`, `0xfe` nor `0x00`.
    BadInitByte {
        /// The byte received.
        byte: u8,
    },
    /// The status byte answering our header was neither `0xff` nor `0x00`.
    BadStatus {
        /// The byte received.
        byte: u8,
    },
    /// The stream ended inside the handshake, a header, a status byte or a payload.
    UnexpectedEof {
        /// Where the stream ended.
        phase: Phase,
        /// How many bytes were still missing.
        missing: u32,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectionLimit => f.write_str("connection limit reached (server sent 0xfe)"),
            Self::InitRefused => f.write_str(
                "rejected by server during init (0x00; a Python 2.0.1 server at its limit does this)",
            ),
            Self::BadInitByte { byte } => write!(f, "unexpected init byte {byte:#04x}"),
            Self::BadStatus { byte } => write!(f, "unexpected status byte {byte:#04x}"),
            Self::UnexpectedEof { phase, missing } => {
                write!(f, "stream ended during {phase} with {missing} byte(s) missing")
            }
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Why a send could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// The handshake is not done, a message is in flight, or part of a header has arrived.
    Busy {
        /// What the session is doing.
        phase: Phase,
    },
    /// The message is longer than any tinyproto receiver accepts ([`MSG_MAX_SIZE`]).
    TooLong {
        /// Length of the message.
        len: usize,
    },
    /// The message (after plugins) does not fit in the send buffer.
    Capacity(CapacityError),
    /// A plugin refused the outgoing message; nothing was sent.
    Plugin(PluginError),
}

impl From<CapacityError> for SendError {
    fn from(e: CapacityError) -> Self {
        Self::Capacity(e)
    }
}

impl From<PluginError> for SendError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Capacity(e) => Self::Capacity(e),
            e => Self::Plugin(e),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy { phase } => write!(f, "cannot start a send during {phase}"),
            Self::TooLong { len } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the protocol maximum {MSG_MAX_SIZE}"
                )
            }
            Self::Capacity(e) => write!(f, "message does not fit the send buffer: {e}"),
            Self::Plugin(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for SendError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Capacity(e) => Some(e),
            Self::Plugin(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Handshake,
    Header { got: u8, bytes: [u8; HEADER_LEN] },
    RecvPayload { remaining: u32, len: u32 },
    Status { len: u32 },
    SendPayload { remaining: u32 },
    Closed,
}

/// The state machine of one connection: init handshake, then messages in both directions, one
/// at a time.
///
/// It holds no message bytes; payloads live in the caller's buffers. See the
/// [module docs](self) for the calling order.
///
/// ```
/// use tinyproto_core::session::{SessionEvent, NextRead, Session};
///
/// let mut s = Session::new(1024);
/// assert_eq!(s.pending_output(), &[0xff]); // our init byte
/// s.output_written(1);
/// assert_eq!(s.next_read(), NextRead::Control(1));
/// assert_eq!(s.handle_control(&[0xff]), Ok(Some(SessionEvent::HandshakeDone)));
///
/// // A peer announces 5 bytes: we answer 0xff before reading the payload.
/// assert_eq!(s.handle_control(&[0, 0, 0, 5]), Ok(Some(SessionEvent::Incoming { len: 5 })));
/// assert_eq!(s.pending_output(), &[0xff]);
/// assert_eq!(s.next_read(), NextRead::Nothing);
/// s.output_written(1);
/// assert_eq!(s.next_read(), NextRead::Payload(5));
/// assert_eq!(s.handle_payload(5), Some(SessionEvent::Received));
/// ```
#[derive(Clone, Debug)]
pub struct Session {
    state: State,
    max_recv: u32,
    out: [u8; OUT_CAP],
    out_pos: u8,
    out_len: u8,
}

/// Most control bytes ever queued: an answer we still owe the peer, then our next header.
const OUT_CAP: usize = 1 + HEADER_LEN;

impl Session {
    /// A new session that accepts messages of up to `max_recv` bytes (capped at
    /// [`MSG_MAX_SIZE`]); its init byte is queued.
    pub fn new(max_recv: u32) -> Self {
        let mut s = Self {
            state: State::Handshake,
            max_recv: max_recv.min(MSG_MAX_SIZE),
            out: [0; OUT_CAP],
            out_pos: 0,
            out_len: 0,
        };
        s.queue(&[SC_OK]);
        s
    }

    /// The largest message this session accepts.
    #[inline]
    pub fn max_recv(&self) -> u32 {
        self.max_recv
    }

    /// Changes the largest message accepted (capped at [`MSG_MAX_SIZE`]), from the next
    /// header on: a larger one is answered `0x00` and skipped ([`SessionEvent::Refused`]). A server
    /// lowers it while its memory for messages runs short.
    ///
    /// ```
    /// use tinyproto_core::session::{Session, SessionEvent};
    /// let mut s = Session::new(100);
    /// s.output_written(1);
    /// s.handle_control(&[0xff]).unwrap();
    /// s.set_max_recv(4);
    /// assert_eq!(s.handle_control(&[0, 0, 0, 5]), Ok(Some(SessionEvent::Refused { len: 5 })));
    /// assert_eq!(s.pending_output(), &[0x00]);
    /// ```
    #[inline]
    pub fn set_max_recv(&mut self, max_recv: u32) {
        self.max_recv = max_recv.min(MSG_MAX_SIZE);
    }

    /// The announced length of the message being received, if one is.
    #[inline]
    pub fn receiving_len(&self) -> Option<u32> {
        match self.state {
            State::RecvPayload { len, .. } => Some(len),
            _ => None,
        }
    }

    /// What the connection is doing.
    #[inline]
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Handshake => Phase::Handshake,
            State::Header { got: 0, .. } => Phase::Idle,
            State::Header { .. } => Phase::Header,
            State::RecvPayload { .. } => Phase::ReceivingPayload,
            State::Status { .. } => Phase::Status,
            State::SendPayload { .. } => Phase::SendingPayload,
            State::Closed => Phase::Closed,
        }
    }

    /// Whether the handshake is done and no message is in flight, so a send may start. An
    /// answer we owe the peer (the `0xff` of an empty message, the `0x00` of a refusal) may
    /// still be queued: a new header is queued behind it.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.phase() == Phase::Idle
    }

    /// Control bytes (init byte, header or status answer) that must be written before anything
    /// else happens. Empty when there is nothing to write.
    #[must_use]
    #[inline]
    pub fn pending_output(&self) -> &[u8] {
        &self.out[usize::from(self.out_pos)..usize::from(self.out_len)]
    }

    /// Reports that the first `n` bytes of [`Session::pending_output`] were written.
    #[inline]
    pub fn output_written(&mut self, n: usize) {
        let left = usize::from(self.out_len - self.out_pos);
        // `n <= left` by contract; clamping keeps a misbehaving caller from corrupting state.
        self.out_pos += n.min(left) as u8;
    }

    /// What to read next. See [`NextRead`].
    #[must_use]
    #[inline]
    pub fn next_read(&self) -> NextRead {
        if !self.pending_output().is_empty() {
            return NextRead::Nothing;
        }
        match self.state {
            State::Handshake | State::Status { .. } => NextRead::Control(1),
            State::Header { got, .. } => NextRead::Control(HEADER_LEN - usize::from(got)),
            State::RecvPayload { remaining, .. } => NextRead::Payload(remaining as usize),
            State::SendPayload { .. } | State::Closed => NextRead::Nothing,
        }
    }

    /// Hands in control bytes read from the peer: at most the count [`Session::next_read`]
    /// asked for.
    ///
    /// Bytes beyond what was asked for are ignored, so the caller must never read more.
    /// Errors close the session.
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn handle_control(&mut self, bytes: &[u8]) -> Result<Option<SessionEvent>, ProtocolError> {
        let Some(&first) = bytes.first() else {
            return Ok(None);
        };
        match &mut self.state {
            State::Handshake => self.on_init_byte(first),
            State::Status { len } => {
                let len = *len;
                self.on_status_byte(len, first)
            }
            State::Header { got, bytes: header } => {
                let start = usize::from(*got);
                let take = bytes.len().min(HEADER_LEN - start);
                header[start..start + take].copy_from_slice(&bytes[..take]);
                *got += take as u8;
                if usize::from(*got) < HEADER_LEN {
                    return Ok(None);
                }
                let header = LengthHeader::from_bytes(*header);
                Ok(Some(self.on_header(header)))
            }
            State::RecvPayload { .. } | State::SendPayload { .. } | State::Closed => Ok(None),
        }
    }

    /// How many bytes of the incoming payload were stored so far (0 when none is incoming): the
    /// offset at which the next payload bytes go in the message buffer.
    #[inline]
    pub fn payload_received(&self) -> usize {
        match self.state {
            State::RecvPayload { remaining, len } => (len - remaining) as usize,
            _ => 0,
        }
    }

    /// Reports that `n` payload bytes were stored in the message buffer (at most the count
    /// [`Session::next_read`] offered). Returns [`SessionEvent::Received`] when the message is whole.
    #[inline]
    pub fn handle_payload(&mut self, n: usize) -> Option<SessionEvent> {
        let State::RecvPayload { remaining, .. } = &mut self.state else {
            return None;
        };
        *remaining -= (n as u32).min(*remaining);
        if *remaining > 0 {
            return None;
        }
        self.state = State::idle();
        trace!("message received");
        Some(SessionEvent::Received)
    }

    /// Reports that the peer closed its sending side.
    ///
    /// At a message boundary this is a clean close (`Ok`); anywhere else it is
    /// [`ProtocolError::UnexpectedEof`] with the count of missing bytes, and nothing partial is
    /// ever reported as received. Either way the session is closed afterwards.
    pub fn handle_eof(&mut self) -> Result<(), ProtocolError> {
        let phase = self.phase();
        let missing = match self.state {
            State::Handshake | State::Status { .. } => 1,
            State::Header { got, .. } => (HEADER_LEN - usize::from(got)) as u32,
            State::RecvPayload { remaining, .. } => remaining,
            State::SendPayload { .. } | State::Closed => 0,
        };
        self.close();
        if phase == Phase::Idle || missing == 0 {
            Ok(())
        } else {
            Err(ProtocolError::UnexpectedEof { phase, missing })
        }
    }

    /// Starts sending a message of `len` bytes (already transformed by plugins): queues its
    /// header (after any answer still owed). Allowed only when [`Session::is_idle`].
    pub fn start_send(&mut self, len: usize) -> Result<(), SendError> {
        if !self.is_idle() {
            return Err(SendError::Busy {
                phase: self.phase(),
            });
        }
        let len32 = u32::try_from(len)
            .ok()
            .filter(|&l| l <= MSG_MAX_SIZE)
            .ok_or(SendError::TooLong { len })?;
        self.queue(&LengthHeader::new(len32).to_bytes());
        self.state = State::Status { len: len32 };
        Ok(())
    }

    /// How many payload bytes of the accepted message are still to be written (0 when none).
    #[must_use]
    #[inline]
    pub fn payload_to_send(&self) -> usize {
        match self.state {
            State::SendPayload { remaining } => remaining as usize,
            _ => 0,
        }
    }

    /// Reports that `n` payload bytes were written. Returns [`SessionEvent::Sent`] when the message
    /// is whole.
    #[inline]
    pub fn payload_written(&mut self, n: usize) -> Option<SessionEvent> {
        let State::SendPayload { remaining } = &mut self.state else {
            return None;
        };
        *remaining -= (n as u32).min(*remaining);
        if *remaining > 0 {
            return None;
        }
        self.state = State::idle();
        Some(SessionEvent::Sent)
    }

    /// Closes the session: nothing more is read or written.
    pub fn close(&mut self) {
        self.state = State::Closed;
        self.out_pos = self.out_len;
    }

    /// Appends control bytes behind those not written yet. Only a header is ever queued
    /// behind unwritten bytes (an owed one-byte answer), so they always fit in `OUT_CAP`.
    fn queue(&mut self, bytes: &[u8]) {
        if self.out_pos == self.out_len {
            self.out_pos = 0;
            self.out_len = 0;
        }
        let start = usize::from(self.out_len);
        let end = start + bytes.len();
        self.out[start..end].copy_from_slice(bytes);
        self.out_len = end as u8;
    }

    fn on_init_byte(&mut self, byte: u8) -> Result<Option<SessionEvent>, ProtocolError> {
        let err = match byte {
            SC_OK => {
                self.state = State::idle();
                trace!("handshake done");
                return Ok(Some(SessionEvent::HandshakeDone));
            }
            SC_CONLIMIT => ProtocolError::ConnectionLimit,
            SC_GENERIC_ERROR => ProtocolError::InitRefused,
            byte => ProtocolError::BadInitByte { byte },
        };
        self.close();
        Err(err)
    }

    fn on_status_byte(
        &mut self,
        len: u32,
        byte: u8,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        match byte {
            SC_OK if len == 0 => {
                self.state = State::idle();
                Ok(Some(SessionEvent::Sent))
            }
            SC_OK => {
                self.state = State::SendPayload { remaining: len };
                Ok(Some(SessionEvent::Accepted { len }))
            }
            SC_GENERIC_ERROR => {
                self.state = State::idle();
                trace!("our message of {} bytes was rejected", len);
                Ok(Some(SessionEvent::Rejected { len }))
            }
            byte => {
                self.close();
                Err(ProtocolError::BadStatus { byte })
            }
        }
    }

    fn on_header(&mut self, header: LengthHeader) -> SessionEvent {
        let len = header.len();
        if len > self.max_recv {
            self.queue(&[SC_GENERIC_ERROR]);
            self.state = State::idle();
            trace!("refused a message of {} bytes", len);
            return SessionEvent::Refused { len };
        }
        self.queue(&[SC_OK]);
        if len == 0 {
            self.state = State::idle();
            SessionEvent::Received
        } else {
            self.state = State::RecvPayload {
                remaining: len,
                len,
            };
            SessionEvent::Incoming { len }
        }
    }
}

impl State {
    const fn idle() -> Self {
        State::Header {
            got: 0,
            bytes: [0; HEADER_LEN],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(max: u32) -> Session {
        let mut s = Session::new(max);
        s.output_written(1);
        assert_eq!(
            s.handle_control(&[SC_OK]),
            Ok(Some(SessionEvent::HandshakeDone))
        );
        s
    }

    #[test]
    fn init_bytes_map_to_typed_errors() {
        for (byte, err) in [
            (0xfe, ProtocolError::ConnectionLimit),
            (0x00, ProtocolError::InitRefused),
            (0x41, ProtocolError::BadInitByte { byte: 0x41 }),
        ] {
            let mut s = Session::new(8);
            s.output_written(1);
            assert_eq!(s.handle_control(&[byte]), Err(err));
            assert_eq!(s.phase(), Phase::Closed);
            assert_eq!(s.next_read(), NextRead::Nothing);
        }
    }

    #[test]
    fn header_one_byte_at_a_time_then_oversize_refusal_keeps_sync() {
        let mut s = ready(4);
        for b in [0, 0, 0] {
            assert_eq!(s.handle_control(&[b]), Ok(None));
        }
        assert_eq!(s.phase(), Phase::Header);
        assert_eq!(
            s.handle_control(&[5]),
            Ok(Some(SessionEvent::Refused { len: 5 }))
        );
        assert_eq!(s.pending_output(), &[SC_GENERIC_ERROR]);
        s.output_written(1);
        assert_eq!(s.next_read(), NextRead::Control(4));
        assert_eq!(
            s.handle_control(&[0, 0, 0, 4]),
            Ok(Some(SessionEvent::Incoming { len: 4 }))
        );
    }

    #[test]
    fn headers_above_protocol_maximum_are_refused_even_with_a_huge_limit() {
        let mut s = ready(u32::MAX);
        assert_eq!(s.max_recv(), MSG_MAX_SIZE);
        let ev = s.handle_control(&[0xf1, 0, 0, 0]);
        assert_eq!(ev, Ok(Some(SessionEvent::Refused { len: 0xf100_0000 })));
        assert_eq!(s.next_read(), NextRead::Nothing, "answer first, read later");
        s.output_written(1);
        let ev = s.handle_control(&[0xf0, 0xff, 0xff, 0xff]);
        assert_eq!(ev, Ok(Some(SessionEvent::Incoming { len: MSG_MAX_SIZE })));
    }

    #[test]
    fn empty_message_is_received_at_once() {
        let mut s = ready(0);
        assert_eq!(s.handle_control(&[0; 4]), Ok(Some(SessionEvent::Received)));
        assert_eq!(s.pending_output(), &[SC_OK]);
    }

    #[test]
    fn send_path_and_status_bytes() {
        let mut s = ready(8);
        s.start_send(3).unwrap();
        assert_eq!(s.pending_output(), &[0, 0, 0, 3]);
        assert_eq!(
            s.start_send(1),
            Err(SendError::Busy {
                phase: Phase::Status
            })
        );
        s.output_written(4);
        assert_eq!(
            s.handle_control(&[SC_OK]),
            Ok(Some(SessionEvent::Accepted { len: 3 }))
        );
        assert_eq!(s.payload_to_send(), 3);
        assert_eq!(s.next_read(), NextRead::Nothing);
        assert_eq!(s.payload_written(2), None);
        assert_eq!(s.payload_written(1), Some(SessionEvent::Sent));
        s.start_send(9).unwrap();
        s.output_written(4);
        assert_eq!(
            s.handle_control(&[0]),
            Ok(Some(SessionEvent::Rejected { len: 9 }))
        );
        assert!(s.is_idle());
        s.start_send(0).unwrap();
        s.output_written(4);
        assert_eq!(s.handle_control(&[SC_OK]), Ok(Some(SessionEvent::Sent)));
        s.start_send(1).unwrap();
        s.output_written(4);
        let err = s.handle_control(&[0x17]);
        assert_eq!(err, Err(ProtocolError::BadStatus { byte: 0x17 }));
    }

    #[test]
    fn a_send_queues_its_header_behind_an_owed_answer() {
        let mut s = ready(0);
        // An empty message and a refusal both leave an answer queued, yet a send may start.
        assert_eq!(s.handle_control(&[0; 4]), Ok(Some(SessionEvent::Received)));
        s.start_send(2).unwrap();
        assert_eq!(s.pending_output(), &[SC_OK, 0, 0, 0, 2]);
        assert_eq!(s.next_read(), NextRead::Nothing);
        s.output_written(3);
        assert_eq!(s.pending_output(), &[0, 2]);
        s.output_written(2);
        assert_eq!(
            s.handle_control(&[SC_OK]),
            Ok(Some(SessionEvent::Accepted { len: 2 }))
        );
        assert_eq!(s.payload_written(2), Some(SessionEvent::Sent));
        assert_eq!(
            s.handle_control(&[0, 0, 0, 1]),
            Ok(Some(SessionEvent::Refused { len: 1 }))
        );
        s.output_written(0);
        s.start_send(0).unwrap();
        assert_eq!(s.pending_output(), &[SC_GENERIC_ERROR, 0, 0, 0, 0]);
    }

    #[test]
    fn send_too_long_is_refused_locally() {
        let mut s = ready(8);
        let len = MSG_MAX_SIZE as usize + 1;
        assert_eq!(s.start_send(len), Err(SendError::TooLong { len }));
        assert!(s.is_idle());
    }

    #[test]
    fn eof_reports_missing_bytes() {
        let mut s = ready(100);
        assert_eq!(s.handle_eof(), Ok(()));
        let mut s = ready(100);
        let _ = s.handle_control(&[0, 1]);
        let eof = ProtocolError::UnexpectedEof {
            phase: Phase::Header,
            missing: 2,
        };
        assert_eq!(s.handle_eof(), Err(eof));
        let mut s = ready(100);
        let _ = s.handle_control(&[0, 0, 0, 10]);
        s.output_written(1);
        assert_eq!(s.handle_payload(4), None);
        let eof = ProtocolError::UnexpectedEof {
            phase: Phase::ReceivingPayload,
            missing: 6,
        };
        assert_eq!(s.handle_eof(), Err(eof));
        assert!(Session::new(1).handle_eof().is_err());
    }

    /// The README's figure: `cargo test -p tinyproto-core --lib state_size -- --nocapture`.
    #[test]
    fn state_size() {
        let size = core::mem::size_of::<Session>();
        std::println!("size_of::<Session>() = {size} bytes");
        assert!(size <= 32);
    }

    #[test]
    fn payload_received_is_the_offset_of_the_next_bytes() {
        let mut s = ready(100);
        assert_eq!(s.payload_received(), 0);
        let _ = s.handle_control(&[0, 0, 0, 10]);
        s.output_written(1);
        assert_eq!(s.handle_payload(4), None);
        assert_eq!(s.payload_received(), 4);
        assert_eq!(s.next_read(), NextRead::Payload(6));
        assert_eq!(s.handle_payload(6), Some(SessionEvent::Received));
        assert_eq!(s.payload_received(), 0);
    }
}
