"""Writes the PNG fixtures that need libpng's expansion: gray at 1/2/4 bits, palette at 1/2/4/8 bits,
palette with a tRNS chunk, and gray/RGB at 8 and 16 bits with a tRNS colour key. Also writes
expand_expected.json: for each fixture the decoded channel count and the expected [C,H,W] values in
[0, 1] as PNGCodec.decode must return them (alpha composited onto black; low-depth gray scaled so
that the largest value is 1). Pure Python (struct + zlib), no Pillow. Images are 11 wide (so 1/2/4-bit
rows end in a partial byte), 4 high, no gAMA chunk.  Run: python3 make_png_expand_fixtures.py
"""
import json, struct, zlib

W, H = 11, 4

def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

def png(depth, ctype, rows, plte=None, trns=None):
    """rows: H lists of W pixels, each a tuple of samples (indices for palette)."""
    raw = b""
    for row in rows:
        samples = [s for px in row for s in px]
        if depth == 16:
            line = b"".join(struct.pack(">H", s) for s in samples)
        elif depth == 8:
            line = bytes(samples)
        else:  # pack MSB first, pad the last byte with zeros
            bits = "".join(format(s, "0%db" % depth) for s in samples)
            bits += "0" * (-len(bits) % 8)
            line = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        raw += b"\x00" + line
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, ctype, 0, 0, 0))
    if plte is not None:
        data += chunk(b"PLTE", b"".join(bytes(e) for e in plte))
    if trns is not None:
        data += chunk(b"tRNS", trns)
    return data + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")

def index(y, x, n): return (x * 3 + y * 5) % n
def entry(i): return ((i * 73 + 5) % 256, (i * 151 + 20) % 256, (i * 31 + 200) % 256)
def entry_alpha(i): return (i * 97 + 10) % 256
def sample8(c, y, x): return (x * 37 + y * 11 + c * 71) % 256
def sample16(c, y, x): return (x * 4099 + y * 257 + c * 11111) % 65536

fixtures = {}

def planar(channels, value):
    return [round(value(c, y, x), 9) for c in range(channels) for y in range(H) for x in range(W)]

# Gray at 1, 2, 4 bits: libpng scales v to v * 255 / (2^d - 1).
for d in (1, 2, 4):
    top = (1 << d) - 1
    rows = [[(index(y, x, top + 1),) for x in range(W)] for y in range(H)]
    open("gray%d.png" % d, "wb").write(png(d, 0, rows))
    fixtures["gray%d" % d] = {"channels": 1, "values": planar(1, lambda c, y, x: index(y, x, top + 1) / top)}

# Palette at 1, 2, 4, 8 bits (8-bit: 200 entries), opaque and (4, 8 bits) with a partial tRNS.
for d in (1, 2, 4, 8):
    n = 200 if d == 8 else 1 << d
    plte = [entry(i) for i in range(n)]
    rows = [[(index(y, x, n),) for x in range(W)] for y in range(H)]
    open("palette%d.png" % d, "wb").write(png(d, 3, rows, plte))
    fixtures["palette%d" % d] = {"channels": 3, "values": planar(3, lambda c, y, x: entry(index(y, x, n))[c] / 255)}
    if d >= 4:
        k = n - 3  # tRNS may be shorter than PLTE: the last entries stay opaque
        alphas = [entry_alpha(i) for i in range(k)] + [255] * (n - k)
        open("palette%d_trns.png" % d, "wb").write(png(d, 3, rows, plte, bytes(alphas[:k])))
        fixtures["palette%d_trns" % d] = {"channels": 3, "values": planar(
            3, lambda c, y, x: entry(index(y, x, n))[c] / 255 * (alphas[index(y, x, n)] / 255))}

# Colour-key transparency: pixels equal to the tRNS value become transparent (0 once composited).
key8, key16 = (1, 2), (2, 3)
gray8 = [[(sample8(0, y, x),) for x in range(W)] for y in range(H)]
k = sample8(0, *key8)
open("gray8_trns.png", "wb").write(png(8, 0, gray8, trns=struct.pack(">H", k)))
fixtures["gray8_trns"] = {"channels": 1, "values": planar(1, lambda c, y, x: 0 if sample8(0, y, x) == k else sample8(0, y, x) / 255)}

gray16 = [[(sample16(0, y, x),) for x in range(W)] for y in range(H)]
k16 = sample16(0, *key16)
open("gray16_trns.png", "wb").write(png(16, 0, gray16, trns=struct.pack(">H", k16)))
fixtures["gray16_trns"] = {"channels": 1, "values": planar(1, lambda c, y, x: 0 if sample16(0, y, x) == k16 else sample16(0, y, x) / 65535)}

rgb8 = [[tuple(sample8(c, y, x) for c in range(3)) for x in range(W)] for y in range(H)]
kc = rgb8[key8[0]][key8[1]]
open("rgb8_trns.png", "wb").write(png(8, 2, rgb8, trns=struct.pack(">HHH", *kc)))
fixtures["rgb8_trns"] = {"channels": 3, "values": planar(3, lambda c, y, x: 0 if rgb8[y][x] == kc else rgb8[y][x][c] / 255)}

rgb16 = [[tuple(sample16(c, y, x) for c in range(3)) for x in range(W)] for y in range(H)]
kc16 = rgb16[key16[0]][key16[1]]
open("rgb16_trns.png", "wb").write(png(16, 2, rgb16, trns=struct.pack(">HHH", *kc16)))
fixtures["rgb16_trns"] = {"channels": 3, "values": planar(3, lambda c, y, x: 0 if rgb16[y][x] == kc16 else rgb16[y][x][c] / 65535)}

with open("expand_expected.json", "w") as f:
    json.dump({"width": W, "height": H, "fixtures": fixtures}, f, indent=0, sort_keys=True)
    f.write("\n")
