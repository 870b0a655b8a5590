//! The MPS2 board's CMSDK APB UART as a blocking `embedded-io` byte stream.
//!
//! QEMU connects the UART's byte stream to a chardev (`-serial tcp:...`). Two behaviours of its
//! model matter: it accepts new input from the chardev only when the guest reads the data
//! register (so [`Uart::take_uart0`] reads it once after enabling the receiver), and it sends
//! every written byte at once (the baud rate only matters on hardware).

use crate::clock;
use crate::mmio::{Block, Device};
use core::fmt;

/// Peripheral clock of the APB UARTs on MPS2.
const PCLK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// Why a UART read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// A byte arrived before the previous one was read: the stream lost data.
    Overrun,
    /// No byte arrived within the read timeout.
    Timeout,
}

impl fmt::Display for UartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Overrun => "UART receive overrun (data lost)",
            Self::Timeout => "UART read timed out",
        })
    }
}

impl core::error::Error for UartError {}

impl embedded_io::Error for UartError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Self::Overrun => embedded_io::ErrorKind::Other,
            Self::Timeout => embedded_io::ErrorKind::TimedOut,
        }
    }
}

/// UART0, transmitter and receiver enabled, 115200 baud.
pub struct Uart {
    regs: Block,
    read_timeout_ms: Option<u64>,
}

impl Uart {
    /// UART0, the first time only (`None` afterwards: one owner per device).
    pub fn take_uart0() -> Option<Self> {
        let regs = Block::take(Device::Uart0)?;
        regs.write(BAUDDIV, PCLK_HZ / BAUD);
        regs.write(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        // QEMU asks its chardev for input only on a read of the data register.
        let _ = regs.read(DATA);
        Some(Self {
            regs,
            read_timeout_ms: None,
        })
    }

    /// Makes a read that waits longer than `ms` for its first byte fail with
    /// [`UartError::Timeout`] (`None`: wait for ever, the default). Measured on the
    /// [`clock`], which must be running.
    pub fn read_timeout(mut self, ms: Option<u64>) -> Self {
        self.read_timeout_ms = ms;
        self
    }

    /// The next received byte, if one is waiting.
    fn try_read_byte(&mut self) -> Result<Option<u8>, UartError> {
        let state = self.regs.read(STATE);
        if state & STATE_RX_OVERRUN != 0 {
            self.regs.write(STATE, STATE_RX_OVERRUN); // write one to clear
            return Err(UartError::Overrun);
        }
        if state & STATE_RX_FULL == 0 {
            return Ok(None);
        }
        Ok(Some(self.regs.read(DATA) as u8))
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = UartError;
}

impl embedded_io::Read for Uart {
    /// Waits for one byte (up to the read timeout), then takes what else is already there.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = clock::millis();
        let first = loop {
            if let Some(b) = self.try_read_byte()? {
                break b;
            }
            if let Some(limit) = self.read_timeout_ms {
                if clock::millis() - start > limit {
                    return Err(UartError::Timeout);
                }
            }
        };
        buf[0] = first;
        let mut n = 1;
        while n < buf.len() {
            match self.try_read_byte()? {
                Some(b) => buf[n] = b,
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart {
    /// Writes every byte, waiting while the transmit register is full.
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        for &b in buf {
            while self.regs.read(STATE) & STATE_TX_FULL != 0 {}
            self.regs.write(DATA, u32::from(b));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartError> {
        while self.regs.read(STATE) & STATE_TX_FULL != 0 {}
        Ok(())
    }
}
