//! The I/O thread: one `mio` poll over every socket, driving each connection's protocol state
//! and handing hook calls to the hook threads.
//!
//! Nothing here blocks: a connection whose peer stalls only keeps a timer. Hooks run on hook
//! threads and talk to it through [`Command`]s, or run inline here (`hook_calls`); accepting
//! is in `accept`, what the server's thread is told in `notices`.

mod accept;
mod hook_calls;
mod notices;

pub(crate) use accept::{refusal_step, MAX_LINGERING_REFUSALS};
pub(crate) use notices::{Notice, Notices, StoppedGuard};

use crate::budget::Budget;
use crate::config::EngineSettings;
use crate::entry::Entry;
use crate::error::{CloseReason, ConnError, StartError};
use crate::handle::ConnectionHandle;
use crate::hooks::Handler;
use crate::mailbox::{Command, ConnectReply, Link, Shared};
use crate::message::Message;
use crate::protocol::protocol;
use crate::reply::HookAnswer;
use crate::serial::ConnSerial;
use crate::spares::Spares;
use crate::spin::Spinner;
use crate::sync::{lock, mark_io_thread};
use crate::workers::Workers;
pub(crate) use hook_calls::drop_quietly;
use hook_calls::{HookContext, HookDone, HookJob};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tinyproto_core::refusal::Refusal;

const WAKER: Token = Token(usize::MAX);
/// Listener `i` has token `LISTENERS - i`.
const LISTENERS: usize = usize::MAX - 1;
/// Makes a connection's handler; called on a hook thread before its first hook.
pub(crate) type HandlerFactory = Arc<dyn Fn(&ConnectionHandle) -> Box<dyn Handler> + Send + Sync>;

/// The live connections by id, for listing from any thread.
pub(crate) type Registry = Arc<Mutex<BTreeMap<ConnSerial, ConnectionHandle>>>;

/// A running I/O thread.
pub(crate) struct Reactor {
    pub(crate) link: Link,
    pub(crate) registry: Registry,
    thread: Option<JoinHandle<()>>,
}

impl Reactor {
    /// Starts the I/O thread over `listeners` (none for a client).
    pub(crate) fn start(
        settings: EngineSettings,
        listeners: Vec<TcpListener>,
        max_connections: Option<usize>,
        factory: HandlerFactory,
        notices: Option<Notices>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let (commands_tx, commands) = mpsc::channel();
        let (link, woken) = Link::new(commands_tx, waker);
        let registry = Registry::default();
        let (done_tx, done) = mpsc::channel();
        let context = HookContext {
            factory: factory.clone(),
            done: done_tx,
        };
        let workers = Workers::new(settings.workers, settings.max_workers, context)?;
        let mut state = State {
            poll,
            listeners,
            slots: Slab::new(),
            commands,
            done,
            woken,
            link: link.clone(),
            workers,
            timers: BinaryHeap::new(),
            again: Vec::new(),
            start: Instant::now(),
            factory,
            notices,
            registry: registry.clone(),
            next_id: 0,
            live: 0,
            refusing: 0,
            accept_at: None,
            max_connections,
            stopping: false,
            spares: Spares::new(settings.conn.reuse_limit),
            budget: Budget::new(settings.max_buffered_bytes()),
            spinner: Spinner::new(settings.conn.spin),
            settings,
            inline_outbox: Vec::new(),
            give_up_at: None,
        };
        for (i, listener) in state.listeners.iter_mut().enumerate() {
            state
                .poll
                .registry()
                .register(listener, Token(LISTENERS - i), Interest::READABLE)?;
        }
        let thread = std::thread::Builder::new()
            .name("tinyproto-io".into())
            .spawn(move || {
                mark_io_thread();
                state.run();
            })?;
        Ok(Self {
            link,
            registry,
            thread: Some(thread),
        })
    }

    /// The engine of another mode, on a thread that ends once it has closed everything after
    /// [`Command::Shutdown`] (the thread-per-connection mode's acceptor).
    pub(crate) fn with_thread(link: Link, registry: Registry, thread: JoinHandle<()>) -> Self {
        Self {
            link,
            registry,
            thread: Some(thread),
        }
    }

