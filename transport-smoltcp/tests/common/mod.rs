//! Test doubles: two smoltcp interfaces joined by an in-memory Ethernet link (each end may be
//! wrapped in smoltcp's `FaultInjector`), a simulated clock, and scripted handlers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, FaultInjector, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use tinyproto_smoltcp::{
    ClientHooks, Conn, ConnId, Control, Failure, Handler, ServerHooks, Shutdown,
};

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of an in-memory Ethernet cable. Checksums are computed and verified (the
/// default capabilities), so a corrupted frame is dropped by the receiving stack.
pub struct Wire {
    rx: Queue,
    tx: Queue,
}

/// Two connected ends.
pub fn cable() -> (Wire, Wire) {
    let a: Queue = Rc::default();
    let b: Queue = Rc::default();
    (
        Wire {
            rx: a.clone(),
            tx: b.clone(),
        },
        Wire { rx: b, tx: a },
    )
}

pub struct WireRx(Vec<u8>);
pub struct WireTx(Queue);

impl phy::RxToken for WireRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for WireTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.borrow_mut().push_back(frame);
        r
    }
}

impl Device for Wire {
    type RxToken<'a> = WireRx;
    type TxToken<'a> = WireTx;
    fn receive(&mut self, _: Instant) -> Option<(WireRx, WireTx)> {
        let frame = self.rx.borrow_mut().pop_front()?;
        Some((WireRx(frame), WireTx(self.tx.clone())))
    }
    fn transmit(&mut self, _: Instant) -> Option<WireTx> {
        Some(WireTx(self.tx.clone()))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// Faults to inject on both ends of the cable, in percent of frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub drop_pct: u8,
    pub corrupt_pct: u8,
    pub seed: u32,
}

pub const SERVER_IP: IpAddress = IpAddress::v4(10, 0, 0, 1);
pub const CLIENT_IP: IpAddress = IpAddress::v4(10, 0, 0, 2);
pub const PORT: u16 = 7000;

/// One host: an interface on one end of the cable, with its sockets.
pub struct Host {
    pub iface: Interface,
    pub device: FaultInjector<Wire>,
    pub sockets: SocketSet<'static>,
}

impl Host {
    fn new(wire: Wire, ip: IpAddress, mac: u8, faults: Faults, seed: u32) -> Host {
        let mut device = FaultInjector::new(wire, seed.max(1));
        device.set_drop_chance(faults.drop_pct);
        device.set_corrupt_chance(faults.corrupt_pct);
        let hw = EthernetAddress([0x02, 0, 0, 0, 0, mac]).into();
        let mut config = IfaceConfig::new(hw);
        config.random_seed = u64::from(seed);
        let mut iface = Interface::new(config, &mut device, Instant::ZERO);
        iface.update_ip_addrs(|a| a.push(IpCidr::new(ip, 24)).unwrap());
        Host {
            iface,
            device,
            sockets: SocketSet::new(vec![]),
        }
    }

    /// Adds a TCP socket with `size`-byte buffers.
    pub fn socket(&mut self, size: usize) -> SocketHandle {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; size]),
            tcp::SocketBuffer::new(vec![0; size]),
        );
        self.sockets.add(socket)
    }

    pub fn poll_iface(&mut self, now: Instant) {
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }
}

/// A server host and a client host on one cable, with a simulated clock.
pub struct Net {
    pub server: Host,
    pub client: Host,
    pub now: Instant,
    queues: [Queue; 2],
}

impl Net {
    pub fn new(faults: Faults) -> Net {
        let (a, b) = cable();
        let queues = [a.rx.clone(), b.rx.clone()];
        Net {
            queues,
            server: Host::new(a, SERVER_IP, 1, faults, faults.seed.wrapping_mul(2) + 1),
            client: Host::new(b, CLIENT_IP, 2, faults, faults.seed.wrapping_mul(2) + 2),
            now: Instant::ZERO,
        }
    }

    /// Polls both interfaces at the current time.
    pub fn poll_ifaces(&mut self) {
        self.server.poll_iface(self.now);
        self.client.poll_iface(self.now);
    }

