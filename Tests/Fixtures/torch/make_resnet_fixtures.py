#!/usr/bin/env python3
"""PyTorch reference values for fairgen's BatchNorm2d, pooling layers and ResNet-18 (Swift parity tests).

Run from anywhere:  python3 Tests/Fixtures/torch/make_resnet_fixtures.py
Writes next to this script:
  resnet_bn.safetensors     BatchNorm2d train/eval forward+backward, running stats after a step, fused ReLU
  resnet_pool.safetensors   avg_pool2d k2/k3, global average pool, max_pool2d(3, 2, 1): outputs + input grads
  resnet_small.safetensors  ResNet-18 layout (torch_reference.ResNet18 blocks) at widths 4/8/16/32, CIFAR stem,
                            batch 4 at 32x32, 7 classes: initial state_dict, input, labels, train-mode logits,
                            cross-entropy loss, every parameter gradient, running stats after the step, eval logits
  resnet_imagenet.safetensors  the same at 72x72, widths 4/8/8/16 (ImageNet stem: conv7x7 s2 p3, BN, ReLU, maxpool 3/2/1), batch 2
  resnet34_small.safetensors   ResNet-34 layout (BasicBlocks 3/4/6/3) at widths 4/8/8/16, CIFAR stem, batch 4 at 32x32
  resnet50_small.safetensors   ResNet-50 layout (torchvision v1.5 Bottleneck 3/4/6/3, expansion 4) at widths 2/4/4/8,
                               CIFAR stem, batch 4 at 32x32, computed in float64 (stored as float32): at this
                               depth PyTorch's own float32 gradients are off the float64 ones by more than the
                               usual tolerance; metadata torch32_grad_worst records by how much
Probe losses: Σ out·g with a stored direction g, so backward(g) is the gradient to compare.
"""
import os, sys
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, "/work/shared/bench")
from torch_reference import Basic  # the exact BasicBlock of the benchmark reference

def c(t): return t.detach().float().contiguous().clone()

class Bottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3x3) under fairgen's names: c1/b1, c2/b2, c3/b3, sc."""
    def __init__(s, ci, width, stride):
        super().__init__()
        co = width * 4
        s.c1 = nn.Conv2d(ci, width, 1, 1, 0, bias=False); s.b1 = nn.BatchNorm2d(width)
        s.c2 = nn.Conv2d(width, width, 3, stride, 1, bias=False); s.b2 = nn.BatchNorm2d(width)
        s.c3 = nn.Conv2d(width, co, 1, 1, 0, bias=False); s.b3 = nn.BatchNorm2d(co)
        s.sc = (nn.Sequential(nn.Conv2d(ci, co, 1, stride, 0, bias=False), nn.BatchNorm2d(co))
                if stride != 1 or ci != co else nn.Identity())
    def forward(s, x):
        h = F.relu(s.b1(s.c1(x))); h = F.relu(s.b2(s.c2(h))); h = s.b3(s.c3(h))
        return F.relu(h + s.sc(x))

class ResNetW(nn.Module):
    """torch_reference.ResNet18 with configurable widths and the stem switch fairgen uses (>64 px: ImageNet)."""
    def __init__(s, nc, widths, res, blocks=(2, 2, 2, 2), bottleneck=False):
        super().__init__()
        w0 = widths[0]
        if res > 64:
            s.stem = nn.Sequential(nn.Conv2d(3, w0, 7, 2, 3, bias=False), nn.BatchNorm2d(w0), nn.ReLU(),
                                   nn.MaxPool2d(3, 2, 1))
        else:
            s.stem = nn.Sequential(nn.Conv2d(3, w0, 3, 1, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU())
        L = []; ci = w0
        for i, co in enumerate(widths):
            for j in range(blocks[i]):
                stride = 2 if (j == 0 and i > 0) else 1
                if bottleneck: L.append(Bottleneck(ci, co, stride)); ci = co * 4
                else: L.append(Basic(ci, co, stride)); ci = co
        s.layers = nn.Sequential(*L); s.fc = nn.Linear(ci, nc)
    def forward(s, x): return s.fc(F.adaptive_avg_pool2d(s.layers(s.stem(x)), 1).flatten(1))

def bn_fixture():
    torch.manual_seed(1)
    out = {}
    x = torch.randn(4, 3, 5, 5) * 2 + 0.5
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(3)); bn.bias.copy_(torch.randn(3))
        bn.running_mean.copy_(torch.randn(3)); bn.running_var.copy_(torch.rand(3) + 0.5)
    bn.num_batches_tracked.fill_(5)
    out.update(x=x, weight=c(bn.weight), bias=c(bn.bias), running_mean0=c(bn.running_mean),
               running_var0=c(bn.running_var), g=torch.randn(4, 3, 5, 5))
    for relu in (False, True):
        tag = "_relu" if relu else ""
        m = nn.BatchNorm2d(3); m.load_state_dict(bn.state_dict())
        xi = x.clone().requires_grad_(True)
        m.train(); y = m(xi); y = F.relu(y) if relu else y
        (y * out["g"]).sum().backward()
        out["y_train" + tag] = c(y); out["dx_train" + tag] = c(xi.grad)
        out["dweight_train" + tag] = c(m.weight.grad); out["dbias_train" + tag] = c(m.bias.grad)
        if not relu:
            out["running_mean1"] = c(m.running_mean); out["running_var1"] = c(m.running_var)
            out["num_batches_tracked1"] = torch.tensor(float(m.num_batches_tracked))
        m.eval(); m.zero_grad()
        xe = x.clone().requires_grad_(True)
        y = m(xe); y = F.relu(y) if relu else y
        (y * out["g"]).sum().backward()
        out["y_eval" + tag] = c(y); out["dx_eval" + tag] = c(xe.grad)
        out["dweight_eval" + tag] = c(m.weight.grad); out["dbias_eval" + tag] = c(m.bias.grad)
    save_file(out, os.path.join(HERE, "resnet_bn.safetensors"))

