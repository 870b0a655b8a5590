//! The protocol state of one connection, made the same way by the reactor and by the
//! blocking [`TcpConnection`](crate::TcpConnection).

use crate::config::ConnSettings;
use crate::message::MessageBuffer;
use crate::spares::Spares;
use tinyproto_core::connection::Connection;
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::Plugin;

pub(crate) type ProtoConnection =
    Connection<MessageBuffer, MessageBuffer, Vec<Box<dyn Plugin + Send>>>;

/// A new connection's protocol state made with `settings`: its plugins and timeouts, its
/// receive buffer reusing memory from `spares`.
pub(crate) fn protocol(settings: &ConnSettings, spares: &Spares) -> ProtoConnection {
    let mut conn = Connection::with_plugins(
        MessageBuffer::new(settings.max_message_size, spares.clone()),
        MessageBuffer::new(MSG_MAX_SIZE as usize, spares.clone()),
        settings.plugins(),
    );
    conn.set_timeouts(settings.timeouts);
    conn
}

/// Lets go of the message sent: a shared one is released, a large one freed (or kept among
/// the spares), so that an idle connection stays small; a small one's memory receives the
/// next message (a lockstep exchange then allocates nothing).
pub(crate) fn shrink_tx(conn: &mut ProtoConnection) {
    let memory = conn.tx_buffer_mut().take_memory();
    conn.rx_buffer_mut().reuse(memory);
}
