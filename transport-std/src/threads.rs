//! The thread-per-connection mode ([`threads_per_connection`](crate::ServerBuilder::threads_per_connection)):
//! each connection has a thread of its own that blocks in `read` on its socket and runs its
//! hooks, as the Python package does. A lockstep message then costs the system calls of a
//! hand-written blocking program (no `epoll_wait` before each read), which is what reaches the
//! raw floor's latency when both ends share one CPU; the price is a thread per connection.
//!
//! The connection logic is the reactor's [`Entry`], over a [`Fed`] stream: the thread reads the
//! socket without holding the entry's lock and feeds the bytes in, so another thread may take
//! the lock meanwhile to queue a message (it writes the header itself; the answer wakes the
//! blocked read); while a large payload arrives, one read at a time goes straight into the
//! message with the lock held, so it is copied once. A read between messages or of a small
//! payload usually has no timeout at all (no kernel timer per read): a time limit of the
//! protocol is ended by the server's or client's watchdog thread (see [`SLICE`] for the reads
//! that keep a timeout). A hook's
//! [`Conn::transmit`](crate::Conn::transmit) and [`Conn::receive`](crate::Conn::receive) pump
//! the connection on the hook's own thread until their answer is there.

mod accept;
mod watchdog;

use crate::budget::Budget;
use crate::config::EngineSettings;
use crate::entry::{Entry, Stream};
use crate::error::CloseReason;
use crate::handle::ConnectionHandle;
use crate::hooks::Conn;
use crate::mailbox::{Command, ConnectReply, Link, Mailbox, Pump, Shared};
use crate::protocol::protocol;
use crate::reactor::{HandlerFactory, Notice, Notices, Reactor, Registry};
use crate::reply::{HookAnswer, HookSlot};
use crate::serial::ConnSerial;
use crate::spares::Spares;
use crate::spin::Spinner;
use crate::sync::{lock, wait_timeout};
use std::io::{self, ErrorKind, IoSliceMut, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};
use watchdog::Watchdog;

/// The longest a connection thread blocks in one read that must end by itself: one that
/// holds the connection's lock (a direct read into a large payload), one after which bytes
/// are still owed to the peer (a write the socket did not take at once), one while the
/// connection tick runs, and every read of a connection with plugins (another thread's send
/// that one refuses queues a `transmission_failed` that only the connection thread runs). The
/// connection is then looked at again this often. A time limit of the protocol due sooner, or
/// the limit of a hook's `receive_timeout`, is the read's timeout.
///
/// Any other read waits for the peer alone: its bytes, its close, or a close on our side
/// (which shuts the socket down) end it, and it arms no kernel timer. A time limit of the
/// protocol (one the read left, or one another thread started meanwhile) is then ended by the
/// [`Watchdog`], which looks at the connections this often; another thread's write that the
/// socket did not take at once is finished by a stand-in thread ([`ThreadConn::stand_in`]).
const SLICE: Duration = Duration::from_millis(SLICE_MS);
/// [`SLICE`] in milliseconds.
const SLICE_MS: u64 = 100;

/// Bytes the first read of a connection thread may take from the socket; a read that fills
/// its buffer makes the next one 4 times larger, up to [`MAX_READ`] (large messages then cost
/// as few reads as a blocking program's). Payloads longer than this are read straight into
/// their message (one copy less); shorter ones through the read buffer, without the lock.
const FIRST_READ: usize = 4 * 1024;
/// The largest read buffer of a connection thread.
const MAX_READ: usize = 256 * 1024;