def pool_fixture():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 9, 9)
    out = {"x": x}
    for name, fn in [("avg2", lambda t: F.avg_pool2d(t, 2)), ("avg3", lambda t: F.avg_pool2d(t, 3)),
                     ("global", lambda t: F.adaptive_avg_pool2d(t, 1).flatten(1)),
                     ("max", lambda t: F.max_pool2d(t, 3, 2, 1))]:
        xi = x.clone().requires_grad_(True)
        y = fn(xi); g = torch.randn_like(y)
        (y * g).sum().backward()
        out["y_" + name] = c(y); out["g_" + name] = g; out["dx_" + name] = c(xi.grad)
    save_file(out, os.path.join(HERE, "resnet_pool.safetensors"))

def resnet_fixture(fname, res, batch, seed, widths, blocks=(2, 2, 2, 2), bottleneck=False, float64=False):
    torch.manual_seed(seed)
    m = ResNetW(7, widths, res, blocks, bottleneck)
    # Non-trivial BN affine parameters so the test sees them act.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
    out = {"init." + k: c(v) for k, v in m.state_dict().items()}
    x = torch.randn(batch, 3, res, res); y = torch.randint(0, 7, (batch,))
    out["x"] = x; out["labels"] = y.float()
    meta = {}
    if float64:
        import copy
        m32 = copy.deepcopy(m); m32.train()
        F.cross_entropy(m32(x), y).backward()
        g32 = {k: p.grad.double() for k, p in m32.named_parameters()}
        m = m.double(); x = x.double()
    m.train()
    logits = m(x); loss = F.cross_entropy(logits, y); loss.backward()
    if float64:
        worst = max(((g32[k] - p.grad).abs() / (1e-5 + 1e-4 * p.grad.abs())).max().item() for k, p in m.named_parameters())
        meta["torch32_grad_worst"] = "%.3f" % worst
    out["logits_train"] = c(logits); out["loss"] = torch.tensor(float(loss.detach()))
    for k, p in m.named_parameters(): out["grad." + k] = c(p.grad)
    for k, v in m.state_dict().items():
        if "running" in k or "num_batches" in k: out["after." + k] = c(v)
    m.eval()
    with torch.no_grad(): out["logits_eval"] = c(m(x))
    out["features_eval"] = c(F.adaptive_avg_pool2d(m.layers(m.stem(x)), 1).flatten(1).detach())
    # safetensors sorts keys; the state_dict order travels in the metadata.
    meta["state_dict_order"] = ",".join(m.state_dict().keys())
    save_file(out, os.path.join(HERE, fname), metadata=meta)
    print(fname, "params", sum(p.numel() for p in m.parameters()))

if __name__ == "__main__":
    bn_fixture(); pool_fixture()
    resnet_fixture("resnet_small.safetensors", 32, 4, 3, [4, 8, 16, 32])
    resnet_fixture("resnet_imagenet.safetensors", 72, 2, 4, [4, 8, 8, 16])
    resnet_fixture("resnet34_small.safetensors", 32, 4, 5, [4, 8, 8, 16], blocks=(3, 4, 6, 3))
    resnet_fixture("resnet50_small.safetensors", 32, 4, 6, [2, 4, 4, 8], blocks=(3, 4, 6, 3), bottleneck=True, float64=True)
    print("ResNet-50 (torchvision layout) params, 1000 / 2 classes:",
          *(sum(p.numel() for p in ResNetW(n, [64, 128, 256, 512], 224, (3, 4, 6, 3), True).parameters()) for n in (1000, 2)))
    from torch_reference import ResNet18
    print("ResNet18(7) params", sum(p.numel() for p in ResNet18(7).parameters()))
