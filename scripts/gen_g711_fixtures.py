#!/usr/bin/env python3
"""Regenerate the G.711 reference vectors used by media/tests/g711_reference.rs.

The vectors come from CPython's `audioop` module (the CCITT/Sun reference
implementation of G.711, present up to Python 3.12), an implementation
independent of ours. Run once with Python <= 3.12; the output is committed.

Files (all little-endian):
  ulaw_decode.bin  256 x int16: PCM16 for every u-law code 0..255
  alaw_decode.bin  256 x int16: PCM16 for every A-law code 0..255
  ulaw_encode.bin  65536 x uint8: u-law code for every PCM16 input, indexed by
                   the input's 16-bit two's-complement pattern (0x0000..0xFFFF)
  alaw_encode.bin  65536 x uint8: same for A-law
"""
import audioop
import pathlib
import struct
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "media/tests/fixtures/g711")
out.mkdir(parents=True, exist_ok=True)

codes = bytes(range(256))
(out / "ulaw_decode.bin").write_bytes(audioop.ulaw2lin(codes, 2))
(out / "alaw_decode.bin").write_bytes(audioop.alaw2lin(codes, 2))

pcm = b"".join(struct.pack("<H", u) for u in range(65536))
(out / "ulaw_encode.bin").write_bytes(audioop.lin2ulaw(pcm, 2))
(out / "alaw_encode.bin").write_bytes(audioop.lin2alaw(pcm, 2))
print(f"wrote G.711 reference vectors to {out}")