    /// Advances the clock: by one millisecond while frames are on the cable, else straight to
    /// the earliest time an interface or `extra` (the endpoints' `poll_at`) needs a poll.
    pub fn advance(&mut self, extra: Option<Instant>) {
        let step = self.now + Duration::from_millis(1);
        let busy = self.queues.iter().any(|q| !q.borrow().is_empty());
        let next = [
            self.server.iface.poll_at(self.now, &self.server.sockets),
            self.client.iface.poll_at(self.now, &self.client.sockets),
            extra,
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = match next {
            _ if busy => step,
            Some(t) if t > step => t.min(self.now + Duration::from_secs(1)),
            _ => step,
        };
    }
}

/// The seed README's echo server: "Echo back: " + message; QUIT closes that connection,
/// SRVQUIT stops the server. Records what it saw.
#[derive(Default)]
pub struct Echo {
    pub scratch: Vec<u8>,
    pub srv_quit: bool,
    pub received: usize,
    pub inits: usize,
    pub shutdowns: Vec<Shutdown>,
    pub failures: Vec<Failure>,
    pub refused: usize,
    pub pre_loop: usize,
    pub post_loop: usize,
    /// The connection hooks other than `transmission_*` and the server's per-connection
    /// hooks, in the order they ran.
    pub lifecycle: Vec<&'static str>,
    /// How often the connection's `loop_pass` ran.
    pub conn_passes: usize,
}

impl Handler for Echo {
    fn pre_loop(&mut self, _: &mut Conn<'_>) {
        self.inits += 1;
        self.lifecycle.push("pre_loop");
    }
    fn loop_pass(&mut self, conn: &mut Conn<'_>) {
        assert!(conn.id().index() < 16, "a live connection of the pool");
        self.conn_passes += 1;
    }
    fn post_loop(&mut self, _: ConnId) {
        self.lifecycle.push("post_loop");
    }
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        self.received += 1;
        match conn.message() {
            b"QUIT" => conn.shutdown(),
            b"SRVQUIT" => self.srv_quit = true,
            msg => {
                self.scratch.clear();
                self.scratch.extend_from_slice(b"Echo back: ");
                self.scratch.extend_from_slice(msg);
                conn.transmit(&self.scratch)
                    .expect("reply fits and the line is free");
            }
        }
    }
    fn transmission_failed(&mut self, _: &mut Conn<'_>, failure: &Failure) {
        self.failures.push(*failure);
    }
}

impl ServerHooks for Echo {
    fn pre_loop(&mut self, _: &mut Control<'_>) {
        self.pre_loop += 1;
    }
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.srv_quit {
            ctl.stop();
        }
    }
    fn post_loop(&mut self) {
        self.post_loop += 1;
    }
    fn conn_init(&mut self, _: &mut Conn<'_>) {
        self.lifecycle.push("conn_init");
    }
    fn conn_shutdown(&mut self, _: ConnId, why: &Shutdown) {
        self.shutdowns.push(why.clone());
        self.lifecycle.push("conn_shutdown");
    }
    fn conn_refused(&mut self, _: smoltcp::wire::IpEndpoint) {
        self.refused += 1;
    }
}

/// A client that sends `messages` one at a time, checks each reply, and closes when done
/// (or at the first wrong reply, which is recorded).
#[derive(Default)]
pub struct Asker {
    pub messages: Vec<Vec<u8>>,
    pub next: usize,
    pub replies_ok: usize,
    pub wrong_replies: usize,
    pub inits: usize,
    pub shutdowns: Vec<(ConnId, Shutdown)>,
    pub failures: Vec<Failure>,
    pub stop_when_done: bool,
    /// Expect no reply for these (e.g. QUIT): send the next at once after `Sent`... not used.
    pub done: bool,
}

impl Asker {
    pub fn new(messages: Vec<Vec<u8>>) -> Asker {
        Asker {
            messages,
            stop_when_done: true,
            ..Asker::default()
        }
    }

    fn send_next(&mut self, conn: &mut Conn<'_>) {
        if let Some(msg) = self.messages.get(self.next) {
            conn.transmit(msg).expect("send starts");
        } else {
            self.done = true;
            conn.shutdown();
        }
    }
}

impl Handler for Asker {
    fn pre_loop(&mut self, conn: &mut Conn<'_>) {
        self.inits += 1;
        self.send_next(conn);
    }
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        let mut want = b"Echo back: ".to_vec();
        want.extend_from_slice(&self.messages[self.next]);
        if conn.message() == want.as_slice() {
            self.replies_ok += 1;
        } else {
            self.wrong_replies += 1;
            self.done = true;
            conn.shutdown();
            return;
        }
        self.next += 1;
        self.send_next(conn);
    }
    fn transmission_failed(&mut self, conn: &mut Conn<'_>, failure: &Failure) {
        self.failures.push(*failure);
        // The message was refused; go on with the next one.
        self.next += 1;
        self.send_next(conn);
    }
}

impl ClientHooks for Asker {
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        if self.stop_when_done && self.done {
            ctl.stop();
        }
    }
    fn conn_shutdown(&mut self, id: ConnId, why: &Shutdown) {
        self.shutdowns.push((id, why.clone()));
        self.done = true;
    }
}

pub use tinyproto_testkit::Rng;
