//! The MPS2 board's CMSDK APB UART as a blocking `embedded-io` byte stream.
//!
//! QEMU connects the UART's byte stream to a chardev (`-serial tcp:...`). Two behaviours of its
//! model matter: it accepts new input from the chardev only when the guest reads the data
//! register (so [`Uart::take_uart0`] reads it once after enabling the receiver), and it sends
//! every written byte at once (the baud rate only matters on hardware).

use crate::mmio::{Block, Device};
use crate::{clock, irq};
use core::fmt;
use core::task::Poll;

/// Peripheral clock of the APB UARTs on MPS2.
const PCLK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0c;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

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

    /// Takes the bytes already received, without waiting (0 when none).
    fn read_available(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        let mut n = 0;
        while n < buf.len() {
            match self.try_read_byte()? {
                Some(b) => buf[n] = b,
                None => break,
            }
            n += 1;
        }
        Ok(n)
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
        let start = clock::millis();
        loop {
            let n = self.read_available(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if let Some(limit) = self.read_timeout_ms {
                if clock::millis() - start > limit {
                    return Err(UartError::Timeout);
                }
            }
        }
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

/// UART0 for `async` code (`embedded_io_async`): a read that finds no byte waits for the UART's
/// receive interrupt instead of spinning.
pub struct AsyncUart {
    uart: Uart,
}

impl AsyncUart {
    /// UART0 with its receive interrupt enabled (the first time only, as [`Uart::take_uart0`]).
    pub fn take_uart0() -> Option<Self> {
        let uart = Uart::take_uart0()?;
        uart.regs
            .write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
        Some(Self { uart })
    }
}

impl embedded_io_async::ErrorType for AsyncUart {
    type Error = UartError;
}

impl embedded_io_async::Read for AsyncUart {
    /// Takes the bytes already received; when there are none, waits for the next one.
    /// Cancel-safe: a dropped read has taken nothing.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        core::future::poll_fn(|cx| {
            let n = self.uart.read_available(buf)?;
            if n > 0 || buf.is_empty() {
                return Poll::Ready(Ok(n));
            }
            self.uart.regs.write(INTCLEAR, INT_RX);
            irq::wake_on_uart0_rx(cx.waker());
            // A byte that came in before the interrupt was armed: take it now.
            match self.uart.read_available(buf)? {
                0 => Poll::Pending,
                n => Poll::Ready(Ok(n)),
            }
        })
        .await
    }
}

impl embedded_io_async::Write for AsyncUart {
    /// Writes every byte. It waits on the transmit register without yielding: QEMU sends at
    /// once (on hardware, a transmit interrupt would pace it).
    async fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        embedded_io::Write::write(&mut self.uart, buf)
    }

    async fn flush(&mut self) -> Result<(), UartError> {
        embedded_io::Write::flush(&mut self.uart)
    }
}
