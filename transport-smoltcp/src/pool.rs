//! A fixed pool of connection slots, each a smoltcp socket with its protocol state; what the
//! server and the client share.

use crate::config::Config;
use crate::error::{Error, Shutdown, TcpError};
use crate::handler::{Conn, Control, Hooks, Link, Slots};
use crate::io::TcpIo;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State as TcpState};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::plugin::Plugins;
use tinyproto_core::session::{Phase, SendError};
use tinyproto_core::ConnId;

/// Most protocol events one connection handles in one `poll`, so that one busy peer cannot
/// starve the others; the status then asks to be polled again at once.
const EVENTS_PER_POLL: usize = 32;

/// One socket of a pool with the protocol state and buffers of the connection it carries.
///
/// `rx` (of type `R`) bounds the largest message accepted (a larger one is answered `0x00`
/// and skipped), `tx` (of type `T`) the largest one sent (after plugins): firmware that
/// receives large messages and answers short ones gives the slot a large `R` and a small `T`.
/// Use `heapless::Vec<u8, N>` buffers, or [`SliceBuffer`](tinyproto_core::buffer::SliceBuffer)s
/// over memory the firmware places itself.
#[derive(Debug)]
pub struct Slot<R, T = R, P = ()> {
    handle: SocketHandle,
    conn: Connection<R, T, P>,
    state: SlotState,
    index: u16,
    generation: u32,
    remote: Option<IpEndpoint>,
    established: bool,
    shutdown: bool,
    /// Since when an answer we owe the peer has been waiting for room in the socket.
    kicked: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// No connection; the socket is closed (or about to be re-armed).
    Free,
    /// Server: the socket listens.
    Listening,
    /// A connection is up or coming up (client: from `connect`); `ready` once the handshake
    /// is done.
    Open { ready: bool },
    /// The connection ended; the socket finishes its TCP close.
    Closing { since: u64 },
}

impl<R: Buffer, T: Buffer, P: Plugins> Slot<R, T, P> {
    /// A slot over the TCP socket `handle` (already added to the `SocketSet`), with message
    /// buffers and a plugin chain.
    pub fn new(handle: SocketHandle, rx: R, tx: T, plugins: P) -> Self {
        Self {
            handle,
            conn: Connection::with_plugins(rx, tx, plugins),
            state: SlotState::Free,
            index: 0,
            generation: 0,
            remote: None,
            established: false,
            shutdown: false,
            kicked: false,
        }
    }
}

impl<R: Buffer + Default, T: Buffer + Default, P: Plugins + Default> Slot<R, T, P> {
    /// A slot over the TCP socket `handle` with default buffers (e.g. `heapless::Vec<u8, N>`)
    /// and plugins.
    pub fn for_socket(handle: SocketHandle) -> Self {
        Self::new(handle, R::default(), T::default(), P::default())
    }
}

impl<R, T, P> Slot<R, T, P> {
    /// The socket this slot drives.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    fn id(&self) -> ConnId {
        ConnId::new(self.index, self.generation)
    }

    fn is_ready(&self) -> bool {
        matches!(self.state, SlotState::Open { ready: true })
    }

    /// Traces a step of a connection's life through `log` or `defmt` (the features of the same
    /// names, which turn on the core's; the core rejects both at once), or not at all.
    fn trace(&self, what: &str) {
        #[cfg(feature = "log")]
        log::trace!("connection {} {}", self.index, what);
        #[cfg(feature = "defmt")]
        defmt::trace!("connection {} {}", self.index, what);
        let _ = what;
    }
}

impl<R: Buffer, T: Buffer, P: Plugins> Link for Slot<R, T, P> {
    fn id(&self) -> ConnId {
        Slot::id(self)
    }
    fn remote(&self) -> Option<IpEndpoint> {
        self.remote
    }
    fn message(&self) -> &[u8] {
        self.conn.message()
    }
    fn transmit(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.conn.send(msg)?;
        self.kicked = true;
        Ok(())
    }
    fn can_transmit(&self) -> bool {
        self.conn.can_send()
    }
    fn phase(&self) -> Phase {
        self.conn.session().phase()
    }
    fn request_shutdown(&mut self) {
        self.shutdown = true;
        self.kicked = true;
    }
}