/// A connection's bytes as its [`Entry`] sees them: what the connection thread read, and the
/// socket to write to (blocking, with the write timeout of [`SLICE`]: a write the peer does not
/// take in time reports `WouldBlock` and is finished on a later drive).
pub(crate) struct Fed {
    /// Bytes read, `pos..end` of them not yet taken.
    inbox: Vec<u8>,
    pos: usize,
    end: usize,
    /// The end of the peer's bytes: `Ok` for its close, or the error that broke the socket.
    ended: Option<io::Result<()>>,
    /// One read may go to the socket itself (blocking), straight into the protocol's buffer:
    /// set by the connection thread while a payload arrives, so a large message is not copied
    /// twice.
    direct: bool,
    /// Spinning before this connection's blocking reads (the connection thread's, and the
    /// direct ones).
    spinner: Spinner,
    /// What the pumping thread keeps between its reads.
    reader: Reader,
    socket: TcpStream,
}

/// What the thread that pumps a connection (its own thread, or a thread its hook handed the
/// connection to) keeps between reads.
struct Reader {
    /// The buffer of the next read, taken out while a read runs without the entry's lock.
    buf: Vec<u8>,
    /// The socket's read timeout now.
    timeout: Option<Duration>,
    /// The last pump drove without reading, because the protocol was due at once.
    drove: bool,
    /// A stand-in thread writes what another thread left owed ([`ThreadConn::stand_in`]).
    standing_in: bool,
}

impl Fed {
    fn new(socket: TcpStream, spinner: Spinner) -> Self {
        Self {
            inbox: Vec::new(),
            pos: 0,
            end: 0,
            ended: None,
            direct: false,
            spinner,
            reader: Reader {
                buf: vec![0; FIRST_READ],
                timeout: Some(SLICE),
                drove: false,
                standing_in: false,
            },
            socket,
        }
    }

    /// Takes the first `n` bytes of `buf`, read from the socket: by swapping buffers when
    /// everything before was taken (no copy), else after what is left.
    fn feed(&mut self, buf: &mut Vec<u8>, n: usize) {
        if self.pos == self.end {
            std::mem::swap(&mut self.inbox, buf);
            (self.pos, self.end) = (0, n);
            if buf.len() < self.inbox.len() {
                buf.resize(self.inbox.len(), 0);
            }
        } else {
            self.inbox.truncate(self.end);
            self.inbox.extend_from_slice(&buf[..n]);
            self.end = self.inbox.len();
        }
    }
}

