"""Checks a tinyproto server's connection limit from raw sockets (run by run-qemu.sh).

Usage: limit_probe.py HOST PORT N. Opens N connections and completes the init handshake on each
(our ff, the server's ff), then opens one more: the server must answer it with the single byte fe
and close it. Then closes the N connections at a message boundary. Prints `LIMIT OK` or the
reason it failed (exit 1).
"""
import socket
import sys


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conns = []
    try:
        for i in range(n):
            s = socket.create_connection((host, port), timeout=5)
            conns.append(s)
            s.sendall(b"\xff")
            got = s.recv(1)
            if got != b"\xff":
                print("connection", i, "got", got.hex() or "EOF", "instead of ff")
                return 1
        extra = socket.create_connection((host, port), timeout=5)
        answer = extra.recv(2)
        rest = extra.recv(1) if answer == b"\xfe" else b"?"
        extra.close()
        if answer != b"\xfe" or rest != b"":
            print("connection", n, "above the limit got", (answer + rest).hex() or "EOF", "instead of fe, close")
            return 1
    finally:
        for s in conns:
            s.close()
    print("LIMIT OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
