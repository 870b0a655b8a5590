//! The protocol state of one connection, made the same way by the reactor and by the
//! blocking [`TcpConnection`](crate::TcpConnection).

use crate::config::ConnSettings;
use crate::message::MessageBuffer;
use crate::spares::Spares;
use tinyproto_core::connection::Connection;
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::Plugin;

/// A send buffer that grew past this is freed once its message is out.
const KEEP_TX_CAPACITY: usize = 16 * 1024;

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

/// Lets go of the message sent: a shared one is released, a large one freed, so that an idle
/// connection stays small.
pub(crate) fn shrink_tx(conn: &mut ProtoConnection) {
    let tx = conn.tx_buffer_mut();
    if tx.capacity() == 0 || tx.capacity() > KEEP_TX_CAPACITY {
        tx.release();
    }
}
