//! A minimal firmware: an echo loop on tinyproto-core's blocking driver over an opaque byte
//! source.
//!
//! `cortex-m-rt`'s `#[entry]` expands to an exported symbol, which `forbid(unsafe_code)` would
//! reject; this measurement harness is the one place of the project without it.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use panic_halt as _;

/// A byte pipe the optimiser cannot see through (what a UART or socket would be).
struct Opaque;

impl embedded_io::ErrorType for Opaque {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for Opaque {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = black_box(buf.len());
        for b in buf.iter_mut().take(n) {
            *b = black_box(0);
        }
        Ok(n)
    }
}

impl embedded_io::Write for Opaque {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(black_box(buf).len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[cfg(not(feature = "baseline"))]
#[entry]
fn main() -> ! {
    let mut conn = tinyproto_core::BlockingConnection::new(Opaque, heapless::Vec::<u8, 256>::new());
    loop {
        let mut reply = heapless::Vec::<u8, 256>::new();
        if let Ok(tinyproto_core::Received::Message(msg)) = conn.receive() {
            let _ = reply.extend_from_slice(msg);
        }
        let _ = black_box(conn.transmit(&reply));
    }
}

#[cfg(feature = "baseline")]
#[entry]
fn main() -> ! {
    let mut io = Opaque;
    let mut buf = [0u8; 256];
    let mut reply = [0u8; 256];
    loop {
        // Copies of a run-time length pull in `memcpy`, as any firmware has.
        let n = embedded_io::Read::read(&mut io, &mut buf).unwrap_or(0);
        reply[..n].copy_from_slice(&buf[..n]);
        let _ = embedded_io::Write::write(&mut io, black_box(&reply));
    }
}
