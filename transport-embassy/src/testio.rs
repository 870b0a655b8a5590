//! Test support: a future runner, and a peer in memory.
extern crate std;

use core::convert::Infallible;
use embedded_io_async::{Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::socket::HalfClose;

/// Runs `future` on this thread, parked until embassy-time's std driver (or the future)
/// wakes it.
pub(crate) fn block_on<F: core::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = core::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// A peer in memory: it sent `input`, then it closes if `closes`, or else stays connected and
/// silent. What we write is kept in `output`.
pub(crate) struct Peer {
    pub(crate) input: &'static [u8],
    pub(crate) closes: bool,
    pub(crate) output: heapless::Vec<u8, 64>,
    pub(crate) half_closed_after: Option<usize>,
}

impl embedded_io_async::ErrorType for Peer {
    type Error = Infallible;
}

impl Read for Peer {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if self.input.is_empty() {
            if !self.closes {
                core::future::pending::<()>().await;
            }
            return Ok(0);
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Peer {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.output.extend_from_slice(buf).expect("small answers");
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl HalfClose for Peer {
    fn half_close(&mut self) {
        self.half_closed_after = Some(self.output.len());
    }
}

pub(crate) fn peer(input: &'static [u8], closes: bool) -> Peer {
    Peer {
        input,
        closes,
        output: heapless::Vec::new(),
        half_closed_after: None,
    }
}
