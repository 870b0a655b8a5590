"""The upstream chat server, on the Python package (2.0.1 or 3.0, whichever is installed).

Each connection keeps an inbox and an outbox; the server's loop_pass takes every connection's
inbox and puts each line, as '[<conn id>] <line>', in every OTHER connection's outbox; each
connection's loop_pass transmits its outbox. Joins and leaves are announced as
'**joined the chat' / '**left the chat'.

Upstream passes a misspelled `listen_addressess=` keyword to TinyProtoServer and so does not
start on 3.0; this port builds the server through tpcompat, which spells it right.
Prints `LISTENING <port>` once listening (for the test harnesses).
"""
import argparse

import tinyproto as tp

from chat_mailbox import MailboxConnection
from tpcompat import VERSION, listening_port, make_server, say


def peer_of(conn_o):
    try:
        return conn_o.socket_o.getpeername()
    except OSError:
        return conn_o.peername_details


class ChatServer(tp.TinyProtoServer):
    def pre_loop(self):
        say("LISTENING", listening_port(self), "tinyproto", VERSION)

    def broadcast(self, from_id, line):
        for conn_id, conn_o in list(self.active_connections.items()):
            if conn_id != from_id:
                conn_o.outbox.put("[{}] {}".format(from_id, line))

    def conn_init(self, conn_id, conn_o):
        say("[INFO] New connection opened from {}".format(peer_of(conn_o)))
        self.broadcast(conn_id, "**joined the chat")

    def conn_shutdown(self, conn_id, conn_o):
        say("[INFO] Connection closed from {}".format(conn_o.peername_details))
        self.broadcast(conn_id, "**left the chat")

    def loop_pass(self):
        for conn_id, conn_o in list(self.active_connections.items()):
            while not conn_o.inbox.empty():
                self.broadcast(conn_id, conn_o.inbox.get())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9123, help="0 = ephemeral (printed)")
    args = ap.parse_args()
    make_server(ChatServer, MailboxConnection, args.host, args.port).start()


if __name__ == "__main__":
    main()
