"""Writes the eight PNG fixtures (gray, gray+alpha, RGB, RGBA at 8 and 16 bits) decoded by PNGCodecTests.

Pixel values follow closed formulas that the Swift test recomputes, so no value table is committed:
  8-bit  sample(c, y, x) = (x*37 + y*11 + c*71) % 256,  alpha(y, x) = (x*53 + y*29 + 40) % 256
  16-bit sample(c, y, x) = (x*4099 + y*257 + c*11111) % 65536, alpha(y, x) = (x*9001 + y*3001 + 5000) % 65536
Images are 5 wide, 4 high. 8-bit files are written with Pillow; 16-bit with a minimal PNG writer
(Pillow cannot write 16-bit colour), both without gAMA chunks.  Run: python3 make_png_fixtures.py
"""
import struct, zlib
import numpy as np
from PIL import Image

W, H = 5, 4

def sample8(c, y, x): return (x * 37 + y * 11 + c * 71) % 256
def alpha8(y, x): return (x * 53 + y * 29 + 40) % 256
def sample16(c, y, x): return (x * 4099 + y * 257 + c * 11111) % 65536
def alpha16(y, x): return (x * 9001 + y * 3001 + 5000) % 65536

def planes(color, alpha, wide):
    s, a = (sample16, alpha16) if wide else (sample8, alpha8)
    chans = [[[s(c, y, x) for x in range(W)] for y in range(H)] for c in range(3 if color else 1)]
    if alpha:
        chans.append([[a(y, x) for x in range(W)] for y in range(H)])
    return np.array(chans, dtype=np.uint16 if wide else np.uint8).transpose(1, 2, 0)  # H, W, C

def write_png16(path, arr, color_type):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(H))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 16, color_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

for name, color, alpha, ctype, mode in [("gray", False, False, 0, "L"), ("ga", False, True, 4, "LA"),
                                        ("rgb", True, False, 2, "RGB"), ("rgba", True, True, 6, "RGBA")]:
    arr8 = planes(color, alpha, False)
    Image.fromarray(arr8[:, :, 0] if arr8.shape[2] == 1 else arr8, mode).save(f"{name}8.png")
    write_png16(f"{name}16.png", planes(color, alpha, True), ctype)
