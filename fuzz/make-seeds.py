#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/seeds/<target>/) from the recorded transcripts
(conformance/transcripts/*.json): each side's byte stream, framed as each target reads its
input (see fuzz/src/*.rs). Streams above 8 KiB are left out to keep inputs small.
Run from anywhere: python3 fuzz/make-seeds.py"""
import hashlib, json, pathlib, struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
MAX = 8 * 1024


def put(target, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def stream(t, direction):
    """The bytes sent in `direction` on the connection of interest (the last one)."""
    conn = max((c["conn"] for c in t["chunks"] if c.get("conn") is not None), default=None)
    return b"".join(
        bytes.fromhex(c["hex"])
        for c in t["chunks"]
        if c["dir"] == direction and c.get("conn") == conn and c.get("hex")
    )


for path in sorted((ROOT / "conformance" / "transcripts").glob("*.json")):
    t = json.loads(path.read_text())
    for role, peer_dir in (("server", "c2s"), ("client", "s2c")):
        s = stream(t, peer_dir)
        if len(s) > MAX:
            continue
        config = t[f"{role}_config"]
        plugins = config.get("plugins") or []
        sends = len(config.get("send") or [])
        # replay: selector (role, plugins, client sends, read size: all at once), then the stream.
        sel = (role == "client") | ("xor5a" in plugins) << 1 | ("bang" in plugins) << 2
        sel |= min(sends, 3) << 3 | 3 << 5
        put("replay", bytes([sel]) + s)
        # session, stream game: limit 4096, the stream, no schedule (everything at once).
        put("session", b"\x00" + struct.pack(">HH", 4096, len(s)) + s)

# session, pair game: limit 100, three messages (10, 100 and 150 bytes: the last refused).
put("session", b"\x01" + struct.pack(">HBHHH", 100, 3, 10, 100, 150))
# plugins: chain xor5a, bang; "hello" under a 64-byte limit; no garbage; then the pair game.
put("plugins", b"\x02\x00\x01\x40\x05hello\x00" + struct.pack(">HBHH", 64, 2, 5, 63))
# plugins: a tag of 4 bytes; a 3-byte message that the tag pushes over a 6-byte limit.
put("plugins", b"\x01\x02\x06\x03abc\x03xyz" + struct.pack(">HBH", 6, 1, 3))
