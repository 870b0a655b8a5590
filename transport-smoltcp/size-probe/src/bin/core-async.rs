//! A minimal firmware: an echo loop on tinyproto-core's async driver over an opaque byte
//! source, run by the smallest executor there is (poll with a no-op waker; the pipe is always
//! ready). The baseline runs the same executor over a plain async byte loop, so the difference
//! is the async driver with its share of the core.
//!
//! `cortex-m-rt`'s `#[entry]` expands to an exported symbol, which `forbid(unsafe_code)` would
//! reject; this measurement harness is the one place of the project without it.
#![no_std]
#![no_main]

use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use cortex_m_rt::entry;
use panic_halt as _;

/// A byte pipe the optimiser cannot see through (what a UART or socket would be).
struct Opaque;

impl embedded_io_async::ErrorType for Opaque {
    type Error = embedded_io_async::ErrorKind;
}

impl embedded_io_async::Read for Opaque {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = black_box(buf.len());
        for b in buf.iter_mut().take(n) {
            *b = black_box(0);
        }
        Ok(n)
    }
}

impl embedded_io_async::Write for Opaque {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(black_box(buf).len())
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Polls `future` until it completes.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[cfg(not(feature = "baseline"))]
#[entry]
fn main() -> ! {
    let mut conn = tinyproto_core::AsyncConnection::new(Opaque, heapless::Vec::<u8, 256>::new());
    block_on(async {
        loop {
            let mut reply = heapless::Vec::<u8, 256>::new();
            if let Ok(tinyproto_core::Received::Message(msg)) = conn.receive().await {
                let _ = reply.extend_from_slice(msg);
            }
            let _ = black_box(conn.transmit(&reply).await);
        }
    })
}

#[cfg(feature = "baseline")]
#[entry]
fn main() -> ! {
    use embedded_io_async::{Read, Write};
    let mut io = Opaque;
    let mut buf = [0u8; 256];
    let mut reply = [0u8; 256];
    block_on(async {
        loop {
            // Copies of a run-time length pull in `memcpy`, as any firmware has.
            let n = io.read(&mut buf).await.unwrap_or(0);
            reply[..n].copy_from_slice(&buf[..n]);
            let _ = io.write(black_box(&reply)).await;
        }
    })
}