impl Read for Fed {
    /// What was fed, as much as fits; else the one direct read, if allowed.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.end {
            let take = buf.len().min(self.end - self.pos);
            buf[..take].copy_from_slice(&self.inbox[self.pos..self.pos + take]);
            self.pos += take;
            return Ok(take);
        }
        if std::mem::take(&mut self.direct) && self.ended.is_none() {
            // One `recvfrom`, as the floor's, straight into the protocol's buffer.
            match self.spinner.read(&self.socket, &mut [IoSliceMut::new(buf)]) {
                Ok(0) => self.ended = Some(Ok(())),
                Ok(n) => return Ok(n),
                Err(e) if is_wait(&e) => {}
                Err(e) => self.ended = Some(Err(e)),
            }
        }
        match &self.ended {
            None => Err(ErrorKind::WouldBlock.into()),
            Some(Ok(())) => Ok(0),
            Some(Err(e)) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

impl Stream for Fed {
    /// Nothing fed is left, no direct read is allowed, and the peer's end was not met (once
    /// it was, a read must still report it).
    fn fed_dry(&self) -> Option<bool> {
        Some(self.pos == self.end && !self.direct && self.ended.is_none())
    }
}

impl Write for Fed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.socket.write(buf) {
            // The write timeout (`SLICE`) passed: not ready, as for a non-blocking socket.
            Err(e) if e.kind() == ErrorKind::TimedOut => Err(ErrorKind::WouldBlock.into()),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A read or write that timed out or was interrupted: nothing happened, try again.
fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// What the connections of one server or client share.
pub(crate) struct Common {
    pub(crate) settings: EngineSettings,
    pub(crate) factory: HandlerFactory,
    pub(crate) registry: Registry,
    pub(crate) notices: Option<Notices>,
    pub(crate) budget: Mutex<Budget>,
    pub(crate) spares: Spares,
    pub(crate) start: Instant,
    /// A connection has a time limit or a tick: its clock must be read ([`Common::conn_now`]).
    timed: bool,
    /// Ends the time limits that reads without a timeout leave to it, if connections have any.
    watchdog: Option<Arc<Watchdog>>,
    /// Connections have plugins: a send may fail on the thread that queued it.
    plugins: bool,
    next_id: Mutex<u64>,
    /// Signalled (with the registry's lock) whenever a connection leaves the registry.
    left: Condvar,
}

impl Common {
    pub(crate) fn new(
        settings: EngineSettings,
        factory: HandlerFactory,
        notices: Option<Notices>,
    ) -> Arc<Self> {
        let limited = settings.conn.timeouts != crate::Timeouts::new();
        Arc::new(Self {
            timed: limited || settings.connection_tick.is_some(),
            watchdog: limited.then(Arc::default),
            plugins: !settings.conn.plugins.is_empty(),
            budget: Mutex::new(Budget::new(settings.max_buffered_bytes())),
            spares: Spares::new(settings.conn.reuse_limit),
            settings,
            factory,
            registry: Registry::default(),
            notices,
            start: Instant::now(),
            next_id: Mutex::new(0),
            left: Condvar::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The connections' clock: [`Common::now`], or always 0 when no connection has a time
    /// limit or a tick. Nothing is then ever due later than now (a protocol that asks to be
    /// polled again asks for "at once"), so one time serves as well as the clock and costs
    /// no clock read per drive.
    fn conn_now(&self) -> u64 {
        if self.timed {
            self.now()
        } else {
            0
        }
    }

    /// The connections open now.
    pub(crate) fn live(&self) -> usize {
        lock(&self.registry).len()
    }

    /// Waits until no connection is left, at most `limit`.
    fn wait_all_closed(&self, limit: Duration) {
        let give_up = Instant::now() + limit;
        let mut registry = lock(&self.registry);
        while !registry.is_empty() {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            registry = wait_timeout(&self.left, registry, left);
        }
    }

    pub(crate) fn notify(&self, notice: Notice) {
        if let Some(notices) = &self.notices {
            notices.send(notice);
        }
    }

    /// Starts the thread of a connected socket; `connected` learns when its handshake is done.
    pub(crate) fn start(
        self: &Arc<Self>,
        stream: TcpStream,
        connected: Option<ConnectReply>,
    ) -> io::Result<Arc<ThreadConn>> {
        if self.settings.conn.nodelay {
            stream.set_nodelay(true)?;
        }
        stream.set_nonblocking(false)?;
        stream.set_write_timeout(Some(SLICE))?;
        stream.set_read_timeout(Some(SLICE))?;
        let (peer, local) = (stream.peer_addr()?, stream.local_addr()?);
        let writer = stream.try_clone()?;
        let id = {
            let mut next = lock(&self.next_id);
            *next += 1;
            ConnSerial(*next)
        };
        let conn = Arc::new_cyclic(|me: &Weak<ThreadConn>| {
            let handle = ConnectionHandle {
                shared: Arc::new(Shared::new(
                    (id, 0),
                    (peer, local),
                    (self.settings.max_queued, self.settings.max_queued_bytes),
                    Link::Direct(me.clone() as Weak<dyn Mailbox>),
                )),
            };
            let proto = protocol(&self.settings.conn, &self.spares);
            ThreadConn {
                me: me.clone(),
                blocked: AtomicBool::new(false),
                entry: Mutex::new(Entry::new(
                    handle,
                    Fed::new(writer, Spinner::new(self.settings.conn.spin)),
                    proto,
                    connected,
                )),
                socket: stream,
                common: self.clone(),
            }
        });
        let handle = lock(&conn.entry).handle.clone();
        lock(&self.registry).insert(id, handle.clone());
        self.notify(Notice::Opened(handle));
        let watched = match &self.watchdog {
            Some(watchdog) => watchdog.watch(&conn),
            None => Ok(()),
        };
        let spawned = watched.and_then(|()| {
            std::thread::Builder::new()
                .name("tinyproto-conn".into())
                .spawn({
                    let conn = conn.clone();
                    move || conn.run()
                })
        });
        if let Err(e) = spawned {
            let mut entry = lock(&conn.entry);
            conn.close(&mut entry, CloseReason::Local);
            drop(entry);
            conn.finish();
            return Err(e);
        }
        Ok(conn)
    }
}

/// How long a connection thread's next read may block ([`ThreadConn::wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Not at all: the protocol is due now, so drive instead.
    Now,
    /// This long ([`SLICE`], or less when a timeout of the protocol or the tick is sooner).
    For(Duration),
    /// Until the peer's bytes or close (unless the read must end by itself, see [`SLICE`]):
    /// nothing is due, or only a time limit of the protocol, not sooner than [`SLICE`], that
    /// the [`Watchdog`] ends.
    Peer,
}

/// One connection of the thread-per-connection mode.
pub(crate) struct ThreadConn {
    /// Itself, for the stand-in thread a command may start.
    me: Weak<ThreadConn>,
    entry: Mutex<Entry<Fed>>,
    /// The pumping thread is in (or about to enter, or just left) a read without the lock
    /// that no timeout ends: set under the lock before it, cleared before the lock is taken
    /// again after it, so a stand-in stops as soon as the read is over.
    blocked: AtomicBool,
    /// The socket the connection thread reads (its clone in [`Fed`] writes).
    socket: TcpStream,
    common: Arc<Common>,
}

impl Mailbox for ThreadConn {
    /// Runs a command of a handle or a hook (from any thread).
    fn command(&self, command: Command) -> bool {
        let mut entry = lock(&self.entry);
        let known = self.run_command(&mut entry, command);
        self.cover(&mut entry);
        self.release(entry);
        known
    }
}

impl Pump for ThreadConn {
    fn wait_answer(&self, slot: &HookSlot, deadline: Option<Instant>) -> Option<HookAnswer> {
        self.wait_locked(lock(&self.entry), slot, deadline)
    }

    fn command_and_wait(
        &self,
        command: Command,
        slot: &HookSlot,
        deadline: Option<Instant>,
    ) -> Result<Option<HookAnswer>, ()> {
        let mut entry = lock(&self.entry);
        if !self.run_command(&mut entry, command) {
            return Err(());
        }
        Ok(self.wait_locked(entry, slot, deadline))
    }
}

impl ThreadConn {
    /// Runs a command on `entry`; false when it has no meaning for one connection.
    fn run_command(&self, entry: &mut Entry<Fed>, command: Command) -> bool {
        match command {
            Command::Send { msg, reply, .. } => {
                // A closed entry answers the send itself.
                entry.queue(msg, reply);
                self.drive(entry, self.common.conn_now());
            }
            Command::Receive { .. } => {
                entry.receive();
                self.drive(entry, self.common.conn_now());
            }
            Command::CancelReceive { .. } => entry.cancel_receive(),
            Command::Close { reason, .. } => self.close(entry, reason),
            // Commands of the server or client as a whole have no meaning for one connection.
            Command::Broadcast { .. } | Command::Adopt { .. } | Command::Shutdown => return false,
        }
        true
    }

    /// Pumps until the answer is in `slot` (given `entry`, locked); `None` once `deadline`
    /// passed, or if the connection closed without answering (a close answers whoever
    /// waits, so no answer can come after it).
    fn wait_locked<'a>(
        &'a self,
        mut entry: MutexGuard<'a, Entry<Fed>>,
        slot: &HookSlot,
        deadline: Option<Instant>,
    ) -> Option<HookAnswer> {
        loop {
            if let Some(answer) = slot.try_take() {
                return Some(answer);
            }
            if !entry.is_open() || deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            entry = self.pump(entry, deadline);
        }
    }

    /// Moves what can move now (`now`: the connections' clock, read by the caller); closes on
    /// error.
    fn drive(&self, entry: &mut Entry<Fed>, mut now: u64) {
        loop {
            let driven = {
                let mut budget = lock(&self.common.budget);
                // Plugins run inside: one that panics closes only its connection.
                catch_unwind(AssertUnwindSafe(|| entry.drive(now, &mut budget)))
            };
            match driven.map_err(|_| CloseReason::PluginPanicked) {
                // More work than one drive handles: again, at the time it is by then.
                Ok(Ok(true)) => now = self.common.conn_now(),
                Ok(Ok(false)) => return,
                Ok(Err(reason)) | Err(reason) => return self.close(entry, reason),
            }
        }
    }

    /// After another thread's command: if it left bytes owed to the peer while the connection
    /// thread waits in a read that no timeout ends, a stand-in thread writes them (the peer
    /// may wait for them before it sends anything that would end that read).
    fn cover(&self, entry: &mut Entry<Fed>) {
        let owes = entry.owes_output();
        let Some(fed) = entry.stream_mut() else {
            return;
        };
        if !owes || !self.blocked.load(Ordering::Acquire) || fed.reader.standing_in {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("tinyproto-stand-in".into())
            .spawn(move || me.stand_in());
        match spawned {
            Ok(_) => fed.reader.standing_in = true,
            Err(e) => self.close(entry, CloseReason::from(crate::Error::Transport(e))),
        }
    }

    /// The stand-in thread: writes what is owed to the peer (each write blocking up to
    /// [`SLICE`], letting go of the lock between them) for as long as the connection thread
    /// waits in a read that no timeout ends; once it reads with a timeout again (it then
    /// writes what is owed itself), nothing is owed, or the connection closed, it is done.
    fn stand_in(&self) {
        let mut entry = lock(&self.entry);
        while entry.owes_output() && self.blocked.load(Ordering::Acquire) {
            self.drive(&mut entry, self.common.conn_now());
            self.release(entry);
            entry = lock(&self.entry);
        }
        if let Some(fed) = entry.stream_mut() {
            fed.reader.standing_in = false;
        }
        self.release(entry);
    }

    /// Lets go of `entry` after another thread than the connection's drove it; if that started
    /// a time limit, due before the [`Watchdog`]'s next look, of a read that no timeout ends,
    /// then pokes the watchdog (only now: it would find the lock taken and pass by).
    fn release(&self, entry: MutexGuard<'_, Entry<Fed>>) {
        let soon = |at: u64| at < self.common.conn_now().saturating_add(SLICE_MS);
        let poke = (self.common.watchdog.as_ref())
            .filter(|_| self.blocked.load(Ordering::Acquire) && entry.poll_at().is_some_and(soon));
        drop(entry);
        if let Some(watchdog) = poke {
            watchdog.poke();
        }
    }

    /// For the [`Watchdog`]: while the connection thread waits in a read that no timeout
    /// ends, ends the protocol's time limit that is due (the connection closes). Returns how
    /// long until the next is due, if one runs.
    ///
    /// A connection that another thread drives at the moment is left alone: that thread
    /// looks at the time limits itself (and pokes the watchdog if one is due soon), else the
    /// next look comes at most [`SLICE`] later. So is one that owes the peer bytes: its
    /// stand-in writes them and keeps its limits meanwhile (a write here could wait out the
    /// write timeout, holding up every other connection's limits).
    fn watch(&self) -> Option<Duration> {
        if !self.blocked.load(Ordering::Acquire) {
            return None;
        }
        let mut entry = match self.entry.try_lock() {
            Ok(entry) => entry,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        if entry.owes_output() {
            self.cover(&mut entry);
            return None;
        }
        let now = self.common.conn_now();
        if entry.poll_at()? <= now {
            self.drive(&mut entry, now);
            self.cover(&mut entry);
        }
        let left = entry.poll_at()?.saturating_sub(now);
        Some(Duration::from_millis(left.max(1)))
    }

    fn close(&self, entry: &mut Entry<Fed>, reason: CloseReason) {
        if entry.close(reason).is_some() {
            // Wakes the connection thread's read, and tells the peer.
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }

    /// Waits for the peer's next bytes (without holding `entry`'s lock, which it is given and
    /// lets go of meanwhile), at most until `deadline` (a hook's `receive_timeout`), feeds
    /// them in and drives; returns `entry`, locked again.
    fn pump<'a>(
        &'a self,
        mut entry: MutexGuard<'a, Entry<Fed>>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, Entry<Fed>> {
        let (poll_at, tick_at) = (entry.poll_at(), entry.tick_at);
        let large_payload = entry.payload_arriving().is_some_and(|len| len > FIRST_READ);
        let owes = entry.owes_output();
        let Some(fed) = entry.stream_mut() else {
            // Closed: no bytes come any more.
            return entry;
        };
        let direct = large_payload && fed.pos == fed.end;
        let reader = &mut fed.reader;
        let timeout = match self.wait(poll_at, tick_at, reader.drove) {
            Wait::Now => {
                // The protocol is due now (once: then it reads, at least 1 ms).
                reader.drove = true;
                self.drive(&mut entry, self.common.conn_now());
                return entry;
            }
            Wait::For(wait) => Some(wait),
            // With plugins, another thread's send may fail meanwhile: the
            // `transmission_failed` it queues runs only on this thread.
            Wait::Peer if direct || owes || self.common.plugins => Some(SLICE),
            Wait::Peer => None,
        };
        let timeout = match deadline {
            // At least 1 ms: a zero timeout would block forever.
            Some(deadline) => Some(
                (deadline.saturating_duration_since(Instant::now()))
                    .clamp(Duration::from_millis(1), timeout.unwrap_or(SLICE)),
            ),
            None => timeout,
        };
        reader.drove = false;
        if timeout != reader.timeout {
            if self.socket.set_read_timeout(timeout).is_err() {
                return entry;
            }
            reader.timeout = timeout;
        }
        if direct {
            // Straight into the message: one read, with the lock held (it returns as soon as
            // payload bytes are there, or after the read timeout).
            fed.direct = true;
            self.drive(&mut entry, self.common.conn_now());
            if let Some(fed) = entry.stream_mut() {
                fed.direct = false;
            }
            self.after_read(&mut entry, self.common.conn_now());
            return entry;
        }
        // The spinner's state and the buffer travel with the read, made without the lock
        // (only one thread pumps at a time: the connection's, or the one its hook runs on).
        let mut spinner = fed.spinner;
        self.blocked.store(timeout.is_none(), Ordering::Release);
        let mut buf = std::mem::take(&mut fed.reader.buf);
        if buf.is_empty() {
            buf = vec![0; FIRST_READ];
        }
        drop(entry);
        let read = spinner.read(&self.socket, &mut [IoSliceMut::new(&mut buf)]);
        self.blocked.store(false, Ordering::Release);
        let mut entry = lock(&self.entry);
        if let Some(fed) = entry.stream_mut() {
            fed.spinner = spinner;
            match read {
                Ok(0) => fed.ended = Some(Ok(())),
                Ok(n) => {
                    let full = n == buf.len();
                    fed.feed(&mut buf, n);
                    if full && buf.len() < MAX_READ {
                        buf.resize(buf.len() * 4, 0);
                    }
                }
                Err(e) if is_wait(&e) => {}
                Err(e) => fed.ended = Some(Err(e)),
            }
            fed.reader.buf = buf;
        }
        let now = self.common.conn_now();
        self.drive(&mut entry, now);
        self.after_read(&mut entry, now);
        entry
    }

    /// After a read: the connection tick, if due at `now`, and the next one armed.
    fn after_read(&self, entry: &mut Entry<Fed>, now: u64) {
        if entry.tick_if_due(now) {
            self.drive(entry, now);
        }
        entry.arm_tick(now, self.common.settings.connection_tick);
    }

    /// How long the next read may block, given a timeout of the protocol (`poll_at`), the
    /// connection tick (`tick_at`), and whether the last pump just drove because the protocol
    /// was due (`drove`). The clock is read only when something is due at all.
    fn wait(&self, poll_at: Option<u64>, tick_at: Option<u64>, drove: bool) -> Wait {
        let Some(due) = [poll_at, tick_at].into_iter().flatten().min() else {
            return Wait::Peer;
        };
        let now = self.common.conn_now();
        if poll_at.is_some_and(|at| at <= now) && !drove {
            return Wait::Now;
        }
        match due.saturating_sub(now) {
            // At least 1 ms: a zero timeout would block forever.
            left if left < SLICE_MS => Wait::For(Duration::from_millis(left.max(1))),
            // Only the tick needs this thread; a time limit is the watchdog's.
            _ if tick_at.is_none() => Wait::Peer,
            _ => Wait::For(SLICE),
        }
    }

    /// The connection thread: pumps and runs the hooks until the connection is closed and its
    /// last hook has run.
    fn run(self: Arc<Self>) {
        crate::sync::mark_conn_thread();
        let mut entry = lock(&self.entry);
        self.drive(&mut entry, self.common.conn_now());
        loop {
            entry = self.run_hooks(entry);
            if entry.finished().is_some() {
                break;
            }
            entry = self.pump(entry, None);
        }
        drop(entry);
        self.finish();
    }

    /// Runs the hook calls queued, one after the other (given `entry`, locked, and letting go
    /// of it while a hook runs); returns it, locked, once none is left.
    fn run_hooks<'a>(
        self: &'a Arc<Self>,
        mut entry: MutexGuard<'a, Entry<Fed>>,
    ) -> MutexGuard<'a, Entry<Fed>> {
        loop {
            let Some((handler, call)) = entry.next_call() else {
                return entry;
            };
            let handle = entry.handle.clone();
            drop(entry);
            let mut conn = Conn::threaded(handle, self.clone() as Arc<dyn Pump>);
            let factory = &self.common.factory;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let mut handler = handler.unwrap_or_else(|| factory(conn.handle()));
                call.run(&mut *handler, &mut conn);
                handler
            }));
            let (shutdown, _) = conn.finish();
            entry = lock(&self.entry);
            if let Some(reason) = entry.hook_done(outcome.ok(), shutdown) {
                self.close(&mut entry, reason);
            }
            self.drive(&mut entry, self.common.conn_now());
        }
    }

    /// The connection is over: the server hears of it and it leaves the registry, together.
    fn finish(&self) {
        let mut entry = lock(&self.entry);
        let handle = entry.handle.clone();
        let mut reason = entry
            .close_reason()
            .cloned()
            .unwrap_or(CloseReason::Shutdown);
        entry.release_budget(&mut lock(&self.common.budget));
        // The handler and the plugins are dropped here.
        let handler = entry.take_handler();
        drop(entry);
        if !crate::reactor::drop_quietly(handler) && reason.is_normal() {
            reason = CloseReason::HookPanicked;
        }
        // Told and removed under the registry's lock: whoever heard of the close finds the
        // connection gone (a new one is not refused at the limit for it), and a shutdown that
        // finds the registry empty comes after every close was told.
        let mut registry = lock(&self.common.registry);
        self.common.notify(Notice::Closed(handle.clone(), reason));
        registry.remove(&handle.id());
        drop(registry);
        self.common.left.notify_all();
    }
}

/// Starts what serves the connections of a server or client: the reactor's I/O thread, or
/// with [`EngineSettings::threads_per_connection`] the acceptor of a thread per connection;
/// `listeners` is empty for a client.
pub(crate) fn start(
    settings: EngineSettings,
    listeners: Vec<mio::net::TcpListener>,
    max_connections: Option<usize>,
    factory: HandlerFactory,
    notices: Option<Notices>,
) -> io::Result<Reactor> {
    if settings.threads_per_connection {
        let common = Common::new(settings, factory, notices);
        accept::start(common, listeners, max_connections)
    } else {
        Reactor::start(settings, listeners, max_connections, factory, notices)
    }
}

#[cfg(test)]
mod tests;
