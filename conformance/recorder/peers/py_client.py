"""A tinyproto client peer, run with one venv's python.

Usage: python py_client.py '<json config>'

Config keys:
  version   expected tinyproto version ("2.0.1" or "3.0"); the peer refuses to run another one
  port      port on 127.0.0.1 to connect to (the recording proxy)
  plugins   list of plugin names (see common.PLUGIN_DESCRIPTIONS), registered in this order
  send      message specs to transmit, lockstep: the first from pre_loop (right after the handshake), each
            next one from transmission_received once as many messages were received as were sent
  expect    how many messages to receive before closing (default: len(send))
  hold      if true, never close on our own: only the "close" command (or the library) ends the connection
  timeout   the client's socket timeout in seconds (tinyproto's default is 5)
  deadline  seconds after which the process ends itself (safety net)

Everything happens in the connection's own thread (pre_loop / transmission_received), as tinyproto
applications do, so nothing races with the library's loop. "Closing" means setting conn.shutdown = True:
the library's loop ends, runs post_loop and closes the socket.

Events (JSON lines on stdout): handshake_done, transmitted{index}, received{hex}, closing, post_loop,
conn_thread_ended, error{thread, repr}, log{..}, exit, deadline.
stdin commands: "close" (conn.shutdown = True), "exit" (or end of stdin) ends the process at once.
The process never exits on its own when the connection ends (a dead thread's open socket stays open).
"""
import json
import sys
import time

from common import Emitter, install_error_capture, message_bytes, start_control_thread, \
    start_deadline_thread

CONFIG = json.loads(sys.argv[1])
EMIT = Emitter()
install_error_capture(EMIT, "client")

import compat  # noqa: E402

SEND = [message_bytes(spec) for spec in CONFIG.get("send", [])]
EXPECT = CONFIG.get("expect", len(SEND))
HOLD = CONFIG.get("hold", False)


class Handler(compat.TinyProtoConnection):
    """Connection handler driving the lockstep script described in the module docstring."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = 0
        self.received = 0

    def pre_loop(self):
        EMIT.emit("handshake_done")
        self.advance()

    def transmission_received(self, msg):
        EMIT.emit("received", hex=bytes(msg).hex(), type=type(msg).__name__)
        self.received += 1
        self.advance()

    def post_loop(self):
        EMIT.emit("post_loop")

    def advance(self):
        """Send the next message if its turn has come; close once everything was sent and received."""
        if self.sent < len(SEND) and self.received >= self.sent:
            index = self.sent
            self.sent += 1
            self.transmit(SEND[index])
            EMIT.emit("transmitted", index=index)
        elif self.sent >= len(SEND) and self.received >= EXPECT and not HOLD:
            EMIT.emit("closing")
            self.shutdown = True


def watch(conn, deadline):
    """Wait (bounded) for the connection thread to end and report it; then idle until told to exit."""
    reported = False
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not reported and not compat.connection_thread_alive(conn):
            EMIT.emit("conn_thread_ended")
            reported = True
        time.sleep(0.01)


def main():
    """Check the version, connect, and watch the connection."""
    EMIT.emit("start", version=compat.VERSION, role="client")
    if compat.VERSION != CONFIG["version"]:
        EMIT.emit("error", role="client", thread="MainThread",
                  repr="wrong tinyproto version %s" % compat.VERSION)
        return 2
    deadline = CONFIG.get("deadline", 9.5)
    start_deadline_thread(EMIT, deadline)
    client = compat.make_client(Handler, CONFIG.get("plugins", []), CONFIG.get("timeout", 5))
    conn = compat.connect(client, CONFIG["port"])
    EMIT.emit("connect_returned")

    def close():
        conn.shutdown = True

    start_control_thread(EMIT, {"close": close})
    watch(conn, deadline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
