#!/usr/bin/env python3
"""PyTorch parity fixtures for the Winograd F(2×2, 3×3) path of fairgen's Conv2d (3×3, stride 1, pad 1).

Run from anywhere:  python3 Tests/Fixtures/torch/make_winograd_fixtures.py
Writes small .safetensors files next to this script, in the key layout of make_engine_fixtures.py:
"x" (input), "g" (upstream gradient dL/dy), "y", "dx", "p.weight", "p.bias", "grad.weight", "grad.bias".
Weights and inputs are drawn in float32, forward/backward run in float64, everything is stored as float32.
The sizes cover odd and even H and W (a partial last tile in either direction) and 1-pixel-wide images,
where every tile is partial and most of each 4×4 input patch is padding.
"""
import json, os, struct
import torch, torch.nn as nn

OUT = os.path.dirname(os.path.abspath(__file__))


def save_file(tensors, path):
    """A float32 safetensors file (8-byte little-endian header length, JSON header padded with spaces to a
    multiple of 8, raw little-endian data) without the safetensors package, which this machine lacks."""
    header, blobs, offset = {}, [], 0
    for k in sorted(tensors):
        data = tensors[k].numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data); offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text))); f.write(text)
        for b in blobs: f.write(b)

# name: (N, Cin, H, W, Cout)
CASES = {
    "conv3x3_winograd": (2, 5, 7, 6, 4),
    "conv3x3_winograd_h1": (1, 3, 1, 5, 2),
    "conv3x3_winograd_w1": (3, 2, 4, 1, 3),
}


def main():
    torch.manual_seed(2026)
    for name, (n, cin, h, w, cout) in CASES.items():
        conv = nn.Conv2d(cin, cout, 3, stride=1, padding=1).double()
        x = torch.randn(n, cin, h, w).double().requires_grad_(True)
        y = conv(x)
        g = torch.randn(y.shape, dtype=torch.float32).double()
        (y * g).sum().backward()
        t = {"x": x, "g": g, "y": y, "dx": x.grad,
             "p.weight": conv.weight, "p.bias": conv.bias,
             "grad.weight": conv.weight.grad, "grad.bias": conv.bias.grad}
        path = os.path.join(OUT, name + ".safetensors")
        save_file({k: v.detach().to(torch.float32).contiguous() for k, v in t.items()}, path)
        print(f"{name}: x {list(x.shape)} → y {list(y.shape)}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
