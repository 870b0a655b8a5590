//! A connection thread's read that no timeout ends: what ends it (a close, the watchdog), the
//! stand-in that writes what another thread left owed meanwhile, and what keeps a timeout on
//! it (plugins). The socket's send buffer is filled through a clone of it, and the watchdog's
//! part seen in the connection's state, which the public API cannot reach.

use super::*;
use crate::reactor::HandlerFactory;
use crate::{ConnError, Handler, Timeouts};
use std::net::TcpListener;
use std::sync::mpsc;
use tinyproto_core::plugin::PluginError;
use tinyproto_core::session::{Phase, SendError};
use tinyproto_core::wire::{LengthHeader, SC_OK};
use tinyproto_core::{Buffer, Plugin};

/// Longer than anything here should take.
const WAIT: Duration = Duration::from_secs(10);

/// A handler whose hooks do nothing.
struct Quiet;
impl Handler for Quiet {}

/// A server-side connection with no time limit, its thread started; the peer's end of the
/// socket (handshake done) and a clone of ours.
fn untimed() -> (Arc<Common>, Arc<ThreadConn>, TcpStream, TcpStream) {
    let mut settings = EngineSettings::default();
    settings.conn.timeouts = Timeouts::new();
    started(settings, Arc::new(|_: &ConnectionHandle| Box::new(Quiet)))
}

/// [`untimed`] with `settings` and handlers from `factory`.
fn started(
    mut settings: EngineSettings,
    factory: HandlerFactory,
) -> (Arc<Common>, Arc<ThreadConn>, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let (ours, _) = listener.accept().unwrap();
    let clone = ours.try_clone().unwrap();
    settings.threads_per_connection = true;
    let common = Common::new(settings, factory, None);
    let conn = common.start(ours, None).unwrap();
    peer.write_all(&[0xff]).unwrap();
    peer.read_exact(&mut [0]).unwrap();
    (common, conn, peer, clone)
}

