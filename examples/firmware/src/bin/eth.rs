//! The Ethernet image: tinyproto-smoltcp on smoltcp 0.14 over the board's LAN9118, at
//! 192.168.69.1/24, polled, with `wfi` while idle (the 1 ms SysTick wakes it).
//!
//! Command line (semihosting): `server PORT` runs the echo server (`Echo back: ` + message;
//! `QUIT` closes that connection, `SRVQUIT` ends the run) with [`SLOTS`] connection slots and a
//! limit socket that answers `0xfe`; `client ADDR:PORT COUNTxSIZE...` sends `hello`, the batches
//! and `SRVQUIT` to an echo server and checks every reply.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use core::fmt;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use panic_semihosting as _;
use smoltcp::iface::{Config as IfaceConfig, Interface, PollResult, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint};
use tinyproto_core::buffer::SliceBuffer;
use tinyproto_firmware::lan9118::Lan9118;
use tinyproto_firmware::workload::{
    parse_batches, ArgError, Lost, Mismatch, Script, ECHO_PREFIX, QUIT, SRVQUIT,
};
use tinyproto_firmware::{boot, clock, finish};
use tinyproto_smoltcp::{
    Client, ClientHooks, Config, Conn, ConnId, Control, Handler, Server, ServerHooks, Shutdown,
    Slot, Status,
};

/// Largest message received or sent: a 64 KiB message, or its echo reply.
const MAX_MESSAGE: usize = 65_536 + 64;
/// Connections the server serves at once.
const SLOTS: usize = 3;
const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const ADDR: IpAddress = IpAddress::v4(192, 168, 69, 1);
/// TCP receive window: below QEMU's LAN9118 RX FIFO (10,560 bytes), which drops frames that do
/// not fit while the firmware sleeps.
const TCP_RX: usize = 6 * 1024;
const TCP_TX: usize = 16 * 1024;
/// How long a closed client connection waits for the peer's FIN before aborting its socket.
/// The Python 3.0 server never closes its side after ours; without this the run would wait
/// out the default 5 s.
const CLIENT_LINGER: Duration = Duration::from_millis(200);

type Buf = SliceBuffer<'static>;

/// Memory of one connection slot: its TCP socket's buffers and its message buffers.
struct SlotMem {
    tcp_rx: [u8; TCP_RX],
    tcp_tx: [u8; TCP_TX],
    msg_rx: [u8; MAX_MESSAGE],
    msg_tx: [u8; MAX_MESSAGE],
}

impl SlotMem {
    const ZERO: Self = Self {
        tcp_rx: [0; TCP_RX],
        tcp_tx: [0; TCP_TX],
        msg_rx: [0; MAX_MESSAGE],
        msg_tx: [0; MAX_MESSAGE],
    };

    /// Adds the slot's socket to `sockets` and returns the slot.
    fn slot(&'static mut self, sockets: &mut SocketSet<'static>) -> Slot<Buf> {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut self.tcp_rx[..]),
            tcp::SocketBuffer::new(&mut self.tcp_tx[..]),
        );
        let handle = sockets.add(socket);
        Slot::new(
            handle,
            SliceBuffer::new(&mut self.msg_rx),
            SliceBuffer::new(&mut self.msg_tx),
            (),
        )
    }
}