impl<R: Buffer, T: Buffer, P: Plugins, const N: usize> Slots for [Slot<R, T, P>; N] {
    fn count(&self) -> usize {
        self.len()
    }
    fn id_at(&self, index: usize) -> Option<ConnId> {
        self.get(index).filter(|s| s.is_ready()).map(Slot::id)
    }
    fn open_count(&self) -> usize {
        self.iter()
            .filter(|s| matches!(s.state, SlotState::Open { .. }))
            .count()
    }
    fn link(&mut self, id: ConnId) -> Option<Conn<'_>> {
        let slot = self.get_mut(id.index())?;
        if !slot.is_ready() || slot.generation != id.generation() {
            return None;
        }
        Some(Conn { link: slot })
    }
}

/// `now` in milliseconds, as the core's clocks count (0 before the epoch). Divides the
/// microseconds unsigned: firmware then needs no signed 64-bit division routine.
pub(crate) fn millis(now: Instant) -> u64 {
    u64::try_from(now.total_micros()).unwrap_or(0) / 1000
}

/// Re-arms `socket` to listen on `port` (aborting what it still carried); `true` once it
/// listens. Pool slots and the server's limit socket are armed the same way.
pub(crate) fn arm(socket: &mut tcp::Socket<'_>, port: u16, config: &Config) -> bool {
    release(socket);
    config.apply(socket);
    socket.listen(port).is_ok()
}

/// Frees `socket`: aborts what it still carries (a reset), unless it is closed already (a
/// socket in `TimeWait` is left to be re-armed without one).
pub(crate) fn release(socket: &mut tcp::Socket<'_>) {
    if socket.is_open() {
        socket.abort();
    }
}

/// What became of a listening socket.
pub(crate) enum Heard {
    /// It still listens (or a handshake is under way).
    Nothing,
    /// It closed: re-arm it.
    Gone,
    /// A peer connected.
    Peer,
}

/// What became of `socket`, armed to listen; pool slots and the limit socket ask alike.
pub(crate) fn heard(socket: &tcp::Socket<'_>) -> Heard {
    match socket.state() {
        TcpState::Listen | TcpState::SynReceived => Heard::Nothing,
        TcpState::Closed | TcpState::TimeWait => Heard::Gone,
        _ => Heard::Peer,
    }
}

/// The end of a slot's linger, in milliseconds.
fn linger_end(since: u64, config: &Config) -> u64 {
    since.saturating_add(config.linger_millis().into())
}

impl<R: Buffer, T: Buffer, P: Plugins> Slot<R, T, P> {
    /// Takes over a socket that just got (or is getting) a connection.
    fn open(&mut self, socket: &tcp::Socket<'_>, config: &Config) {
        self.conn.reset();
        self.conn.set_timeouts(config.timeouts);
        self.remote = socket.remote_endpoint();
        self.state = SlotState::Open { ready: false };
        self.shutdown = false;
        self.kicked = true;
        self.trace("opened");
    }

    /// Advances this slot: arms its socket, notices new connections, drives the protocol and
    /// calls the hooks, finishes closes.
    fn step<K, H: Hooks<K> + ?Sized>(
        &mut self,
        socket: &mut tcp::Socket<'_>,
        now: u64,
        listen: Option<u16>,
        config: &Config,
        hooks: &mut H,
    ) {
        self.kicked = false;
        match self.state {
            SlotState::Free => {
                let Some(port) = listen else { return };
                if arm(socket, port, config) {
                    self.state = SlotState::Listening;
                }
            }
            SlotState::Listening => match heard(socket) {
                Heard::Nothing => {}
                Heard::Gone => self.state = SlotState::Free,
                Heard::Peer => {
                    self.established = true;
                    self.open(socket, config);
                    hooks.accepted(&mut Conn { link: self });
                    self.drive(socket, now, hooks);
                }
            },
            SlotState::Open { .. } => {
                if !self.established
                    && matches!(
                        socket.state(),
                        TcpState::Established
                            | TcpState::CloseWait
                            | TcpState::FinWait1
                            | TcpState::FinWait2
                            | TcpState::Closing
                            | TcpState::LastAck
                    )
                {
                    self.established = true;
                    self.remote = socket.remote_endpoint().or(self.remote);
                }
                self.drive(socket, now, hooks);
                if self.is_ready() {
                    hooks.loop_pass(&mut Conn { link: self });
                }
            }
            SlotState::Closing { since } => {
                // Its TCP close completed, or the linger passed: free (aborted).
                if !socket.is_open() || now >= linger_end(since, config) {
                    release(socket);
                    self.state = SlotState::Free;
                }
            }
        }
    }

