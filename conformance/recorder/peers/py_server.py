"""A tinyproto server peer, run with one venv's python.

Usage: python py_server.py '<json config>'

Config keys:
  version           expected tinyproto version ("2.0.1" or "3.0"); the peer refuses to run another one
  plugins           list of plugin names (see common.PLUGIN_DESCRIPTIONS), registered in this order
  reply             "echo_prefix": answer each message m with b"Echo back: " + m (the seed echo server)
                    "echo": answer each message with itself;  "none": never answer
  pre_loop_send     message specs the connection transmits from its pre_loop (right after the handshake)
  connection_limit  null or an int
  deadline          seconds after which the process ends itself (safety net)

Events (JSON lines on stdout): listening{port}, conn_init, conn_ready{conn}, received{conn, hex},
transmitted{conn, index}, post_loop{conn}, conn_shutdown{conn}, error{thread, repr}, log{..}, exit, deadline.
stdin commands: "exit" (or end of stdin) ends the process at once.
"""
import itertools
import json
import sys

from common import Emitter, install_error_capture, message_bytes, start_control_thread, \
    start_deadline_thread

CONFIG = json.loads(sys.argv[1])
EMIT = Emitter()
install_error_capture(EMIT, "server")

import compat  # noqa: E402  (after the error capture, so import-time problems are reported too)

_conn_numbers = itertools.count()


def reply_for(msg):
    """The answer to `msg` under CONFIG["reply"], or None for no answer."""
    mode = CONFIG["reply"]
    if mode == "echo_prefix":
        return b"Echo back: " + bytes(msg)
    if mode == "echo":
        return bytes(msg)
    return None


class Handler(compat.TinyProtoConnection):
    """Connection handler: reports what it sees, answers per CONFIG["reply"]."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = next(_conn_numbers)

    def pre_loop(self):
        EMIT.emit("conn_ready", conn=self.number)
        for index, spec in enumerate(CONFIG.get("pre_loop_send", [])):
            self.transmit(message_bytes(spec))
            EMIT.emit("transmitted", conn=self.number, index=index)

    def transmission_received(self, msg):
        EMIT.emit("received", conn=self.number, hex=bytes(msg).hex(), type=type(msg).__name__)
        answer = reply_for(msg)
        if answer is not None:
            self.transmit(answer)
            EMIT.emit("transmitted", conn=self.number, index="reply")

    def post_loop(self):
        EMIT.emit("post_loop", conn=self.number)


class Server(compat.TinyProtoServer):
    """Server that reports its port and its connections' life cycle."""

    def pre_loop(self):
        EMIT.emit("listening", port=compat.server_port(self))

    def conn_init(self, conn_id, conn_o):
        EMIT.emit("conn_init", conn=conn_o.number)

    def conn_shutdown(self, conn_id, conn_o):
        EMIT.emit("conn_shutdown", conn=conn_o.number)


def main():
    """Check the version, start the control threads, run the server loop in the main thread."""
    EMIT.emit("start", version=compat.VERSION, role="server")
    if compat.VERSION != CONFIG["version"]:
        EMIT.emit("error", role="server", thread="MainThread",
                  repr="wrong tinyproto version %s" % compat.VERSION)
        return 2
    start_control_thread(EMIT, {})
    start_deadline_thread(EMIT, CONFIG.get("deadline", 9.5))
    server = compat.make_server(Server, Handler, CONFIG.get("plugins", []),
                                CONFIG.get("connection_limit"))
    try:
        server.start()
    except BaseException as exc:
        # Report, then let it propagate exactly as an unhandled exception would (3.0 at its connection
        # limit dies here with NameError; its connection threads are daemons, so the process ends).
        EMIT.emit("error", role="server", thread="MainThread", repr=repr(exc))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
