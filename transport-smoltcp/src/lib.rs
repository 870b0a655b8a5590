//! The tinyproto protocol on smoltcp TCP sockets, for firmware: a server and a client driven
//! from one polled loop, with the hooks of the Python package, without heap or threads.
//!
//! Wire-compatible with the Python package `tinyproto` (2.0.1 and 3.0), on top of the sans-IO
//! [`tinyproto_core`].
//!
//! # How it fits into a firmware loop
//! The application owns the smoltcp `Interface`, the device and the `SocketSet`, and adds one
//! TCP socket per connection it wants to serve at once. A [`Server`] (or [`Client`]) takes the
//! socket handles, each with its message buffers, as a fixed pool of [`Slot`]s. Each pass of
//! the loop calls `Interface::poll`, then [`Server::poll`], which drives every connection and
//! calls the hooks, and returns a [`Status`] saying when to poll again.
//!
//! The hooks have the names and meaning of the other transports (and of the Python
//! package): [`Handler`] holds a connection's (`pre_loop` once its handshake is done,
//! `transmission_received`, `loop_pass`, `post_loop`, `transmission_failed`), [`ServerHooks`]
//! the server's (`pre_loop`, `loop_pass`, `post_loop`, `conn_init`, `conn_shutdown`,
//! `conn_refused`) and [`ClientHooks`] the client's. One value implements both traits, and
//! serves every connection of the pool.
//!
//! ```
//! use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
//! use smoltcp::phy::{Loopback, Medium};
//! use smoltcp::socket::tcp;
//! use smoltcp::time::Instant;
//! use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
//! use tinyproto_smoltcp::{Client, ClientHooks, Config, Conn, Control, Handler, Server, ServerHooks};
//!
//! type Buf = heapless::Vec<u8, 256>;
//!
//! /// The seed README's echo server: replies "Echo back: " + message.
//! struct Echo { scratch: Buf }
//! impl Handler for Echo {
//!     fn transmission_received(&mut self, conn: &mut Conn<'_>) {
//!         self.scratch.clear();
//!         self.scratch.extend_from_slice(b"Echo back: ").unwrap();
//!         self.scratch.extend_from_slice(conn.message()).unwrap();
//!         conn.transmit(&self.scratch).unwrap();
//!     }
//! }
//! impl ServerHooks for Echo {}
//!
//! /// Sends one message when connected, stops at the reply.
//! #[derive(Default)]
//! struct Ask { reply: Option<Vec<u8>> }
//! impl Handler for Ask {
//!     fn pre_loop(&mut self, conn: &mut Conn<'_>) {
//!         conn.transmit(b"hello").unwrap();
//!     }
//!     fn transmission_received(&mut self, conn: &mut Conn<'_>) {
//!         self.reply = Some(conn.message().to_vec());
//!         conn.shutdown();
//!     }
//! }
//! impl ClientHooks for Ask {
//!     fn loop_pass(&mut self, ctl: &mut Control<'_>) {
//!         if self.reply.is_some() { ctl.stop(); }
//!     }
//! }
//!
//! // One interface on a loopback device, talking to itself.
//! let mut device = Loopback::new(Medium::Ethernet);
//! let hw = EthernetAddress([0x02, 0, 0, 0, 0, 1]).into();
//! let mut iface = Interface::new(IfaceConfig::new(hw), &mut device, Instant::ZERO);
//! iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8)).unwrap());
//!
//! let mut storage: [_; 2] = Default::default();
//! let mut sockets = SocketSet::new(&mut storage[..]);
//! let mut socket = || tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 1024]),
//!                                      tcp::SocketBuffer::new(vec![0; 1024]));
//! let server_socket = sockets.add(socket());
//! let client_socket = sockets.add(socket());
//!
//! let mut server = Server::<Buf, Buf, (), 1>::with_sockets(7000, [server_socket], Config::new())?;
//! let mut client = Client::<Buf, Buf, (), 1>::with_sockets([client_socket], Config::new());
//! let (mut echo, mut ask) = (Echo { scratch: Buf::new() }, Ask::default());
//!
//! let mut now = Instant::ZERO;
//! let _ = server.poll(now, &mut sockets, &mut echo); // listen before the client connects
//! client.connect(iface.context(), &mut sockets, (IpAddress::v4(127, 0, 0, 1), 7000), now)?;
//! for _ in 0..1000 {
//!     iface.poll(now, &mut device, &mut sockets);
//!     let _ = server.poll(now, &mut sockets, &mut echo);
//!     if client.poll(now, &mut sockets, &mut ask).is_stopped() { break; }
//!     now += smoltcp::time::Duration::from_millis(1);
//! }
//! assert_eq!(ask.reply.as_deref(), Some(&b"Echo back: hello"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//! * Connection limit: the pool size `N`. With [`Server::with_limit_socket`] a peer above it
//!   is refused by the core's [`Refusal`](tinyproto_core::refusal::Refusal) (answered `0xfe`,
//!   then closed once it closed, or after [`Config::linger`]); a slot is re-armed once its
//!   connection has closed.
//! * Capacities: a slot's receive buffer (type `R`) bounds the largest message accepted — a larger one is
//!   answered `0x00` and skipped, the stream stays in sync ([`Handler::transmission_failed`]
//!   reports it); its send buffer (type `T`, which may differ: a large receive buffer with a
//!   small send buffer) bounds what [`Conn::transmit`] accepts.
//! * smoltcp's results map to typed errors ([`TcpError`], inside the core's [`Error`]):
//!   `Ok(0)` is "not now", a FIN is a close (clean between messages, `UnexpectedEof` inside
//!   one), a socket that dropped to `Closed` is [`TcpError::Reset`], a connect that never
//!   came up is [`TcpError::ConnectFailed`]. A partial message is never delivered.
//! * Sockets never leak: a failed connection aborts its socket, a closing one is aborted after
//!   [`Config::linger`]; protocol timeouts and TCP timeout/keep-alive are in [`Config`].
//! * One message at a time per connection: [`Conn::transmit`] returns `Busy` while one is in
//!   flight. The protocol is half-duplex per message; use request/response or let one side
//!   initiate (see PROTOCOL.md, section 3).
#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod client;
mod config;
mod error;
mod handler;
mod io;
mod pool;
mod server;

pub use client::Client;
pub use config::Config;
pub use error::{ConnectError, Error, Shutdown, TcpError};
pub use handler::{ClientHooks, Conn, Control, Handler, ServerHooks};
pub use pool::{Slot, Status};
pub use server::Server;
pub use tinyproto_core;
pub use tinyproto_core::connection::Failure;
pub use tinyproto_core::ConnId;
