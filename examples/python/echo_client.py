"""The seed README's echo client, on the Python package (2.0.1 or 3.0).

Sends each stdin line and prints `Response from server: <reply>`; after QUIT or SRVQUIT, or at
end of input, it closes. Unlike the seed it waits (up to --wait seconds) for each reply before
sending the next line, so scripted runs are deterministic.

With --sizes N,N,... it instead sends random binary messages of those sizes (seeded), checks that
each reply is b"Echo back: " + message, and prints `OK <count>` or `MISMATCH ...` (exit 1);
--finally MSG then sends MSG (e.g. SRVQUIT) without waiting for a reply.
"""
import argparse
import queue
import random
import sys

import tinyproto as tp

from tpcompat import connect, make_client, plugins_from_names, say


class EchoClientConnection(tp.TinyProtoConnection):
    replies = queue.Queue()

    def transmission_received(self, msg):
        EchoClientConnection.replies.put(bytes(msg))


def run_lines(conn, wait):
    for line in sys.stdin:
        msg = line.rstrip("\n")
        conn.transmit(msg.encode())
        if msg in ("QUIT", "SRVQUIT"):
            break
        try:
            reply = EchoClientConnection.replies.get(timeout=wait)
        except queue.Empty:
            say("NO REPLY")
            return 1
        say("Response from server: {0}".format(reply.decode(errors="replace")))
    return 0


def run_sizes(conn, sizes, seed, wait):
    rng = random.Random(seed)
    for i, size in enumerate(sizes):
        msg = bytes(rng.getrandbits(8) for _ in range(size)) if size < 65536 else rng.randbytes(size)
        conn.transmit(msg)
        try:
            reply = EchoClientConnection.replies.get(timeout=wait)
        except queue.Empty:
            say("NO REPLY to message", i, "of", size, "bytes")
            return 1
        if reply != b"Echo back: " + msg:
            say("MISMATCH at message", i, "size", size, "reply length", len(reply))
            return 1
    say("OK", len(sizes))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9123)
    ap.add_argument("--plugin", action="append", default=[], choices=["xor5a", "bang"])
    ap.add_argument("--sizes", default=None, help="comma-separated message sizes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wait", type=float, default=20.0, help="seconds to wait for a reply")
    ap.add_argument("--finally", dest="last", default=None, help="with --sizes: send this message last")
    args = ap.parse_args()
    client = make_client(tp.TinyProtoClient, EchoClientConnection, plugins_from_names(args.plugin))
    conn = connect(client, args.host, args.port)
    if args.sizes is not None:
        code = run_sizes(conn, [int(s) for s in args.sizes.split(",") if s], args.seed, args.wait)
        if code == 0 and args.last is not None:
            conn.transmit(args.last.encode())
    else:
        code = run_lines(conn, args.wait)
    conn.shutdown = True
    sys.exit(code)


if __name__ == "__main__":
    main()
