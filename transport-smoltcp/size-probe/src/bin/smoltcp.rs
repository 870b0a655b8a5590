//! A minimal firmware: the tinyproto echo server (two connections, 512-byte messages) on
//! smoltcp over an Ethernet device the optimiser cannot see through.
//!
//! `cortex-m-rt`'s `#[entry]` expands to an exported symbol (`#[export_name]`), which
//! `forbid(unsafe_code)` rejects; this measurement harness is the one place of the crate
//! without it. It contains no `unsafe` block of its own.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use panic_halt as _;

#[cfg(not(feature = "baseline"))]
mod net {
    use core::hint::black_box;
    use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
    use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
    use smoltcp::socket::tcp;
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

    const MTU: usize = 1514;

    /// An Ethernet MAC the optimiser cannot see through (what a real driver would be).
    pub struct Mac {
        frame: [u8; MTU],
    }

    pub struct Rx<'a>(&'a mut [u8]);
    pub struct Tx<'a>(&'a mut [u8]);

    impl phy::RxToken for Rx<'_> {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            let len = black_box(self.0.len()).min(MTU);
            f(black_box(&self.0[..len]))
        }
    }

    impl phy::TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let len = len.min(MTU);
            let r = f(&mut self.0[..len]);
            black_box(&self.0[..len]);
            r
        }
    }

    impl Device for Mac {
        type RxToken<'a> = Rx<'a>;
        type TxToken<'a> = Tx<'a>;
        fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
            if black_box(false) {
                let (a, b) = self.frame.split_at_mut(MTU / 2);
                Some((Rx(a), Tx(b)))
            } else {
                None
            }
        }
        fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
            Some(Tx(&mut self.frame))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = MTU;
            caps
        }
    }

    /// Runs `poll` forever on an interface with three TCP sockets of 1 KiB buffers each way.
    pub fn run(
        mut poll: impl FnMut(Instant, &mut SocketSet<'_>, [smoltcp::iface::SocketHandle; 3]),
    ) -> ! {
        let mut mac = Mac { frame: [0; MTU] };
        let hw = EthernetAddress([0x02, 0, 0, 0, 0, 1]).into();
        let mut iface = Interface::new(Config::new(hw), &mut mac, Instant::ZERO);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::v4(192, 168, 69, 1), 24));
        });
        let mut storage = [SocketStorage::EMPTY; 3];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let mut bufs = [[0u8; 1024]; 6];
        let [b0, b1, b2, b3, b4, b5] = &mut bufs;
        let h0 = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut b0[..]),
            tcp::SocketBuffer::new(&mut b1[..]),
        ));
        let h1 = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut b2[..]),
            tcp::SocketBuffer::new(&mut b3[..]),
        ));
        let h2 = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut b4[..]),
            tcp::SocketBuffer::new(&mut b5[..]),
        ));
        let mut ms = 0i64;
        loop {
            ms = black_box(ms + 1);
            let now = Instant::from_millis(ms);
            iface.poll(now, &mut mac, &mut sockets);
            poll(now, &mut sockets, [h0, h1, h2]);
        }
    }
}

#[cfg(not(any(feature = "baseline", feature = "smoltcp-only")))]
#[entry]
fn main() -> ! {
    use tinyproto_smoltcp::{Config, Conn, Handler, Server, ServerHooks};
    type Buf = heapless::Vec<u8, 512>;

    /// The seed README's echo: "Echo back: " + message.
    struct Echo {
        reply: Buf,
    }
    impl Handler for Echo {
        fn transmission_received(&mut self, conn: &mut Conn<'_>) {
            self.reply.clear();
            let _ = self.reply.extend_from_slice(b"Echo back: ");
            let _ = self.reply.extend_from_slice(conn.message());
            let _ = conn.transmit(&self.reply);
        }
    }
    impl ServerHooks for Echo {}

    let mut echo = Echo { reply: Buf::new() };
    let mut server: Option<Server<Buf, Buf, (), 2>> = None;
    net::run(move |now, sockets, [a, b, limit]| {
        let server = server.get_or_insert_with(|| {
            match Server::with_sockets(black_box(7000), [a, b], Config::new()) {
                Ok(s) => s.with_limit_socket(limit),
                Err(_) => loop {},
            }
        });
        let _ = black_box(server.poll(now, sockets, &mut echo));
    })
}

#[cfg(all(feature = "smoltcp-only", not(feature = "baseline")))]
#[entry]
fn main() -> ! {
    use smoltcp::socket::tcp;
    net::run(|_, sockets, handles| {
        for h in handles {
            let socket = sockets.get_mut::<tcp::Socket>(h);
            if !socket.is_open() {
                let _ = socket.listen(black_box(7000));
            }
            let mut buf = [0u8; 256];
            if let Ok(n) = socket.recv_slice(&mut buf) {
                let _ = socket.send_slice(black_box(&buf[..n]));
            }
        }
    })
}

#[cfg(feature = "baseline")]
#[entry]
fn main() -> ! {
    let mut buf = [0u8; 256];
    let mut reply = [0u8; 256];
    loop {
        // Copies of a run-time length pull in `memcpy`, as any firmware has.
        let n = black_box(buf.len());
        buf[0] = black_box(0);
        reply[..n].copy_from_slice(&buf[..n]);
        black_box(&reply);
    }
}
