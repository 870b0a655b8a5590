"""Benchmark client on the Python package (2.0.1 or 3.0), with its own TinyProtoClient. Same
arguments and `RESULT ...` line as `tinyproto-bench role floor-client`.

--send thread: the main thread calls transmit() and waits for each echo (a queue fed by
transmission_received); --send hook: messages are sent from the connection's own thread
(the next echo request from inside transmission_received; bulk from pre_loop).
"""
import argparse
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))

import tinyproto as tp  # noqa: E402

from tpcompat import connect, make_client  # noqa: E402

A = None
REPLIES = queue.Queue()
STATE = {"ops": 0, "start": 0.0, "deadline": 0.0, "done": threading.Event(), "hook": False}


def hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Client(tp.TinyProtoConnection):
    def pre_loop(self):
        if STATE["hook"] and A.task == "bulk":
            payload = bytes([0x5A]) * A.size
            STATE["start"] = time.monotonic()
            deadline = STATE["start"] + A.seconds
            while STATE["ops"] < A.count and time.monotonic() < deadline:
                self.transmit(payload)
                STATE["ops"] += 1
            self.transmit(b"E")

    def transmission_received(self, msg):
        if not STATE["hook"]:
            REPLIES.put(msg)
            return
        if A.task == "bulk":
            STATE["done"].set()
            return
        if len(msg) != A.size:
            STATE["done"].set()
            return
        if STATE["start"] == 0.0:
            # The clock starts at the first echo: the first transmit comes from the main thread.
            STATE["start"] = time.monotonic()
            STATE["deadline"] = STATE["start"] + A.seconds
        else:
            STATE["ops"] += 1
        if STATE["ops"] < A.count and time.monotonic() < STATE["deadline"]:
            self.transmit(PAYLOAD)
        else:
            STATE["done"].set()


PAYLOAD = b""


def main():
    global A, PAYLOAD
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--task", default="echo", choices=["echo", "bulk"])
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--count", type=int, default=10**9)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--send", default="thread", choices=["thread", "hook"])
    A, _ = ap.parse_known_args()
    STATE["hook"] = A.send == "hook"
    PAYLOAD = bytes([0x5A]) * A.size
    client = make_client(tp.TinyProtoClient, Client, timeout=60)
    conn = connect(client, "127.0.0.1", A.port)
    if STATE["hook"]:
        if A.task == "echo":
            conn.transmit(PAYLOAD)
        STATE["done"].wait(A.seconds + 120)
        elapsed = time.monotonic() - STATE["start"]
        ops = STATE["ops"]
    else:
        start = time.monotonic()
        deadline = start + A.seconds
        ops = 0
        while ops < A.count and time.monotonic() < deadline:
            conn.transmit(PAYLOAD)
            if A.task == "echo":
                if len(REPLIES.get(timeout=60)) != A.size:
                    print("MISMATCH", flush=True)
                    os._exit(1)
            ops += 1
        if A.task == "bulk":
            conn.transmit(b"E")
            REPLIES.get(timeout=60)
        elapsed = time.monotonic() - start
    print("RESULT ops={} bytes={} secs={:.6f} hwm_kib={}".format(ops, ops * A.size, elapsed, hwm_kib()), flush=True)
    # The package's threads may not stop on their own (3.0 keeps its socket): leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
