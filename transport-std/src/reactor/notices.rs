//! What the I/O thread tells the server's own thread, bounded: while too many notices wait,
//! accepting pauses.

use crate::error::CloseReason;
use crate::handle::ConnectionHandle;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

/// Most connection notices (opened, closed) waiting for the server's hooks; beyond, accepting
/// pauses, so a slow `conn_init`/`conn_shutdown` holds new connections back in the backlog
/// instead of queueing notices without end.
const MAX_PENDING_NOTICES: usize = 4096;

/// What the I/O thread tells the server's hook thread.
pub(crate) enum Notice {
    Opened(ConnectionHandle),
    Closed(ConnectionHandle, CloseReason),
    /// A peer refused at the connection limit.
    Refused(SocketAddr),
    Stopped,
    /// From [`ServerHandle::shutdown`](crate::ServerHandle::shutdown): wakes the hook thread.
    Shutdown,
}

/// The way to the server's hook thread, counting the notices it has not taken yet.
#[derive(Clone)]
pub(crate) struct Notices {
    sender: mpsc::Sender<Notice>,
    pending: Arc<AtomicUsize>,
}

impl Notices {
    pub(crate) fn new(sender: mpsc::Sender<Notice>) -> Self {
        Self {
            sender,
            pending: Arc::default(),
        }
    }

    pub(crate) fn send(&self, notice: Notice) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        if self.sender.send(notice).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The receiving side took one.
    pub(crate) fn taken(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) fn backlogged(&self) -> bool {
        self.pending.load(Ordering::Acquire) >= MAX_PENDING_NOTICES
    }
}

/// Sends [`Notice::Stopped`] when the I/O thread ends, however it ends.
pub(crate) struct StoppedGuard(pub(crate) Option<Notices>);

impl Drop for StoppedGuard {
    fn drop(&mut self) {
        if let Some(notices) = &self.0 {
            notices.send(Notice::Stopped);
        }
    }
}
