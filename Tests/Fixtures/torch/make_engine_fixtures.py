#!/usr/bin/env python3
"""PyTorch parity fixtures for fairgen's engine layers and the conditional UNet.

Run from anywhere:  python3 Tests/Fixtures/torch/make_engine_fixtures.py
Writes small .safetensors files next to this script. Modules are the reference classes of
/work/shared/bench/torch_reference.py (imported, not copied); small fixtures shrink GroupNorm to fewer
groups by rebinding its `gn` helper, and the UNet fixture swaps in a 6-channel conv_in (the cascaded
upsampler's input) — both are exactly what fairgen's UNetConfig(groups:, inChannels:) build.
Weights and inputs are drawn in float32, the forward/backward runs in float64 (so the reference carries
no float32 rounding of its own), and every tensor is stored as float32.

Keys per file: "x" (input), "g" (upstream gradient dL/dy), "y" (output), "dx" (input gradient),
"p.<name>" (parameter values), "grad.<name>" (parameter gradients); extra inputs are named in place.
"""
import math, os, sys
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, "/work/shared/bench")
import torch_reference as R  # noqa: E402

OUT = os.path.dirname(os.path.abspath(__file__))


def save(name, tensors, metadata=None):
    path = os.path.join(OUT, name + ".safetensors")
    save_file({k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}, path, metadata=metadata)
    size = os.path.getsize(path)
    assert size < 300_000, f"{name}: {size} bytes"
    print(f"{name}: {len(tensors)} tensors, {size} bytes")


def layer_fixture(name, module, x, extra_params=True):
    module = module.double()
    x = x.double().requires_grad_(True)
    y = module(x)
    g = torch.randn(y.shape, dtype=torch.float32).double()
    (y * g).sum().backward()
    t = {"x": x, "g": g, "y": y, "dx": x.grad}
    for n, p in module.named_parameters():
        t["p." + n] = p
        t["grad." + n] = p.grad
    save(name, t)


class Fn(nn.Module):
    def __init__(s, f):
        super().__init__(); s.f = f
    def forward(s, x): return s.f(x)


def main():
    torch.manual_seed(1234)
    layer_fixture("conv3x3", nn.Conv2d(5, 6, 3, padding=1), torch.randn(2, 5, 7, 6))
    layer_fixture("conv3x3_stride2", nn.Conv2d(4, 6, 3, stride=2, padding=1), torch.randn(3, 4, 9, 8))
    layer_fixture("conv1x1", nn.Conv2d(7, 5, 1), torch.randn(2, 7, 5, 5))
    layer_fixture("linear", nn.Linear(10, 12), torch.randn(4, 10))
    gnm = nn.GroupNorm(4, 12, eps=1e-5)
    with torch.no_grad():  # non-trivial affine parameters
        gnm.weight.copy_(1 + 0.3 * torch.randn(12)); gnm.bias.copy_(0.2 * torch.randn(12))
    layer_fixture("groupnorm", gnm, torch.randn(3, 12, 5, 4) * 2 + 0.5)
    layer_fixture("silu", Fn(F.silu), torch.randn(2, 3, 4, 5) * 3)
    layer_fixture("upsample", Fn(lambda x: F.interpolate(x, scale_factor=2, mode="nearest")), torch.randn(2, 3, 3, 4))
    attn = R.Attn(32, heads=4)
    with torch.no_grad():  # larger logits so the softmax is far from uniform
        attn.qkv.weight.mul_(4.0)
    layer_fixture("attn_block", attn, torch.randn(2, 32, 4, 3))

    # Channel concat: y = cat([a, b], 1); inputs "a", "b", gradients "da", "db".
    a = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 5, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.cat([a, b], 1); g = torch.randn(y.shape, dtype=torch.float64)
    (y * g).sum().backward()
    save("concat", {"a": a, "b": b, "g": g, "y": y, "da": a.grad, "db": b.grad})

    # Sinusoidal timestep embedding: float32 forward exactly as the reference UNet.temb.
    unet_for_temb = R.UNet(16, ch=32, mults=(1,), nrb=1, attn_res=())
    t = torch.tensor([0, 1, 7, 250, 500, 999, 31, 640])
    save("temb", {"t": t.float(), "y": unet_for_temb.temb(t)})

    # ResBlock with an embedding input and a 1×1 skip; GroupNorm shrunk to 4 groups.
    R.gn = lambda c: nn.GroupNorm(4, c, eps=1e-5)
    rb = R.ResBlock(8, 12, tdim=16).double()
    x = torch.randn(2, 8, 6, 6).double().requires_grad_(True)
    emb = torch.randn(2, 16).double().requires_grad_(True)
    y = rb(x, emb); g = torch.randn(y.shape).double()
    (y * g).sum().backward()
    t = {"x": x, "emb": emb, "g": g, "y": y, "dx": x.grad, "demb": emb.grad}
    for n, p in rb.named_parameters():
        t["p." + n] = p; t["grad." + n] = p.grad
    save("resblock", t)

    # Whole UNet, small: ch 8, mults (1,2), 2 res blocks, attention at 8×8 (4 heads), cond 10,
    # 6 input channels (cascade), 3 output channels, 16×16, GroupNorm with 4 groups, batch 2.
    unet = R.UNet(16, ch=8, mults=(1, 2), nrb=2, attn_res=(8,), cond_dim=10)
    unet.conv_in = nn.Conv2d(6, 8, 3, padding=1)
    unet = unet.double()
    temb32 = unet.temb  # the sinusoid stays float32, as in the reference; the network runs in float64
    unet.temb = lambda t: temb32(t).double()
    x = torch.randn(2, 6, 16, 16).double()
    tt = torch.tensor([37, 812])
    cond = F.one_hot(torch.tensor([3, 7]), 10).double()
    cond[1] = 0  # one unconditional sample
    y = unet(x, tt, cond); g = torch.randn(y.shape).double()
    (y * g).sum().backward()
    w = {"x": x, "t": tt.double(), "cond": cond, "g": g}
    gr = {"y": y}
    for n, p in unet.named_parameters():
        w["p." + n] = p; gr["grad." + n] = p.grad
    # safetensors sorts tensors in the file, so named_parameters() order travels in the metadata.
    save("unet_small_weights", w, {"param_order": ",".join(n for n, _ in unet.named_parameters())})
    save("unet_small_grads", gr)


if __name__ == "__main__":
    main()
