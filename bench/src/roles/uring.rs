//! The io_uring floor: the floor's server (same bytes on the wire, `TCP_NODELAY`, a thread per
//! connection) with every hand-off in one system call. Each time the server answers, the
//! answer's send and the next receive go to the kernel together, the send linked before the
//! receive, in one `io_uring_enter` that also waits for the receive. The floor makes two
//! system calls there (a write, then a blocking read).
//!
//! A reference, not a library mode: it shows on each machine what a completion-based server
//! could reach (issue 15 asked whether an io_uring path for the std transport would bring the
//! lockstep echo to the floor).
//!
//! The kernel reads and writes the buffers of a submitted operation until its completion, so
//! pushing one to the ring is `unsafe`: [`hand_off`] never returns while an operation it
//! submitted may still touch them (the receive is linked after the send, and its completion is
//! the last of the pair), except after an unexpected error of the ring itself, where the buffers
//! are leaked rather than freed or reused.

use super::{floor, SINK_ECHO_BELOW};
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

const OK: u8 = 0xff;
/// Entries of each connection's ring (a hand-off uses two).
const RING: u32 = 8;
/// The least room a receive is given, so that a peer's pipelined messages arrive in few reads.
const READ_AHEAD: usize = 64 * 1024;
/// `IORING_RECVSEND_POLL_FIRST` (`linux/io_uring.h`, Linux 5.19): the receive waits for data
/// without trying first (in lockstep the peer has not answered yet when it is submitted).
const POLL_FIRST: u16 = 1;
const SEND: u64 = 1;
const RECV: u64 = 2;

/// Whether this kernel lets this process set up a ring (it may not: `ENOSYS` on kernels
/// without io_uring, `EPERM` where `kernel.io_uring_disabled` or a seccomp filter forbids it).
pub fn probe() -> Result<(), String> {
    new_ring()
        .map(drop)
        .map_err(|e| format!("io_uring refused by this kernel: {e}"))
}

/// A ring for one connection: one thread submits (`SINGLE_ISSUER`) and completions are run
/// when it waits (`DEFER_TASKRUN`, Linux 6.1), or a plain ring where those are refused.
fn new_ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING)
        .or_else(|_| IoUring::new(RING))
}

/// Serves on 127.0.0.1:`a.port` as the floor's server does (`a.mode` echo or sink, `a.max`),
/// a thread per connection, each with its own ring.
pub fn server(a: &super::RoleArgs) -> io::Result<()> {
    // Refused io_uring: say so before `LISTENING`, so the harness does not start clients.
    probe().map_err(io::Error::other)?;
    floor::serve_each(a, |s, echo_all, max| serve(s, Session::new(echo_all, max)))
}

/// One connection: the floor's opening (`ff` each way, blocking), then hand-offs on the ring.
fn serve(mut s: TcpStream, mut session: Session) -> io::Result<()> {
    floor::open(&mut s)?;
    let mut ring = new_ring()?;
    let mut bufs = Buffers {
        input: ReadAhead::default(),
        out: Vec::new(),
    };
    loop {
        let used = session.feed(bufs.input.data(), &mut bufs.out)?;
        bufs.input.consume(used);
        let got = hand_off(&mut ring, &s, &mut bufs, session.needs())?;
        if got == 0 {
            // The peer closed: normal between messages, else a message was cut short.
            return if session.between_messages() && bufs.input.data().is_empty() {
                Ok(())
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        bufs.input.filled(got);
    }
}

/// The memory the kernel reads and writes: the answers to send, the bytes received.
struct Buffers {
    input: ReadAhead,
    out: Vec<u8>,
}

impl Buffers {
    /// Gives the buffers up for good: the kernel may still use them.
    fn leak(&mut self) {
        std::mem::forget(std::mem::take(&mut self.out));
        std::mem::forget(std::mem::take(&mut self.input.buf));
    }
}

/// Sends all of `bufs.out` (then empties it) and receives into `bufs.input` what the peer has
/// sent, room for at least `need` unparsed bytes: one `io_uring_enter`, the send linked before
/// the receive. Returns the bytes received (0: the peer closed).
fn hand_off(
    ring: &mut IoUring,
    s: &TcpStream,
    bufs: &mut Buffers,
    need: usize,
) -> io::Result<usize> {
    let fd = types::Fd(s.as_raw_fd());
    // A completion reports at most `i32::MAX` bytes.
    let out_len = i32::try_from(bufs.out.len()).map_err(|_| io::Error::other("answer too long"))?;
    let room = bufs.input.room(need);
    let room_len = i32::try_from(room.len()).unwrap_or(i32::MAX) as u32;
    let recv = opcode::Recv::new(fd, room.as_mut_ptr(), room_len)
        .ioprio(POLL_FIRST)
        .build()
        .user_data(RECV);
    let sending = out_len > 0;
    // MSG_WAITALL: a short send is a failure, which breaks the link (the receive is then
    // cancelled); without it the receive would start with part of the answer unsent.
    let send = opcode::Send::new(fd, bufs.out.as_ptr(), out_len as u32)
        .flags(libc::MSG_WAITALL | libc::MSG_NOSIGNAL)
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(SEND);
    let entries = if sending {
        &[send, recv][..]
    } else {
        &[recv][..]
    };
    // SAFETY: the send reads `bufs.out[..out_len]` and the receive writes `room`, both in
    // `bufs`, which this function borrows mutably until it returns. It returns only after the
    // receive's completion, the last of the two (linked: it starts after the send completed,
    // or is cancelled when the send failed), or leaks both buffers first when the ring fails
    // and the kernel may still hold them.
    let pushed = unsafe { ring.submission().push_multiple(entries) };
    if pushed.is_err() {
        // The ring was empty: cannot happen; nothing was submitted.
        return Err(io::Error::other("io_uring submission queue full"));
    }
    // Both completions: the send's says whether all of it went.
    let mut want = entries.len();
    let mut send_result = None;
    let recv_result = loop {
        match ring.submit_and_wait(want) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                bufs.leak();
                return Err(e);
            }
        }
        let mut recv_result = None;
        for cqe in ring.completion() {
            match cqe.user_data() {
                SEND => send_result = Some(cqe.result()),
                _ => recv_result = Some(cqe.result()),
            }
        }
        if let Some(r) = recv_result {
            break r;
        }
        // Interrupted: wait for what is left (the send's completion may be in).
        want = 1;
    };
    if let Some(r) = send_result.filter(|&r| r != out_len) {
        return Err(match r {
            r if r < 0 => io::Error::from_raw_os_error(-r),
            _ => io::ErrorKind::WriteZero.into(),
        });
    }
    bufs.out.clear();
    match recv_result {
        r if r < 0 => Err(io::Error::from_raw_os_error(-r)),
        r => Ok(r as usize),
    }
}

