//! The thread-per-connection mode's own thread: accepts (a `mio` poll over the listeners,
//! which a shutdown can wake), refuses at the connection limit, takes the client's sockets,
//! and on shutdown closes every connection and waits for their threads.

use super::Common;
use crate::mailbox::{Command, Link, Mailbox};
use crate::reactor::{refusal_step, Notice, Reactor, StoppedGuard, MAX_LINGERING_REFUSALS};
use crate::sync::lock;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tinyproto_core::refusal::{Refusal, LINGER_MS};

const WAKER: Token = Token(usize::MAX);
/// Refused connections lingering until the peer closes have tokens from here down.
const REFUSALS: usize = usize::MAX / 2;

/// What handles reach: the connections, and the way to stop.
pub(crate) struct Control {
    pub(crate) common: Arc<Common>,
    stop: AtomicBool,
    waker: Waker,
}

impl Mailbox for Control {
    /// Runs a command meant for the server or client as a whole (from any thread).
    fn command(&self, command: Command) -> bool {
        match command {
            Command::Broadcast { msg, except } => {
                let conns: Vec<_> = lock(&self.common.registry).values().cloned().collect();
                for conn in conns.into_iter().filter(|c| Some(c.id()) != except) {
                    // A peer too slow to take its share is skipped, as by the reactor.
                    let _ = conn.send(msg.clone());
                }
            }
            Command::Adopt { stream, reply } => {
                if self.stop.load(Ordering::Acquire) {
                    let _ = reply.send(Err(crate::StartError::Stopped));
                } else if let Err(e) = self.common.start(stream, Some(reply.clone())) {
                    let _ = reply.send(Err(crate::StartError::Io(e)));
                }
            }
            Command::Shutdown => {
                self.stop.store(true, Ordering::Release);
                let _ = self.waker.wake();
            }
            _ => return false,
        }
        true
    }
}

/// Starts the acceptor's thread over `listeners` (for a client: none; it then only waits for
/// the shutdown); it is stopped like the reactor.
pub(crate) fn start(
    common: Arc<Common>,
    mut listeners: Vec<TcpListener>,
    max_connections: Option<usize>,
) -> io::Result<Reactor> {
    let poll = Poll::new()?;
    let control = Arc::new(Control {
        waker: Waker::new(poll.registry(), WAKER)?,
        stop: AtomicBool::new(false),
        common: common.clone(),
    });
    for (i, listener) in listeners.iter_mut().enumerate() {
        poll.registry()
            .register(listener, Token(i), Interest::READABLE)?;
    }
    let link = Link::Direct(Arc::downgrade(&control) as Weak<dyn Mailbox>);
    let state = State {
        poll,
        listeners,
        refusals: Slab::new(),
        max_connections,
        control,
    };
    let thread = std::thread::Builder::new()
        .name("tinyproto-accept".into())
        .spawn(move || state.run())?;
    Ok(Reactor::with_thread(link, common.registry.clone(), thread))
}

struct State {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Refused connections, run by the core's machine (the reactor's refusal), on the
    /// connections' millisecond clock.
    refusals: Slab<(TcpStream, Refusal)>,
    max_connections: Option<usize>,
    control: Arc<Control>,
}

impl State {
    fn run(mut self) {
        // Tells the server it stopped even if this thread dies: `Server::run` then returns.
        let _stopped = StoppedGuard(self.control.common.notices.clone());
        let mut events = Events::with_capacity(64);
        while !self.control.stop.load(Ordering::Acquire) {
            let now = self.now();
            let timeout = (self.refusals.iter())
                .filter_map(|(_, (_, refusal))| refusal.poll_at())
                .min()
                .map(|at| Duration::from_millis(at.saturating_sub(now)));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    Token(i) if i < self.listeners.len() => self.accept(i),
                    Token(t) => self.poll_refusal(REFUSALS - t),
                }
            }
            // Deadlines: a refusal whose linger ended is closed.
            let now = self.now();
            let due: Vec<usize> = (self.refusals.iter())
                .filter(|(_, (_, refusal))| refusal.poll_at().is_some_and(|at| at <= now))
                .map(|(key, _)| key)
                .collect();
            for key in due {
                self.poll_refusal(key);
            }
        }
        self.shut_down();
    }

    fn accept(&mut self, i: usize) {
        loop {
            match self.listeners[i].accept() {
                Ok((stream, peer)) => {
                    let common = &self.control.common;
                    if self.max_connections.is_some_and(|max| common.live() >= max) {
                        self.control.common.notify(Notice::Refused(peer));
                        self.refuse(stream);
                    } else {
                        // A connection that cannot get a thread is closed: its peer sees the
                        // close at the handshake.
                        let _ = common.start(stream.into(), None);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
                // Out of descriptors or memory: the next connection's readiness tries again.
                Err(_) => return,
            }
        }
    }

    fn now(&self) -> u64 {
        self.control.common.now()
    }

    /// PROTOCOL.md Q1 on the core's [`Refusal`], as the reactor does it: `0xfe`, our side
    /// closed, and a short wait for the peer's close so that its unread init byte does not turn
    /// ours into a reset.
    fn refuse(&mut self, mut stream: TcpStream) {
        let now = self.now();
        let linger_ms = if self.refusals.len() < MAX_LINGERING_REFUSALS {
            LINGER_MS
        } else {
            0
        };
        let mut refusal = Refusal::new(now, linger_ms);
        if refusal_step(&mut stream, &mut refusal, now) {
            return;
        }
        let key = self.refusals.vacant_key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if (self.poll.registry())
            .register(&mut stream, Token(REFUSALS - key), interest)
            .is_ok()
        {
            self.refusals.insert((stream, refusal));
        }
    }

    /// Moves refusal `key` on (its socket is ready, or its deadline came); closes it once done.
    fn poll_refusal(&mut self, key: usize) {
        let now = self.now();
        let Some((stream, refusal)) = self.refusals.get_mut(key) else {
            return;
        };
        if refusal_step(stream, refusal, now) {
            let (mut stream, _) = self.refusals.remove(key);
            let _ = self.poll.registry().deregister(&mut stream);
        }
    }

    /// Stops accepting, closes every connection and waits for their threads (at most the
    /// shutdown grace); the server then hears that it stopped.
    fn shut_down(self) {
        drop(self.listeners);
        drop(self.refusals);
        let common = &self.control.common;
        let conns: Vec<_> = lock(&common.registry).values().cloned().collect();
        for conn in &conns {
            conn.shared.link.send(Command::Close {
                conn: conn.shared.clone(),
                reason: crate::CloseReason::Shutdown,
            });
        }
        common.wait_all_closed(common.settings.shutdown_grace);
    }
}