    fn drive<K, H: Hooks<K> + ?Sized>(
        &mut self,
        socket: &mut tcp::Socket<'_>,
        now: u64,
        hooks: &mut H,
    ) {
        for _ in 0..EVENTS_PER_POLL {
            if self.shutdown_due() {
                self.end(socket, now, Shutdown::Local, hooks);
                return;
            }
            match self.conn.poll(&mut TcpIo(socket), now) {
                // Bytes moved that may have let a requested shutdown happen: the loop's top.
                Ok(None) if self.shutdown_due() => {}
                Ok(None) => return,
                Ok(Some(Event::HandshakeDone)) => {
                    self.state = SlotState::Open { ready: true };
                    hooks.pre_loop(&mut Conn { link: self });
                }
                // An answer still owed for it (the `0xff` of an empty message) does not stop
                // a reply: the core queues the reply's header behind it.
                Ok(Some(Event::Received)) => hooks.transmission_received(&mut Conn { link: self }),
                Ok(Some(Event::Sent)) => {}
                Ok(Some(
                    event @ (Event::Refused { .. } | Event::Rejected { .. } | Event::Discarded(_)),
                )) => {
                    if let Some(failure) = event.failure() {
                        hooks.transmission_failed(&mut Conn { link: self }, &failure)
                    }
                }
                Err(e) => {
                    self.fail(socket, now, e, hooks);
                    return;
                }
            }
        }
        self.kicked = true;
    }

    /// Whether a requested shutdown can happen now: nothing of ours is half written, and no
    /// message of ours waits for the peer's status byte (its payload is still to go; the
    /// status timeout bounds the wait).
    fn shutdown_due(&self) -> bool {
        let session = self.conn.session();
        self.shutdown
            && session.pending_output().is_empty()
            && session.payload_to_send() == 0
            && session.phase() != Phase::Status
    }

    fn fail<K, H: Hooks<K> + ?Sized>(
        &mut self,
        socket: &mut tcp::Socket<'_>,
        now: u64,
        error: Error,
        hooks: &mut H,
    ) {
        let why = match error {
            Error::Closed => Shutdown::PeerClosed,
            Error::Transport(TcpError::Reset) if !self.established => {
                Shutdown::Failed(Error::Transport(TcpError::ConnectFailed))
            }
            e => Shutdown::Failed(e),
        };
        self.end(socket, now, why, hooks);
    }

    fn end<K, H: Hooks<K> + ?Sized>(
        &mut self,
        socket: &mut tcp::Socket<'_>,
        now: u64,
        why: Shutdown,
        hooks: &mut H,
    ) {
        let came_up = self.is_ready();
        self.conn.close();
        match why {
            // The peer is gone or stuck: free the socket at once (a reset, if anything).
            Shutdown::Failed(Error::Transport(_) | Error::Timeout { .. }) => socket.abort(),
            _ => socket.close(),
        }
        self.state = if socket.is_open() {
            SlotState::Closing { since: now }
        } else {
            SlotState::Free
        };
        let id = self.id();
        self.generation = self.generation.wrapping_add(1);
        self.shutdown = false;
        self.trace("ended");
        if came_up {
            hooks.post_loop(id);
        }
        hooks.ended(id, &why);
    }

    /// When this slot needs a poll, in milliseconds.
    fn poll_at(&self, now: u64, config: &Config) -> Option<u64> {
        if self.kicked {
            return Some(now);
        }
        match self.state {
            SlotState::Open { .. } => self.conn.poll_at(),
            SlotState::Closing { since } => Some(linger_end(since, config)),
            SlotState::Free | SlotState::Listening => None,
        }
    }
}