#[entry]
fn main() -> ! {
    let args = boot();
    let mut dev = match Lan9118::take(MAC) {
        Ok(dev) => dev,
        Err(e) => finish(Err(&e)),
    };
    let mut iface = Interface::new(IfaceConfig::new(MAC.into()), &mut dev, clock::now());
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(ADDR, 24));
    });
    let storage = cortex_m::singleton!(: [SocketStorage<'static>; SLOTS + 1] = [SocketStorage::EMPTY; SLOTS + 1]);
    let slots = cortex_m::singleton!(: [SlotMem; SLOTS] = [SlotMem::ZERO; SLOTS]);
    let limit_mem = cortex_m::singleton!(: [[u8; 64]; 2] = [[0; 64]; 2]);
    let scratch = cortex_m::singleton!(: [u8; MAX_MESSAGE] = [0; MAX_MESSAGE]);
    let (Some(storage), Some(slots), Some([limit_rx, limit_tx]), Some(scratch)) =
        (storage, slots, limit_mem, scratch)
    else {
        finish(Err(&"buffers taken"))
    };
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut net = Net { dev, iface };

    let mut words = args.split_ascii_whitespace();
    let outcome = match words.next() {
        Some("server") => {
            let Some(port) = words.next().and_then(|p| p.parse::<u16>().ok()) else {
                finish(Err(&ArgError::Bad("server PORT")))
            };
            let slots = slots.each_mut().map(|mem| mem.slot(&mut sockets));
            let limit = sockets.add(tcp::Socket::new(
                tcp::SocketBuffer::new(&mut limit_rx[..]),
                tcp::SocketBuffer::new(&mut limit_tx[..]),
            ));
            let mut server = match Server::new(port, slots, Config::new()) {
                Ok(server) => server.with_limit_socket(limit),
                Err(e) => finish(Err(&e)),
            };
            let mut echo = EchoServer {
                reply: scratch,
                quit: false,
                served: 0,
            };
            hprintln!("LISTENING {}:{}", ADDR, port);
            net.run(&mut sockets, |now, sockets| {
                server.poll(now, sockets, &mut echo)
            });
            hprintln!("server: {} messages echoed", echo.served);
            Ok(())
        }
        Some("client") => {
            let Some(remote) = words.next().and_then(|r| r.parse::<IpEndpoint>().ok()) else {
                finish(Err(&ArgError::Bad("client ADDR:PORT")))
            };
            let batches = match parse_batches(words, MAX_MESSAGE - ECHO_PREFIX.len()) {
                Ok(batches) => batches,
                Err(e) => finish(Err(&e)),
            };
            let [first, ..] = slots;
            let slot = first.slot(&mut sockets);
            let config = Config::new().linger(CLIENT_LINGER);
            let mut client = Client::new([slot], config);
            let mut echo = EchoClient {
                script: Script::new(batches),
                msg: scratch,
                outcome: None,
            };
            if let Err(e) = client.connect(net.iface.context(), &mut sockets, remote, clock::now())
            {
                finish(Err(&e))
            }
            net.run(&mut sockets, |now, sockets| {
                client.poll(now, sockets, &mut echo)
            });
            match echo.outcome {
                Some(Ok(n)) => {
                    hprintln!("client: {} messages echoed, SRVQUIT sent", n);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => Err(Failure::Stopped),
            }
        }
        _ => Err(Failure::Args(ArgError::Bad("server or client"))),
    };
    if net.dev.rx_dropped > 0 {
        hprintln!("frames dropped (bad or oversized): {}", net.dev.rx_dropped);
    }
    match outcome {
        Ok(()) => finish(Ok(())),
        Err(e) => finish(Err(&e)),
    }
}

/// The interface and its device.
struct Net {
    dev: Lan9118,
    iface: Interface,
}

impl Net {
    /// Polls the interface and `app` until `app` reports a stop; sleeps (`wfi`) whenever
    /// nothing is due before the next tick.
    fn run(
        &mut self,
        sockets: &mut SocketSet<'static>,
        mut app: impl FnMut(Instant, &mut SocketSet<'static>) -> Status,
    ) {
        loop {
            let now = clock::now();
            let changed = self.iface.poll(now, &mut self.dev, sockets) != PollResult::None;
            let status = app(now, sockets);
            if status.is_stopped() {
                return;
            }
            let due_now = [self.iface.poll_delay(now, sockets), status.poll_delay(now)]
                .contains(&Some(Duration::ZERO));
            if !changed && !due_now && !self.dev.rx_pending() {
                cortex_m::asm::wfi();
            }
        }
    }
}

/// The seed README's echo server.
struct EchoServer {
    reply: &'static mut [u8; MAX_MESSAGE],
    quit: bool,
    served: u32,
}

impl Handler for EchoServer {
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        let msg = conn.message();
        if msg == QUIT {
            conn.shutdown();
        } else if msg == SRVQUIT {
            self.quit = true;
        } else {
            let len = ECHO_PREFIX.len() + msg.len();
            self.reply[..ECHO_PREFIX.len()].copy_from_slice(ECHO_PREFIX);
            self.reply[ECHO_PREFIX.len()..len].copy_from_slice(msg);
            match conn.transmit(&self.reply[..len]) {
                Ok(()) => self.served += 1,
                Err(e) => hprintln!("{}: reply not sent: {}", conn.id(), e),
            }
        }
    }

    /// A message refused as too large (we answered `0x00`), a reply the peer rejected: the
    /// connection goes on.
    fn transmission_failed(&mut self, conn: &mut Conn<'_>, failure: &tinyproto_smoltcp::Failure) {
        hprintln!("{}: {}", conn.id(), failure);
    }
}

impl ServerHooks for EchoServer {
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.quit {
            ctl.stop();
        }
    }

    fn conn_init(&mut self, conn: &mut Conn<'_>) {
        if let Some(remote) = conn.remote_endpoint() {
            hprintln!("{}: connection from {}", conn.id(), remote);
        }
    }

    fn conn_shutdown(&mut self, id: ConnId, why: &Shutdown) {
        hprintln!("{}: {}", id, why);
    }

    fn conn_refused(&mut self, remote: IpEndpoint) {
        hprintln!("refused {} (connection limit, answered 0xfe)", remote);
    }
}

/// Runs the script on the one connection, then sends `SRVQUIT` and closes.
struct EchoClient {
    script: Script,
    msg: &'static mut [u8; MAX_MESSAGE],
    /// Set once the run is over: messages answered, or why it failed.
    outcome: Option<Result<u32, Failure>>,
}

impl EchoClient {
    /// Sends the next message of the script, or `SRVQUIT` and closes once it is done.
    fn send_next(&mut self, conn: &mut Conn<'_>) {
        let sent = match self.script.message(&mut self.msg[..]) {
            Some(msg) => conn.transmit(msg),
            None => {
                self.outcome = Some(Ok(self.script.answered()));
                let sent = conn.transmit(SRVQUIT);
                conn.shutdown();
                sent
            }
        };
        if let Err(e) = sent {
            self.lost(conn, tinyproto_smoltcp::Failure::Send(e));
        }
    }

    /// The message in flight did not make it: the run fails (overriding a success, when it
    /// is `SRVQUIT`) and the connection closes.
    fn lost(&mut self, conn: &mut Conn<'_>, why: tinyproto_smoltcp::Failure) {
        self.outcome = Some(Err(Failure::Lost(self.script.lost(why))));
        conn.shutdown();
    }
}

impl Handler for EchoClient {
    fn pre_loop(&mut self, conn: &mut Conn<'_>) {
        self.send_next(conn);
    }

    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        match self.script.check_reply(conn.message()) {
            Ok(()) => self.send_next(conn),
            Err(m) => {
                self.outcome = Some(Err(Failure::Mismatch(m)));
                conn.shutdown();
            }
        }
    }

    /// The peer rejected our message, or we refused or discarded its reply.
    fn transmission_failed(&mut self, conn: &mut Conn<'_>, failure: &tinyproto_smoltcp::Failure) {
        self.lost(conn, *failure);
    }
}

impl ClientHooks for EchoClient {
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.outcome.is_some() {
            ctl.stop();
        }
    }

    fn conn_shutdown(&mut self, _: ConnId, why: &Shutdown) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(Failure::Closed(why.clone())));
        }
    }
}

/// Why a run failed.
enum Failure {
    Args(ArgError),
    Lost(Lost),
    Mismatch(Mismatch),
    Closed(Shutdown),
    Stopped,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Args(e) => e.fmt(f),
            Self::Lost(l) => l.fmt(f),
            Self::Mismatch(m) => m.fmt(f),
            Self::Closed(why) => write!(f, "connection ended early: {why}"),
            Self::Stopped => f.write_str("stopped without an outcome"),
        }
    }
}