    /// Asks the I/O thread to close everything and stop, and waits for it; false when it had
    /// died (panicked) instead.
    pub(crate) fn stop(&mut self) -> bool {
        self.link.send(Command::Shutdown);
        self.thread
            .take()
            .is_none_or(|thread| thread.join().is_ok())
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

enum Slot {
    Conn(Box<Entry>),
    /// Refused at the connection limit: answered `0xfe`, waiting for the peer to close.
    Refusing {
        stream: TcpStream,
        refusal: Refusal,
    },
}

struct State {
    poll: Poll,
    listeners: Vec<TcpListener>,
    slots: Slab<Slot>,
    commands: mpsc::Receiver<Command>,
    /// Hook calls that ended on hook threads.
    done: mpsc::Receiver<HookDone>,
    woken: Arc<AtomicBool>,
    link: Link,
    workers: Workers<HookJob>,
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    again: Vec<usize>,
    start: Instant,
    factory: HandlerFactory,
    notices: Option<Notices>,
    registry: Registry,
    next_id: u64,
    live: usize,
    /// Refused connections lingering in [`Slot::Refusing`].
    refusing: usize,
    /// When to accept again (after a failed accept, a full budget or lagging hooks).
    accept_at: Option<u64>,
    max_connections: Option<usize>,
    stopping: bool,
    settings: EngineSettings,
    /// Memory of large messages sent, for the next ones received.
    spares: Spares,
    /// The memory all connections may hold in received messages.
    budget: Budget,
    /// Collects an inline hook's transmits; kept to reuse its memory.
    inline_outbox: Vec<Message>,
    /// When a shutdown stops waiting for hooks that still run.
    give_up_at: Option<u64>,
    /// Spinning before `epoll_wait` sleeps.
    spinner: Spinner,
}

impl State {
    fn run(mut self) {
        // Tells the server it stopped even if this thread dies: `Server::run` then returns.
        let _stopped = StoppedGuard(self.notices.clone());
        let mut events = Events::with_capacity(1024);
        while !(self.stopping && self.slots.is_empty()) {
            let timeout = if self.again.is_empty() {
                let timer = self.timers.peek().map(|Reverse((at, _))| *at);
                [timer, self.accept_at, self.give_up_at]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|at| Duration::from_millis(at.saturating_sub(self.now())))
            } else {
                Some(Duration::ZERO)
            };
            // Before sleeping, a short spin for events (see `spin.rs`).
            let spun = match timeout {
                Some(t) if t.is_zero() => None,
                _ => {
                    self.spinner
                        .spin(|| match self.poll.poll(&mut events, Some(Duration::ZERO)) {
                            Ok(()) if events.is_empty() => None,
                            polled => Some(polled),
                        })
                }
            };
            match spun.unwrap_or_else(|| self.poll.poll(&mut events, timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    Token(t) if t > LISTENERS - self.listeners.len() => self.accept(LISTENERS - t),
                    Token(key) => {
                        let ended = event.is_read_closed() || event.is_error();
                        let input = (event.is_readable() || ended).then_some(ended);
                        self.ready(key, input);
                    }
                }
            }
            self.commands();
            self.timers();
            self.accept_retry();
            self.give_up_on_stuck_hooks();
            for key in std::mem::take(&mut self.again) {
                self.drive(key);
            }
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn add(&mut self, mut stream: TcpStream, peer: SocketAddr, connected: Option<ConnectReply>) {
        let settings = &self.settings.conn;
        if settings.nodelay {
            let _ = stream.set_nodelay(true);
        }
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let vacant = self.slots.vacant_entry();
        let key = vacant.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            if let Some(connected) = connected {
                let _ = connected.send(Err(StartError::Io(e)));
            }
            return;
        }
        self.next_id += 1;
        let handle = ConnectionHandle {
            shared: Arc::new(Shared::new(
                (ConnSerial(self.next_id), key),
                (peer, local),
                (self.settings.max_queued, self.settings.max_queued_bytes),
                self.link.clone(),
            )),
        };
        let conn = protocol(settings, &self.spares);
        vacant.insert(Slot::Conn(Box::new(Entry::new(
            handle.clone(),
            stream,
            conn,
            connected,
        ))));
        self.live += 1;
        lock(&self.registry).insert(handle.id(), handle.clone());
        self.notify(Notice::Opened(handle));
        self.drive(key);
    }

    /// A readiness event for a connection (`input`: it may have bytes, and whether it reports
    /// the peer's close or an error).
    fn ready(&mut self, key: usize, input: Option<bool>) {
        match self.slots.get_mut(key) {
            Some(Slot::Conn(entry)) => {
                if let Some(ended) = input {
                    entry.readable(ended);
                }
                self.drive(key);
            }
            Some(Slot::Refusing { .. }) => self.poll_refusal(key),
            None => {}
        }
    }

    fn commands(&mut self) {
        // Cleared before draining: a command queued after the drain wakes us again.
        self.woken.store(false, Ordering::Release);
        loop {
            while let Ok(command) = self.commands.try_recv() {
                self.command(command);
            }
            // The commands a hook queued before it returned are all in by now (they were sent
            // before its end): they are handled before the end, as the hook made them.
            let Ok(done) = self.done.try_recv() else {
                return;
            };
            self.hook_done(done);
        }
    }

    /// A hook call ended on a hook thread.
    fn hook_done(&mut self, done: HookDone) {
        let HookDone {
            conn,
            handler,
            shutdown,
        } = done;
        let Some(entry) = self.entry(&conn) else {
            drop_quietly(handler);
            return;
        };
        if let Some(reason) = entry.hook_done(handler, shutdown) {
            self.close(conn.key, conn.id, reason);
        }
        self.drive(conn.key);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Send { conn, msg, reply } => match self.entry(&conn) {
                Some(entry) => {
                    entry.queue(msg, reply);
                    self.drive(conn.key);
                }
                None => {
                    conn.release(msg.len());
                    if let Some(reply) = reply {
                        reply.send(Err(ConnError::Closed(conn.closed_reason())));
                    }
                }
            },
            Command::Broadcast { msg, except } => self.broadcast(msg, except),
            Command::Receive { conn } => match self.entry(&conn) {
                Some(entry) => {
                    entry.receive();
                    self.drive(conn.key);
                }
                None => {
                    let closed = Err(ConnError::Closed(conn.closed_reason()));
                    conn.hook_slot.put(HookAnswer::Received(closed));
                }
            },
            Command::CancelReceive { conn } => {
                if let Some(entry) = self.entry(&conn) {
                    entry.cancel_receive();
                }
            }
            Command::Close { conn, reason } => self.close(conn.key, conn.id, reason),
            Command::Adopt { stream, reply } => self.adopt(stream, reply),
            Command::Shutdown => self.shutdown(),
        }
    }

    fn entry(&mut self, conn: &Shared) -> Option<&mut Entry> {
        match self.slots.get_mut(conn.key) {
            Some(Slot::Conn(entry)) if entry.handle.id() == conn.id => Some(entry),
            _ => None,
        }
    }

    fn adopt(&mut self, stream: std::net::TcpStream, reply: ConnectReply) {
        if self.stopping {
            let _ = reply.send(Err(StartError::Stopped));
            return;
        }
        let peer = match stream
            .set_nonblocking(true)
            .and_then(|()| stream.peer_addr())
        {
            Ok(peer) => peer,
            Err(e) => {
                let _ = reply.send(Err(StartError::Io(e)));
                return;
            }
        };
        self.add(TcpStream::from_std(stream), peer, Some(reply));
    }

    fn broadcast(&mut self, msg: Arc<[u8]>, except: Option<ConnSerial>) {
        let keys: Vec<usize> = self
            .slots
            .iter_mut()
            .filter_map(|(key, slot)| match slot {
                Slot::Conn(entry) if entry.is_open() && Some(entry.handle.id()) != except => {
                    let shared = &entry.handle.shared;
                    // A peer too slow to take its share is skipped rather than buffered without end.
                    shared.reserve(msg.len()).ok()?;
                    entry.queue(msg.clone().into(), None);
                    Some(key)
                }
                _ => None,
            })
            .collect();
        for key in keys {
            self.drive(key);
        }
    }

    fn shutdown(&mut self) {
        self.stopping = true;
        let grace = u64::try_from(self.settings.shutdown_grace.as_millis()).unwrap_or(u64::MAX);
        self.give_up_at = Some(self.now().saturating_add(grace));
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let keys: Vec<usize> = self.slots.iter().map(|(key, _)| key).collect();
        for key in keys {
            match self.slots.get(key) {
                Some(Slot::Conn(entry)) => {
                    let id = entry.handle.id();
                    self.close(key, id, CloseReason::Shutdown);
                }
                Some(Slot::Refusing { .. }) => self.remove_refusal(key),
                None => {}
            }
        }
    }

    /// Once the shutdown grace period is over, removes the connections whose hooks still run
    /// (their threads are left to finish on their own): a stuck hook cannot hold the shutdown.
    fn give_up_on_stuck_hooks(&mut self) {
        if self.give_up_at.is_none_or(|at| at > self.now()) {
            return;
        }
        let keys: Vec<usize> = self.slots.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(Slot::Conn(mut entry)) = self.slots.try_remove(key) {
                self.live -= 1;
                entry.release_budget(&mut self.budget);
                let handle = entry.handle.clone();
                lock(&self.registry).remove(&handle.id());
                let reason = entry.close_reason().cloned();
                let reason = reason.unwrap_or(CloseReason::Shutdown);
                drop_quietly(entry);
                self.notify(Notice::Closed(handle, reason));
            }
        }
    }

