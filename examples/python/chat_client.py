"""The upstream chat client, on the Python package (2.0.1 or 3.0).

A client loop thread prints every message received; each stdin line goes to the connection's
outbox, which the connection's loop_pass transmits; 'quit' (or the end of input) leaves.
"""
import argparse
import sys
import threading

import tinyproto as tp

from chat_mailbox import MailboxConnection
from tpcompat import connect, make_client, say


class ChatClient(tp.TinyProtoClient):
    def loop_pass(self):
        for conn_o in list(self.active_connections.values()):
            while not conn_o.inbox.empty():
                say(conn_o.inbox.get())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9123)
    args = ap.parse_args()
    client = make_client(ChatClient, MailboxConnection)
    conn = connect(client, args.host, args.port)
    loop = threading.Thread(target=client.start, daemon=True)
    loop.start()
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line == "quit":
            break
        conn.outbox.put(line)
    # Let the connection's loop_pass send what is queued, then leave.
    while not conn.outbox.empty() and conn.is_alive():
        threading.Event().wait(0.01)
    with conn.connection_lock:  # held by a transmit in progress
        pass
    client.shutdown = True
    loop.join(timeout=5)
    conn.shutdown = True
    sys.exit(0)


if __name__ == "__main__":
    main()
