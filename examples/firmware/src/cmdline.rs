//! The semihosting command line: QEMU's `-semihosting-config arg=...` values, joined by spaces.
#![allow(unsafe_code)]

use cortex_m_semihosting::{nr, syscall1};

/// Largest command line read.
pub const MAX: usize = 256;

/// Reads the command line into `buf` and returns it, or `None` when the host has none (or it is
/// longer than `buf`, or not UTF-8).
pub fn read(buf: &mut [u8; MAX]) -> Option<&str> {
    // SYS_GET_CMDLINE takes a block of two words: the buffer's address and its length; the host
    // writes the command line (NUL-terminated) and stores its length in the second word.
    let mut block = [buf.as_mut_ptr() as usize, MAX];
    // SAFETY: the block points to `buf`, valid for `MAX` bytes, which the host writes at most;
    // the host also writes the block itself, which lives until the call returns.
    let status = unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if status != 0 || block[1] >= MAX {
        return None;
    }
    core::str::from_utf8(&buf[..block[1]]).ok()
}
