//! A polled driver for the MPS2 board's SMSC LAN9118 Ethernet controller, as a smoltcp
//! [`Device`]: frames move through the chip's FIFOs by programmed I/O, one 32-bit word at a time.
//!
//! Written from the register description of the LAN9118 (and QEMU's model of it,
//! `hw/net/lan9118.c`): 32-bit bus, no DMA, no interrupts (the firmware polls it).

use crate::mmio::{self, Block};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetAddress;

// Direct registers (byte offsets).
const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const TX_STATUS_FIFO: usize = 0x48;
const BYTE_TEST: usize = 0x64;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const HW_CFG_SRST: u32 = 1 << 0;
const PMT_CTRL_READY: u32 = 1 << 0;
const TX_CFG_TX_ON: u32 = 1 << 1;
const MAC_CSR_BUSY: u32 = 1 << 31;
/// RX status: frame length (with the 4-byte FCS) in bits 29:16, error summary in bit 15.
const RX_STATUS_ERROR: u32 = 1 << 15;
/// TX command A: first and last segment of a frame (one buffer per frame here).
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;

// MAC control and status registers (indirect, through MAC_CSR_CMD/DATA).
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_CR_FDPX: u32 = 1 << 20;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;

/// Largest Ethernet frame handled (without FCS).
pub const MTU: usize = 1514;
/// Room for a frame and its FCS, rounded up to whole FIFO words.
const FRAME_BYTES: usize = (MTU + 4).next_multiple_of(4);

/// Bounded wait for the chip after a reset (loop passes; each is one register read).
const RESET_SPINS: u32 = 100_000;

/// Why the controller could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The driver was taken before.
    Taken,
    /// The byte-order test register did not read `0x87654321`: no LAN9118 there.
    NotFound,
    /// The chip did not become ready after its soft reset.
    NotReady,
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Taken => "LAN9118 already in use",
            Self::NotFound => "no LAN9118 found (BYTE_TEST mismatch)",
            Self::NotReady => "LAN9118 not ready after reset",
        })
    }
}

impl core::error::Error for InitError {}

/// The LAN9118, reset, with our MAC address, transmitter and receiver on.
pub struct Lan9118 {
    regs: Block,
    rx: [u8; FRAME_BYTES],
    tx: [u8; FRAME_BYTES],
    /// Frames dropped: received with an error, or too long for [`MTU`].
    pub rx_dropped: u32,
}

impl Lan9118 {
    /// Resets the controller and brings it up with MAC address `mac` (the first call only).
    pub fn take(mac: EthernetAddress) -> Result<Self, InitError> {
        let regs = Block::take(mmio::Device::Lan9118).ok_or(InitError::Taken)?;
        if regs.read(BYTE_TEST) != BYTE_TEST_VALUE {
            return Err(InitError::NotFound);
        }
        regs.write(HW_CFG, HW_CFG_SRST);
        let ready = (0..RESET_SPINS).any(|_| {
            regs.read(HW_CFG) & HW_CFG_SRST == 0 && regs.read(PMT_CTRL) & PMT_CTRL_READY != 0
        });
        if !ready {
            return Err(InitError::NotReady);
        }
        let dev = Self {
            regs,
            rx: [0; FRAME_BYTES],
            tx: [0; FRAME_BYTES],
            rx_dropped: 0,
        };
        let m = mac.0;
        dev.mac_write(MAC_ADDRL, u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        dev.mac_write(MAC_ADDRH, u32::from_le_bytes([m[4], m[5], 0, 0]));
        // Perfect filtering on our address plus broadcast (promiscuous mode, the reset value,
        // off), full duplex.
        dev.mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);
        dev.regs.write(TX_CFG, TX_CFG_TX_ON);
        Ok(dev)
    }

    /// Writes a MAC control register through the indirect CSR interface.
    fn mac_write(&self, reg: u32, value: u32) {
        self.regs.write(MAC_CSR_DATA, value);
        self.regs.write(MAC_CSR_CMD, MAC_CSR_BUSY | reg);
        while self.regs.read(MAC_CSR_CMD) & MAC_CSR_BUSY != 0 {}
    }

    /// Whether a received frame waits in the FIFO.
    pub fn rx_pending(&self) -> bool {
        (self.regs.read(RX_FIFO_INF) >> 16) & 0xff != 0
    }

    /// Takes the next good frame out of the RX FIFO into `self.rx`; its length.
    fn receive_frame(&mut self) -> Option<usize> {
        while self.rx_pending() {
            let status = self.regs.read(RX_STATUS_FIFO);
            let len_with_fcs = ((status >> 16) & 0x3fff) as usize;
            let good = status & RX_STATUS_ERROR == 0 && (4..=MTU + 4).contains(&len_with_fcs);
            // Every word of the frame leaves the FIFO, kept or not, so the next frame starts
            // on a frame boundary. Bytes are in little-endian order within a word.
            for i in 0..len_with_fcs.div_ceil(4) {
                let word = self.regs.read(RX_DATA_FIFO).to_le_bytes();
                if good {
                    self.rx[4 * i..4 * i + 4].copy_from_slice(&word);
                }
            }
            if good {
                return Some(len_with_fcs - 4);
            }
            self.rx_dropped = self.rx_dropped.wrapping_add(1);
        }
        None
    }
}

/// Sends the first `len` bytes of `frame` as one frame, through the TX data FIFO.
fn send_frame(regs: &Block, frame: &[u8; FRAME_BYTES], len: usize) {
    // Keep the TX status FIFO from filling up: the statuses are not used.
    while (regs.read(TX_FIFO_INF) >> 16) & 0xff != 0 {
        let _ = regs.read(TX_STATUS_FIFO);
    }
    let len32 = len as u32;
    regs.write(TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len32);
    regs.write(TX_DATA_FIFO, (len32 << 16) | len32); // command B: tag = length, frame length
    for word in frame[..len.next_multiple_of(4)].chunks_exact(4) {
        regs.write(
            TX_DATA_FIFO,
            u32::from_le_bytes([word[0], word[1], word[2], word[3]]),
        );
    }
}

/// A received frame, lent to smoltcp.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room for one outgoing frame.
pub struct TxToken<'a> {
    regs: &'a Block,
    frame: &'a mut [u8; FRAME_BYTES],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let r = f(&mut self.frame[..len]);
        send_frame(self.regs, self.frame, len);
        r
    }
}

impl Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let len = self.receive_frame()?;
        let Self { regs, rx, tx, .. } = self;
        Some((RxToken { frame: &rx[..len] }, TxToken { regs, frame: tx }))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        let Self { regs, tx, .. } = self;
        Some(TxToken { regs, frame: tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps
    }
}
