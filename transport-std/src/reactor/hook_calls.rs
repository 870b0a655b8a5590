//! Where hooks run: on a hook thread ([`HookJob`]), or inline on the I/O thread; either way a
//! panic closes only its connection.

use super::{HandlerFactory, Slot, State};
use crate::entry::Call;
use crate::handle::ConnectionHandle;
use crate::hooks::{Conn, Handler};
use crate::mailbox::Shared;
use crate::workers::Job;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};

impl State {
    /// Runs one hook call on this thread (inline hooks), then does what `HookDone` does.
    pub(super) fn run_inline(&mut self, key: usize, handler: Option<Box<dyn Handler>>, call: Call) {
        let Some(Slot::Conn(entry)) = self.slots.get_mut(key) else {
            return;
        };
        let handle = entry.handle.clone();
        let mut conn = Conn::inline(handle.clone(), std::mem::take(&mut self.inline_outbox));
        let factory = &self.factory;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut handler = handler.unwrap_or_else(|| factory(&handle));
            call.run(&mut *handler, &mut conn);
            handler
        }));
        let (shutdown, mut sent) = conn.finish();
        let Some(Slot::Conn(entry)) = self.slots.get_mut(key) else {
            return;
        };
        for msg in sent.drain(..) {
            entry.queue(msg, None);
        }
        self.inline_outbox = sent;
        if let Some(reason) = entry.hook_done(outcome.ok(), shutdown) {
            self.close(key, handle.id(), reason);
        }
    }
}

/// One hook call for a hook thread; the handler comes back with [`HookDone`] (or not, after a
/// panic, which closes the connection).
pub(crate) struct HookJob {
    pub(super) handle: ConnectionHandle,
    pub(super) handler: Option<Box<dyn Handler>>,
    pub(super) call: Call,
}

/// The end of a hook call, on the reactor's own channel: the handler back (`None`: the hook
/// panicked) and whether the hook asked to close.
pub(crate) struct HookDone {
    pub(super) conn: Arc<Shared>,
    pub(super) handler: Option<Box<dyn Handler>>,
    pub(super) shutdown: bool,
}

/// What every hook thread keeps: how to make a connection's handler, and where a call's end
/// goes.
#[derive(Clone)]
pub(crate) struct HookContext {
    pub(super) factory: HandlerFactory,
    pub(super) done: mpsc::Sender<HookDone>,
}

impl Job for HookJob {
    type Context = HookContext;

    fn run(self, context: &HookContext) {
        let Self {
            handle,
            handler,
            call,
        } = self;
        let mut conn = Conn::new(handle.clone());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut handler = handler.unwrap_or_else(|| (context.factory)(&handle));
            call.run(&mut *handler, &mut conn);
            handler
        }));
        let shared = handle.shared;
        let link = shared.link.clone();
        let done = HookDone {
            conn: shared,
            handler: outcome.ok(),
            shutdown: conn.finish().0,
        };
        if context.done.send(done).is_ok() {
            link.wake();
        }
    }
}

/// Drops user code (a handler, plugins) on the I/O thread, surviving a panicking `Drop`;
/// false when it panicked.
pub(crate) fn drop_quietly<T>(value: T) -> bool {
    catch_unwind(AssertUnwindSafe(move || drop(value))).is_ok()
}