/// Waits (at most [`WAIT`]) until `done` holds for the connection (its entry locked).
fn wait_until(conn: &ThreadConn, what: &str, done: impl Fn(&ThreadConn, &mut Entry<Fed>) -> bool) {
    let give_up = Instant::now() + WAIT;
    while !done(conn, &mut lock(&conn.entry)) {
        assert!(Instant::now() < give_up, "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until the connection thread, past the handshake, is in a read that no timeout ends.
fn wait_blocked(conn: &ThreadConn) {
    wait_until(conn, "the connection thread blocked", |conn, entry| {
        entry.is_established() && conn.blocked.load(Ordering::Acquire)
    });
}

/// Writes junk into `socket` until its send buffer is full; returns how many bytes.
fn fill(socket: &TcpStream) -> usize {
    socket.set_nonblocking(true).unwrap();
    let junk = [0u8; 64 * 1024];
    let mut filled = 0;
    // Bounded: loopback buffers hold a few MiB at most.
    while filled < 256 << 20 {
        match (&*socket).write(&junk) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the send buffer: {e}"),
        }
    }
    socket.set_nonblocking(false).unwrap();
    filled
}

fn handle(conn: &ThreadConn) -> ConnectionHandle {
    lock(&conn.entry).handle.clone()
}

#[test]
fn a_close_from_another_thread_ends_a_read_that_no_timeout_ends() {
    let (common, conn, mut peer, _) = untimed();
    wait_blocked(&conn);
    handle(&conn).close();
    common.wait_all_closed(WAIT);
    assert_eq!(common.live(), 0, "the connection thread finished");
    assert_eq!(peer.read(&mut [0]).unwrap(), 0, "the peer saw the close");
}

/// The header of a send from another thread does not fit in the full send buffer: a stand-in
/// writes it once the peer reads, while the connection thread still waits for the peer's
/// bytes (which the peer sends only after that header: without the stand-in, both would wait
/// forever).
#[test]
fn a_stand_in_writes_what_another_thread_left_owed() {
    let (common, conn, mut peer, clone) = untimed();
    wait_blocked(&conn);
    let filled = fill(&clone);
    // The header's write waits out the write timeout, then is left owed.
    handle(&conn).send(&b"hello"[..]).unwrap();
    {
        let mut entry = lock(&conn.entry);
        assert!(entry.owes_output(), "the header did not fit");
        let fed = entry.stream_mut().unwrap();
        assert!(fed.reader.standing_in, "a stand-in was started");
    }
    let mut junk = vec![0; filled];
    peer.read_exact(&mut junk).unwrap();
    let mut header = [0; 4];
    peer.read_exact(&mut header).unwrap();
    assert_eq!(header, LengthHeader::new(5).to_bytes());
    peer.write_all(&[SC_OK]).unwrap();
    let mut payload = [0; 5];
    peer.read_exact(&mut payload).unwrap();
    assert_eq!(&payload, b"hello");
    wait_until(&conn, "the stand-in is done", |_, entry| {
        entry
            .stream_mut()
            .is_some_and(|fed| !fed.reader.standing_in)
    });
    drop(peer);
    common.wait_all_closed(WAIT);
    assert_eq!(common.live(), 0, "the connection thread finished");
}

/// With a time limit, the connection thread's read inside a stalled header has no timeout
/// either: the watchdog ends the limit, and the connection closes for it.
#[test]
fn the_watchdog_ends_a_time_limit_of_a_read_that_no_timeout_ends() {
    let mut settings = EngineSettings::default();
    // Long enough that the read surely starts well before the limit is due (it would have a
    // timeout of its own under 100 ms before it).
    settings.conn.timeouts = Timeouts::new().stall(1_000);
    let quiet: HandlerFactory = Arc::new(|_: &ConnectionHandle| Box::new(Quiet));
    let (common, conn, mut peer, _) = started(settings, quiet);
    wait_blocked(&conn);
    peer.write_all(&LengthHeader::new(5).to_bytes()[..2])
        .unwrap();
    wait_until(&conn, "the stalled header read", |conn, entry| {
        entry.poll_at().is_some() && conn.blocked.load(Ordering::Acquire)
    });
    common.wait_all_closed(WAIT);
    assert_eq!(common.live(), 0, "the connection thread finished");
    let reason = lock(&conn.entry).close_reason().cloned();
    let error = reason.as_ref().and_then(CloseReason::error);
    assert!(
        matches!(
            error,
            Some(crate::Error::Timeout {
                phase: Phase::Header
            })
        ),
        "closed for {reason:?}"
    );
}

/// With plugins, a send from another thread that one refuses queues `transmission_failed`,
/// which only the connection thread runs: its read keeps a timeout, so the hook runs while
/// the peer sends nothing.
#[test]
fn with_plugins_a_refused_send_from_another_thread_reaches_its_hook_at_once() {
    struct Refuse;
    impl Plugin for Refuse {
        fn on_transmit(&mut self, _: &mut dyn Buffer) -> Result<(), PluginError> {
            Err(PluginError::Invalid("refused by the test"))
        }
    }
    struct Report(mpsc::Sender<ConnError>);
    impl Handler for Report {
        fn transmission_failed(&mut self, _: &mut Conn, error: ConnError) {
            let _ = self.0.send(error);
        }
    }
    let mut settings = EngineSettings::default();
    settings.conn.timeouts = Timeouts::new();
    settings.conn.plugins.push(Arc::new(|| Box::new(Refuse)));
    let (tx, failed) = mpsc::channel();
    let factory: HandlerFactory =
        Arc::new(move |_: &ConnectionHandle| Box::new(Report(tx.clone())));
    let (_common, conn, _peer, _) = started(settings, factory);
    // Its read buffer is out while it reads without the lock.
    wait_until(&conn, "the connection thread reads", |_, entry| {
        entry.is_established()
            && entry
                .stream_mut()
                .is_some_and(|fed| fed.reader.buf.is_empty())
    });
    handle(&conn).send(&b"no"[..]).unwrap();
    let error = failed.recv_timeout(WAIT).expect("transmission_failed ran");
    assert!(
        matches!(error, ConnError::Send(SendError::Plugin(_))),
        "{error:?}"
    );
}
