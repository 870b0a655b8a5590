"""Benchmark server on the Python package (2.0.1 or 3.0, whichever runs it), with its own
TinyProtoServer. Same arguments as `tinyproto-bench role floor-server`.

--mode echo answers every message with itself from inside transmission_received; --mode sink
answers only messages shorter than 16 bytes (the bulk end marker). Prints `LISTENING <port>`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))

import tinyproto as tp  # noqa: E402

from tpcompat import listening_port, make_server, say  # noqa: E402

ECHO_ALL = True


class Echo(tp.TinyProtoConnection):
    def transmission_received(self, msg):
        if ECHO_ALL or len(msg) < 16:
            self.transmit(msg)


class Server(tp.TinyProtoServer):
    def pre_loop(self):
        say("LISTENING", listening_port(self))


def main():
    global ECHO_ALL
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="echo", choices=["echo", "sink"])
    args, _ = ap.parse_known_args()
    ECHO_ALL = args.mode == "echo"
    make_server(Server, Echo, "127.0.0.1", args.port).start()


if __name__ == "__main__":
    main()