/// Bytes received and not yet parsed: `buf[start..end]`.
#[derive(Default)]
struct ReadAhead {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadAhead {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// The free space after the data, made large enough (moving the data to the front, or
    /// growing) that the data and the room together hold `need` bytes.
    fn room(&mut self, need: usize) -> &mut [u8] {
        if self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let len = need.max(READ_AHEAD).max(self.end + 1);
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
    }
}

/// What the server waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A message's 4-byte header.
    Header,
    /// The payload of that many bytes.
    Payload(usize),
    /// The peer's status byte for the header of our echo.
    Status,
}

/// The floor server's side of the protocol, fed with whatever the socket gave.
struct Session {
    state: State,
    echo_all: bool,
    max: usize,
    /// The message being echoed, from its payload until the peer's status lets it go.
    msg: Vec<u8>,
}

impl Session {
    fn new(echo_all: bool, max: usize) -> Session {
        Session {
            state: State::Header,
            echo_all,
            max,
            msg: Vec::new(),
        }
    }

    /// Bytes the current state waits for.
    fn needs(&self) -> usize {
        match self.state {
            State::Header => 4,
            State::Payload(len) => len,
            State::Status => 1,
        }
    }

    fn between_messages(&self) -> bool {
        self.state == State::Header
    }

    /// Parses what `input` holds, appending the answers to `out`; returns the bytes used.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut used = 0;
        while let Some(item) = input.get(used..used + self.needs()) {
            used += item.len();
            self.state = match self.state {
                State::Header => {
                    let len = u32::from_be_bytes([item[0], item[1], item[2], item[3]]) as usize;
                    if len > self.max {
                        out.push(0x00);
                        State::Header
                    } else {
                        out.push(OK);
                        State::Payload(len)
                    }
                }
                State::Payload(len) if self.echo_all || len < SINK_ECHO_BELOW => {
                    self.msg.clear();
                    self.msg.extend_from_slice(item);
                    out.extend_from_slice(&(len as u32).to_be_bytes());
                    State::Status
                }
                State::Payload(_) => State::Header,
                State::Status if item[0] == OK => {
                    out.extend_from_slice(&self.msg);
                    State::Header
                }
                State::Status => {
                    return Err(io::Error::other(format!("status {:#04x}", item[0])));
                }
            };
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side of two echoes of `b"hi"` and one refused message (max 8).
    const IN: &[u8] = b"\0\0\0\x02hi\xff\0\0\0\x09\0\0\0\x01x\xff";
    const OUT: &[u8] = b"\xff\0\0\0\x02hi\0\xff\0\0\0\x01x";

    fn run(session: &mut Session, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut ahead = ReadAhead::default();
        let mut out = Vec::new();
        for mut piece in input.chunks(chunk) {
            // As a receive does: at most the room given.
            while !piece.is_empty() {
                let room = ahead.room(session.needs());
                let n = room.len().min(piece.len());
                room[..n].copy_from_slice(&piece[..n]);
                ahead.filled(n);
                piece = &piece[n..];
                let used = session.feed(ahead.data(), &mut out).unwrap();
                ahead.consume(used);
            }
        }
        assert!(ahead.data().is_empty());
        out
    }

    #[test]
    fn answers_the_same_whatever_the_reads_return() {
        for chunk in [1, 2, 3, 5, IN.len()] {
            let mut s = Session::new(true, 8);
            assert_eq!(run(&mut s, IN, chunk), OUT, "chunks of {chunk}");
            assert!(s.between_messages());
        }
    }

    #[test]
    fn sink_mode_answers_only_short_messages() {
        let mut input = vec![0, 0, 0, 16];
        input.extend([7; 16]);
        input.extend(b"\0\0\0\x01E\xff");
        let mut s = Session::new(false, 1 << 20);
        assert_eq!(run(&mut s, &input, 7), b"\xff\xff\0\0\0\x01E");
    }

    #[test]
    fn a_message_larger_than_the_read_ahead_is_held_whole() {
        let len = READ_AHEAD * 2 + 3;
        let mut input = (len as u32).to_be_bytes().to_vec();
        input.extend((0..len).map(|i| i as u8));
        input.push(OK);
        let mut s = Session::new(true, len);
        let out = run(&mut s, &input, 10_000);
        assert_eq!(out[..5], [OK, 0, 2, 0, 3]);
        assert_eq!(out[5..], input[4..4 + len]);
    }

    #[test]
    fn a_bad_status_is_an_error_not_a_panic() {
        let mut s = Session::new(true, 8);
        let mut out = Vec::new();
        assert_eq!(s.feed(b"\0\0\0\x01x", &mut out).unwrap(), 5);
        assert!(s.feed(b"\x00", &mut out).is_err());
    }
}
