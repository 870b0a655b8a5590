"""The seed README's echo server, on the Python package (2.0.1 or 3.0, whichever is installed).

Replies b"Echo back: " + message; QUIT closes that connection; SRVQUIT shuts the server down.
Prints `LISTENING <port>` once listening, and one line per connection opened and closed.
"""
import argparse
import threading

import tinyproto as tp

from tpcompat import VERSION, listening_port, make_server, plugins_from_names, say


class EchoConnection(tp.TinyProtoConnection):
    server_quit = threading.Event()

    def transmission_received(self, msg):
        if msg == b"QUIT":
            self.shutdown = True
        elif msg == b"SRVQUIT":
            EchoConnection.server_quit.set()
        else:
            self.transmit(b"Echo back: " + bytes(msg))


class EchoServer(tp.TinyProtoServer):
    def pre_loop(self):
        say("LISTENING", listening_port(self), "tinyproto", VERSION)

    def conn_init(self, conn_id, conn_o):
        say("Connection opened from: {0}".format(conn_o.socket_o.getpeername()))

    def conn_shutdown(self, conn_id, conn_o):
        say("Connection closed from: {0}".format(conn_o.peername_details))

    def loop_pass(self):
        if EchoConnection.server_quit.is_set():
            self.shutdown = True


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9123, help="0 = ephemeral (printed)")
    ap.add_argument("--limit", type=int, default=None, help="connection limit")
    ap.add_argument("--plugin", action="append", default=[], choices=["xor5a", "bang"])
    args = ap.parse_args()
    server = make_server(EchoServer, EchoConnection, args.host, args.port, args.limit, plugins_from_names(args.plugin))
    server.start()
    say("SERVER STOPPED")


if __name__ == "__main__":
    main()
