//! Memory-mapped register blocks of the board's devices: the one place the firmware touches
//! hardware addresses. Each device is handed out once, so no two drivers share registers.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};

/// A device of QEMU's `mps2-an386` board with 32-bit registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The first CMSDK APB timer, at `0x4000_0000`.
    Timer0,
    /// The first CMSDK APB UART, at `0x4000_4000`.
    Uart0,
    /// The SMSC LAN9118 Ethernet controller (32-bit bus), at `0x4020_0000`.
    Lan9118,
}

impl Device {
    const fn base(self) -> usize {
        match self {
            Self::Timer0 => 0x4000_0000,
            Self::Uart0 => 0x4000_4000,
            Self::Lan9118 => 0x4020_0000,
        }
    }

    fn taken(self) -> &'static AtomicBool {
        static TIMER0: AtomicBool = AtomicBool::new(false);
        static UART0: AtomicBool = AtomicBool::new(false);
        static LAN9118: AtomicBool = AtomicBool::new(false);
        match self {
            Self::Timer0 => &TIMER0,
            Self::Uart0 => &UART0,
            Self::Lan9118 => &LAN9118,
        }
    }
}

/// The registers of one device, read and written with volatile 32-bit accesses.
pub struct Block {
    base: usize,
}

impl Block {
    /// The registers of `device`, the first time only (`None` afterwards).
    pub fn take(device: Device) -> Option<Self> {
        if device.taken().swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Self {
            base: device.base(),
        })
    }

    /// Reads the register at byte offset `offset`.
    #[inline]
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: `base` is a device of the board whose register window (at least 0x100 bytes)
        // takes 32-bit accesses; the drivers pass offsets inside it. `take` made us its owner.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes `value` to the register at byte offset `offset`.
    #[inline]
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}