/// What a server adds to the loop of its pool (a listening port, the limit socket); a client
/// adds nothing (`()`).
pub(crate) trait Extra {
    /// The port free slots listen on.
    fn listen_port(&self) -> Option<u16> {
        None
    }

    /// Whether the extra sockets are closed (a stop completes only then).
    fn closed(&self) -> bool {
        true
    }

    /// When the extra sockets need a poll, in milliseconds.
    fn poll_at(&self) -> Option<u64> {
        None
    }

    /// Steps the extra sockets, after the slots and again after `loop_pass`; `wanted`: no
    /// stop is asked for and every slot is busy.
    fn step<K, H: Hooks<K> + ?Sized>(
        &mut self,
        wanted: bool,
        config: &Config,
        now: u64,
        sockets: &mut SocketSet<'_>,
        hooks: &mut H,
    ) {
        let _ = (wanted, config, now, sockets, hooks);
    }
}

impl Extra for () {}

/// The slots of a server or client, with the loop state that both share.
#[derive(Debug)]
pub(crate) struct Pool<R, T, P, const N: usize> {
    pub(crate) slots: [Slot<R, T, P>; N],
    pub(crate) config: Config,
    started: bool,
    pub(crate) stop: bool,
    stopped: bool,
}

impl<R: Buffer, T: Buffer, P: Plugins, const N: usize> Pool<R, T, P, N> {
    pub(crate) fn new(mut slots: [Slot<R, T, P>; N], config: Config) -> Self {
        const { assert!(N <= u16::MAX as usize, "at most 65535 sockets in a pool") };
        for (i, slot) in slots.iter_mut().enumerate() {
            slot.index = i as u16;
        }
        Self {
            slots,
            config,
            started: false,
            stop: false,
            stopped: false,
        }
    }

    pub(crate) fn control(&mut self) -> Control<'_> {
        Control {
            slots: &mut self.slots,
            stop: &mut self.stop,
        }
    }

    /// One pass of the loop: steps every slot and the extra sockets, runs `loop_pass`,
    /// applies a stop, and says when to come back.
    pub(crate) fn poll<K, H: Hooks<K> + ?Sized, X: Extra>(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'_>,
        extra: &mut X,
        hooks: &mut H,
    ) -> Status {
        let now = millis(now);
        if self.stop && self.all_free() && extra.closed() {
            return self.finish(now, true, None, hooks);
        }
        self.step_all(now, sockets, extra.listen_port(), hooks);
        self.step_extra(extra, now, sockets, hooks);
        hooks.passed(&mut self.control());
        self.apply_stop(sockets);
        self.step_extra(extra, now, sockets, hooks);
        let at = extra.poll_at();
        self.finish(now, extra.closed(), at, hooks)
    }

    fn step_extra<K, H: Hooks<K> + ?Sized, X: Extra>(
        &mut self,
        extra: &mut X,
        now: u64,
        sockets: &mut SocketSet<'_>,
        hooks: &mut H,
    ) {
        let wanted = !self.stop && !self.any_listening();
        extra.step(wanted, &self.config, now, sockets, hooks);
    }

    /// Runs `pre_loop` once, then steps every slot.
    fn step_all<K, H: Hooks<K> + ?Sized>(
        &mut self,
        now: u64,
        sockets: &mut SocketSet<'_>,
        listen: Option<u16>,
        hooks: &mut H,
    ) {
        if !self.started {
            self.started = true;
            hooks.started(&mut self.control());
        }
        let listen = listen.filter(|_| !self.stop);
        for slot in &mut self.slots {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            slot.step(socket, now, listen, &self.config, hooks);
        }
    }

    /// Applies a stop: listeners close, connections are asked to shut down.
    fn apply_stop(&mut self, sockets: &mut SocketSet<'_>) {
        if !self.stop {
            return;
        }
        for slot in &mut self.slots {
            match slot.state {
                SlotState::Listening => {
                    sockets.get_mut::<tcp::Socket>(slot.handle).abort();
                    slot.state = SlotState::Free;
                }
                SlotState::Open { .. } if !slot.shutdown => slot.request_shutdown(),
                _ => {}
            }
        }
    }

    /// Whether no slot holds a connection or a closing socket.
    fn all_free(&self) -> bool {
        self.slots
            .iter()
            .all(|s| matches!(s.state, SlotState::Free))
    }

    /// Whether some slot's socket listens.
    fn any_listening(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.state, SlotState::Listening))
    }

    /// The earliest time a slot needs a poll, or the end of the loop.
    fn finish<K, H: Hooks<K> + ?Sized>(
        &mut self,
        now: u64,
        others_closed: bool,
        others_at: Option<u64>,
        hooks: &mut H,
    ) -> Status {
        if self.stopped {
            return Status::Stopped;
        }
        if self.stop && others_closed && self.all_free() {
            self.stopped = true;
            hooks.stopped();
            return Status::Stopped;
        }
        let at = self
            .slots
            .iter()
            .filter_map(|s| s.poll_at(now, &self.config))
            .chain(others_at)
            .min();
        Status::Running {
            poll_at: at.map(|ms| Instant::from_millis(ms.min(i64::MAX as u64) as i64)),
        }
    }

    /// A slot that holds no connection, for a client to connect on.
    pub(crate) fn free_slot(&mut self) -> Option<&mut Slot<R, T, P>> {
        self.slots
            .iter_mut()
            .find(|s| matches!(s.state, SlotState::Free))
    }
}