    fn timers(&mut self) {
        let now = self.now();
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            match self.slots.get_mut(key) {
                Some(Slot::Conn(entry)) => {
                    if entry.timer_at == Some(at) {
                        entry.timer_at = None;
                    }
                    entry.tick_if_due(now);
                    self.drive(key);
                }
                Some(Slot::Refusing { .. }) => self.poll_refusal(key),
                None => {}
            }
        }
    }

    /// Moves a connection's bytes, closes it on error, arms its timers and runs its hooks.
    fn drive(&mut self, key: usize) {
        self.move_bytes(key);
        self.dispatch(key);
    }

    /// Moves a connection's bytes, closes it on error and arms its timers.
    fn move_bytes(&mut self, key: usize) {
        let now = self.now();
        let tick = self.settings.connection_tick;
        let Some(Slot::Conn(entry)) = self.slots.get_mut(key) else {
            return;
        };
        // Plugins run inside: one that panics closes only its connection.
        let budget = &mut self.budget;
        let driven = catch_unwind(AssertUnwindSafe(|| entry.drive(now, budget)));
        let more = match driven.unwrap_or(Err(CloseReason::PluginPanicked)) {
            Ok(more) => more,
            Err(reason) => {
                if let Some(mut stream) = entry.close(reason) {
                    let _ = self.poll.registry().deregister(&mut stream);
                }
                false
            }
        };
        if let Some(at) = entry.arm_tick(now, tick) {
            self.timers.push(Reverse((at, key)));
        }
        match entry.poll_at() {
            _ if more => self.again.push(key),
            Some(at) if at <= now => self.again.push(key),
            Some(at) if entry.timer_at.is_none_or(|t| at < t) => {
                entry.timer_at = Some(at);
                self.timers.push(Reverse((at, key)));
            }
            _ => {}
        }
    }

    /// Starts the connection's next hook call (inline: runs its hooks), or removes it once
    /// closed and idle.
    fn dispatch(&mut self, key: usize) {
        loop {
            let Some(Slot::Conn(entry)) = self.slots.get_mut(key) else {
                return;
            };
            let Some((handler, call)) = entry.next_call() else {
                break;
            };
            if !self.settings.inline_hooks {
                self.workers.submit(HookJob {
                    handle: entry.handle.clone(),
                    handler,
                    call,
                });
                return;
            }
            self.run_inline(key, handler, call);
            // What the hook transmitted goes out now, and the next message comes in.
            self.move_bytes(key);
        }
        let Some(Slot::Conn(entry)) = self.slots.get_mut(key) else {
            return;
        };
        let Some(mut reason) = entry.finished().cloned() else {
            return;
        };
        if let Some(Slot::Conn(mut entry)) = self.slots.try_remove(key) {
            self.live -= 1;
            entry.release_budget(&mut self.budget);
            let handle = entry.handle.clone();
            lock(&self.registry).remove(&handle.id());
            // The handler and the plugins are dropped here, on the I/O thread.
            if !drop_quietly(entry) && reason.is_normal() {
                reason = CloseReason::HookPanicked;
            }
            self.notify(Notice::Closed(handle, reason));
        }
    }

    fn close(&mut self, key: usize, id: ConnSerial, reason: CloseReason) {
        match self.slots.get_mut(key) {
            Some(Slot::Conn(entry)) if entry.handle.id() == id => {
                if let Some(mut stream) = entry.close(reason) {
                    let _ = self.poll.registry().deregister(&mut stream);
                }
                self.dispatch(key);
            }
            _ => {}
        }
    }

    fn notify(&self, notice: Notice) {
        if let Some(notices) = &self.notices {
            notices.send(notice);
        }
    }
}
