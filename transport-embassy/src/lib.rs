//! The tinyproto protocol (wire-compatible with the Python package `tinyproto` 2.0.1 and 3.0)
//! on [embassy-net](https://docs.rs/embassy-net) TCP sockets: a server whose pool of sockets
//! accepts on one port under one connection limit, a client [`connect`], and connections
//! ([`Conn`]) on the core's cancel-safe async driver
//! ([`AsyncConnection`](tinyproto_core::AsyncConnection)) with the protocol's stall and
//! status-byte limits.
//! `no_std`, no heap, no `unsafe`; it needs a time driver for `embassy-time`, as embassy-net
//! does, and a `critical-section` implementation (the connection limit's count; it also builds
//! for targets without compare-and-swap atomics, such as `thumbv6m`). embassy-net 0.9 is built on smoltcp 0.13 (not the 0.14 of `tinyproto-smoltcp`).
//!
//! # A plain async API, not hooks
//! The other transports call the application's hooks (`pre_loop`, `transmission_received`,
//! `loop_pass`, `post_loop`, `transmission_failed`; for a server `conn_init`,
//! `conn_shutdown`, `conn_refused`) because their loop is theirs: a thread or a polled loop
//! that owns every connection. On embassy the application's task *is* the loop, and
//! `#[embassy_executor::task]` functions cannot be generic over a handler, so this crate
//! gives the points where those hooks would be called as the places an `await` returns:
//!
//! | hook of the other transports | here |
//! | --- | --- |
//! | `conn_init`, `pre_loop` | [`Server::accept`] returns [`Accepted::Connection`] (handshake done); [`connect`] returns |
//! | `transmission_received` | [`Conn::receive`] returns [`Received::Message`](tinyproto_core::Received::Message) |
//! | `transmission_failed` | `receive` returns `Received::Refused` / `Received::Discarded`, `transmit` returns [`Sent::Rejected`](tinyproto_core::Sent::Rejected) or an error |
//! | `loop_pass` | the application's own `select` / `with_timeout` around `receive` (cancel-safe) |
//! | `post_loop`, `conn_shutdown` | `receive` returns an [`Error`](tinyproto_core::Error) (`Closed` is a clean close); then [`Conn::close`] |
//! | `conn_refused` | `accept` returns [`Accepted::Refused`] |
//!
//! # A server
//! Run one task per socket, more sockets than the connection limit: each task loops on
//! [`Server::accept`]. See [`Server`] for a worker, and `examples/src/bin/embassy-echo.rs` in
//! the repository for a whole program (embassy-executor and embassy-net on a Linux TAP
//! device), tested in a network namespace against the Python package.
//!
//! # Timeouts
//! [`Config`]: the TCP connect and the init handshake are bounded, a message that stops
//! arriving and a status byte that does not answer our header end their connection with
//! [`Error::Timeout`](tinyproto_core::Error::Timeout); between messages a peer may be silent as
//! long as it likes, as in Python. A peer that stops acknowledging what we send is bounded by
//! the socket's own `TcpSocket::set_timeout`.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod client;
mod config;
mod conn;
mod error;
mod limit;
mod server;
mod socket;
mod status;
#[cfg(test)]
mod testio;

pub use client::connect;
pub use config::Config;
pub use conn::Conn;
pub use error::{AcceptError, ConnectError};
pub use server::{Accepted, Refused, Server};
/// The core this crate runs on (its `Received`, `Sent`, errors, buffers and plugins).
pub use tinyproto_core;
