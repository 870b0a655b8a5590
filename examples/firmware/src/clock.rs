//! A millisecond clock on the SysTick timer (the time base of smoltcp, the protocol timeouts and
//! the measurements).

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;

/// The core clock of the MPS2 boards (and of QEMU's model of them).
const CPU_HZ: u32 = 25_000_000;

static MILLIS: AtomicU32 = AtomicU32::new(0);

/// Starts the clock: a SysTick interrupt every millisecond (it also wakes `wfi`).
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CPU_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since [`start`] (wraps after 49 days).
pub fn millis() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// The same time as a smoltcp `Instant`.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(i64::from(millis()))
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}