impl<R: Buffer, T: Buffer, P: Plugins> Slot<R, T, P> {
    /// Client side: starts a connection on this free slot's socket.
    pub(crate) fn connect(
        &mut self,
        socket: &mut tcp::Socket<'_>,
        cx: &mut smoltcp::iface::Context,
        remote: IpEndpoint,
        local_port: u16,
        config: &Config,
        now: u64,
    ) -> Result<ConnId, tcp::ConnectError> {
        release(socket);
        config.apply(socket);
        socket.connect(cx, remote, local_port)?;
        self.open(socket, config);
        self.remote = Some(remote);
        self.established = false;
        // Starts the handshake clock now: the handshake limit covers the TCP connect too.
        let _ = self.conn.poll(&mut TcpIo(socket), now);
        Ok(self.id())
    }
}

/// What `poll` reports.
#[must_use = "poll again at `poll_at`, and stop the loop when stopped"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// Still running.
    Running {
        /// Poll again at this time at the latest, even without network activity (a timeout, a
        /// linger, or work left over from this poll); `None`: only when the interface has
        /// something new.
        poll_at: Option<Instant>,
    },
    /// A stop has completed: every connection is shut down, every socket closed, and
    /// `post_loop` has run. Further polls do nothing.
    Stopped,
}

impl Status {
    /// Whether the loop has ended.
    pub fn is_stopped(&self) -> bool {
        matches!(self, Status::Stopped)
    }

    /// When to poll again at the latest.
    pub fn poll_at(&self) -> Option<Instant> {
        match self {
            Status::Running { poll_at } => *poll_at,
            Status::Stopped => None,
        }
    }

    /// How long the caller may sleep from `now` (zero when a poll is due), or `None` to wait
    /// for network activity only. Combine with `Interface::poll_delay`.
    pub fn poll_delay(&self, now: Instant) -> Option<Duration> {
        let at = self.poll_at()?;
        Some(if at > now { at - now } else { Duration::ZERO })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_from_65536_connections_ago_addresses_nothing() {
        let mut sockets = SocketSet::new(vec![]);
        let buffer = || tcp::SocketBuffer::new(vec![0; 64]);
        let handle = sockets.add(tcp::Socket::new(buffer(), buffer()));
        let mut slots = [Slot::<heapless::Vec<u8, 8>>::for_socket(handle)];
        slots[0].state = SlotState::Open { ready: true };
        let stale = slots[0].id();
        slots[0].generation += 1 << 16;
        let current = slots[0].id();
        assert!(slots.link(stale).is_none());
        assert!(slots.link(current).is_some());
    }
}
