"""Peers on raw sockets, for what the tinyproto package cannot be made to do.

--role client: connects, does the init handshake, announces a message of --announce bytes,
sends --send of them after the go-ahead, and closes: a peer that breaks off mid-message.
--role server: listens on --host/--port (0 = ephemeral; prints `LISTENING <port>`), accepts
one client, does the init handshake, receives one whole message (answering go-ahead), then
breaks off its reply as the client role does.
--role mute-server: listens and accepts as the server role does, does the init handshake, reads
one header and never answers it (no status byte); prints `GOT HEADER <length>`, then `EOF` once
the client closes, `GOT <hex>` if it sends more instead, or `TIMEOUT`.
--role limit-probe: connects, sends its init byte, reads until the server closes and prints
`GOT <hex> EOF` (a clean close) or `GOT <hex> RESET`.
Each prints `SENT <n> OF <announce>` once it closed. Every wait is bounded by --wait seconds.
"""
import argparse
import socket
import struct


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("peer closed after {0} of {1} bytes".format(len(data), n))
        data += chunk
    return data


def handshake(sock):
    sock.sendall(b"\xff")
    init = recv_exact(sock, 1)
    if init != b"\xff":
        raise ValueError("init byte {0!r}".format(init))


def break_off(sock, announce, send):
    sock.sendall(struct.pack(">I", announce))
    status = recv_exact(sock, 1)
    if status != b"\xff":
        raise ValueError("status byte {0!r}".format(status))
    sock.sendall(b"x" * send)
    sock.close()
    print("SENT", send, "OF", announce, flush=True)


def accept_one(args):
    listener = socket.create_server((args.host, args.port))
    listener.settimeout(args.wait)
    print("LISTENING", listener.getsockname()[1], flush=True)
    sock, _ = listener.accept()
    sock.settimeout(args.wait)
    handshake(sock)
    return sock


def mute(sock):
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    print("GOT HEADER", length, flush=True)
    try:
        more = sock.recv(64)
        print("GOT " + more.hex() if more else "EOF", flush=True)
    except socket.timeout:
        print("TIMEOUT", flush=True)
    sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--role", choices=["client", "server", "mute-server", "limit-probe"], required=True
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9123)
    ap.add_argument("--announce", type=int, default=100)
    ap.add_argument("--send", type=int, default=40)
    ap.add_argument("--wait", type=float, default=20.0)
    args = ap.parse_args()
    if args.role == "mute-server":
        mute(accept_one(args))
        return
    if args.role == "server":
        sock = accept_one(args)
        (length,) = struct.unpack(">I", recv_exact(sock, 4))
        sock.sendall(b"\xff")
        recv_exact(sock, length)
        break_off(sock, args.announce, args.send)
        return
    sock = socket.create_connection((args.host, args.port), timeout=args.wait)
    if args.role == "client":
        handshake(sock)
        break_off(sock, args.announce, args.send)
        return
    sock.sendall(b"\xff")
    got = b""
    try:
        while True:
            chunk = sock.recv(64)
            if not chunk:
                print("GOT", got.hex(), "EOF", flush=True)
                break
            got += chunk
    except ConnectionResetError:
        print("GOT", got.hex(), "RESET", flush=True)
    sock.close()


if __name__ == "__main__":
    main()
