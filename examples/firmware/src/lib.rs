//! Firmware for QEMU's `mps2-an386` board (Cortex-M4) that talks tinyproto to the Python package:
//! drivers for the board's UART and Ethernet controller, a millisecond clock, the semihosting
//! command line, and the workload the images run. The images are the binaries `uart` (the core's
//! blocking driver), `uart-async` (its async driver on embassy-executor) and `eth`
//! (tinyproto-smoltcp); `run-qemu.sh` beside this package runs them against Python 2.0.1 and 3.0.
//!
//! `unsafe` is confined to [`mmio`] (volatile register access), [`cmdline`] (one semihosting
//! call) and [`irq`] (the NVIC and the interrupt handler); the drivers and everything above them
//! are safe code.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod cmdline;
pub mod irq;
pub mod lan9118;
pub mod mmio;
pub mod uart;
pub mod workload;

use cortex_m_semihosting::{debug, hprintln};

/// Starts the clock and returns the semihosting command line; ends the run if either fails.
pub fn boot() -> &'static str {
    let Some(core) = cortex_m::Peripherals::take() else {
        finish(Err(&"core peripherals taken"))
    };
    if !clock::start(core.SYST) {
        finish(Err(&"timer 0 taken"))
    }
    let line = cortex_m::singleton!(: [u8; cmdline::MAX] = [0; cmdline::MAX]);
    match line.and_then(cmdline::read) {
        Some(args) => args,
        None => finish(Err(&workload::ArgError::Missing)),
    }
}

/// Ends the run: prints `PASS` or `FAIL: why` and makes QEMU exit with status 0 or 1.
pub fn finish(result: Result<(), &dyn core::fmt::Display>) -> ! {
    match result {
        Ok(()) => {
            hprintln!("PASS ({} ms since boot)", clock::millis());
            debug::exit(debug::EXIT_SUCCESS);
        }
        Err(why) => {
            hprintln!("FAIL: {}", why);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}
