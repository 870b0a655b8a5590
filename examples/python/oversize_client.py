"""A client that sends a message its server refuses, then one it accepts, on one connection.

Sends 2000 bytes of b"x" (expects "Transmission rejected": prints `REJECTED <error>`), then 1000
bytes of b"y" (expects the echo b"Echo back: " + message: prints `OK`, else `MISMATCH`). It sends
from `pre_loop`, on the connection's own thread: 2.0.1 selects on the socket outside its lock, so
a transmit from another thread races the connection thread for the status byte (its reader then
times out and delivers an empty message). Run against a server whose limit is below 2000 bytes.
"""
import argparse
import os
import threading

import tinyproto as tp

from tpcompat import connect, make_client, say

done = threading.Event()


class OversizeConnection(tp.TinyProtoConnection):
    def pre_loop(self):
        try:
            self.transmit(b"x" * 2000)
        except tp.TinyProtoError as e:
            say("REJECTED", e)
        self.transmit(b"y" * 1000)

    def transmission_received(self, msg):
        say("OK" if bytes(msg) == b"Echo back: " + b"y" * 1000 else "MISMATCH")
        done.set()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    connect(make_client(tp.TinyProtoClient, OversizeConnection), args.host, args.port)
    done.wait(20)
    os._exit(0)


if __name__ == "__main__":
    main()
