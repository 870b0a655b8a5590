//! The UART0 receive interrupt, which wakes the task waiting for a byte. With `mmio` and
//! `cmdline`, one of the three modules with `unsafe`: the NVIC's unmask and cortex-m-rt's
//! default handler are `unsafe` by their APIs.
#![allow(unsafe_code)]

use core::cell::RefCell;
use core::task::Waker;
use cortex_m::interrupt::{self, InterruptNumber, Mutex};
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;

/// A device interrupt of the board (this firmware has no peripheral access crate).
#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: `number` returns a device interrupt that exists on the board: UART0 RX is interrupt
// 0 on mps2-an386 (QEMU's hw/arm/mps2.c, and the AN386 application note).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

const UART0_RX: Irq = Irq(0);

static WAKER: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));

/// Wakes `waker` at the next UART0 receive interrupt (once; arm again after it).
pub fn wake_on_uart0_rx(waker: &Waker) {
    interrupt::free(|cs| {
        let mut slot = WAKER.borrow(cs).borrow_mut();
        match slot.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    });
    // SAFETY: unmasking may break a critical section that relies on masked interrupts; this
    // firmware's critical sections disable interrupts altogether (PRIMASK), which unmask does
    // not change.
    unsafe { NVIC::unmask(UART0_RX) };
}

/// Every device interrupt lands here (no peripheral access crate gives them names). UART0 RX
/// masks itself and wakes the waiting task; nothing else is ever unmasked.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == 0 {
        NVIC::mask(UART0_RX);
        if let Some(waker) = interrupt::free(|cs| WAKER.borrow(cs).borrow_mut().take()) {
            waker.wake();
        }
    } else {
        crate::finish(Err(&"unexpected interrupt"));
    }
}
