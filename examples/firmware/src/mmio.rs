//! Memory-mapped register blocks: the one place the drivers touch hardware addresses.

use core::ptr::{read_volatile, write_volatile};

/// A block of 32-bit device registers at a fixed base address, read and written with volatile
/// word accesses.
pub struct Block {
    base: usize,
}

impl Block {
    /// The register block at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a device whose registers accept 32-bit accesses at every
    /// offset the caller passes to [`Block::read`] and [`Block::write`], and the caller must be
    /// the only owner of that device (the drivers ensure this with a take-once flag).
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// Reads the register at byte offset `offset`.
    #[inline]
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: a device register that takes 32-bit reads, owned by us.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes `value` to the register at byte offset `offset`.
    #[inline]
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: `new`'s contract: a device register that takes 32-bit writes, owned by us.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}

/// Hands out a device once: the first [`TakeOnce::take`] returns `true`, every later one
/// `false`, so no two drivers ever own the same registers.
pub struct TakeOnce(core::sync::atomic::AtomicBool);

impl TakeOnce {
    /// Not taken yet.
    pub const fn new() -> Self {
        Self(core::sync::atomic::AtomicBool::new(false))
    }

    /// `true` the first time only.
    pub fn take(&self) -> bool {
        !self.0.swap(true, core::sync::atomic::Ordering::AcqRel)
    }
}
