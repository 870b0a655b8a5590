//! A millisecond clock (the time base of smoltcp, the protocol timeouts and the measurements).
//!
//! Time comes from the board's CMSDK APB timer 0, a 32-bit down-counter at 25 MHz, extended to
//! 64 bits. Its count is derived from emulated time on every read, so it stays right when the
//! host is busy, unlike a count of SysTick interrupts (QEMU merges ticks that fall due while its
//! CPU thread waits for the host, and such a clock ran 30 % slow on a loaded machine). SysTick
//! interrupts every millisecond: it wakes `wfi` and reads the clock, so no wrap of the 32-bit
//! count (every 172 s) goes unseen.

use crate::mmio::{Block, Device};
use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;

/// The core and peripheral clock of the MPS2 boards (and of QEMU's model of them).
const CLOCK_HZ: u32 = 25_000_000;
const TICKS_PER_MS: u64 = (CLOCK_HZ / 1000) as u64;

// CMSDK APB timer registers.
const CTRL: usize = 0x00;
const VALUE: usize = 0x04;
const RELOAD: usize = 0x08;
const CTRL_ENABLE: u32 = 1 << 0;

/// The timer, its last count and the ticks counted up to it.
struct Counter {
    timer: Block,
    last: u32,
    elapsed: u64,
}

static CLOCK: Mutex<RefCell<Option<Counter>>> = Mutex::new(RefCell::new(None));

/// Starts the clock (time 0 is now) and the 1 ms SysTick interrupt. Returns `false` if timer 0
/// was taken before.
pub fn start(mut syst: SYST) -> bool {
    let Some(timer) = Block::take(Device::Timer0) else {
        return false;
    };
    timer.write(RELOAD, u32::MAX);
    timer.write(VALUE, u32::MAX);
    timer.write(CTRL, CTRL_ENABLE);
    let last = timer.read(VALUE);
    interrupt::free(|cs| {
        CLOCK.borrow(cs).replace(Some(Counter {
            timer,
            last,
            elapsed: 0,
        }))
    });
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CLOCK_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    true
}

/// Milliseconds since [`start`] (0 before it).
pub fn millis() -> u64 {
    interrupt::free(|cs| {
        let mut clock = CLOCK.borrow(cs).borrow_mut();
        let Some(c) = clock.as_mut() else { return 0 };
        let now = c.timer.read(VALUE);
        // A down-counter: the ticks since the last read, across one wrap at most.
        c.elapsed += u64::from(c.last.wrapping_sub(now));
        c.last = now;
        c.elapsed / TICKS_PER_MS
    })
}

/// The same time as a smoltcp `Instant`.
pub fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(i64::try_from(millis()).unwrap_or(i64::MAX))
}

#[exception]
fn SysTick() {
    let _ = millis();
}
