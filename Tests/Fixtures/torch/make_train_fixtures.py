#!/usr/bin/env python3
"""PyTorch reference values for the NN training infrastructure (losses, optimizers, clipping, EMA,
LR schedule) and a Python-written safetensors file for the interop test.

Run from anywhere:  python3 Tests/Fixtures/torch/make_train_fixtures.py
Writes (next to this script):
  train_losses.safetensors   inputs, mean loss and d loss/d logits for every loss in Sources/NN/Losses.swift
  train_optim.safetensors    Adam / Adam+L2 / AdamW / SGD(momentum, wd) / SGD(nesterov) trajectories,
                             clip_grad_norm_ results, EMA sequences, LR schedule values
  train_interop.safetensors  written by safetensors.torch with metadata and F32/F64/F16/BF16/I64/I32/U8
                             tensors whose values follow closed formulas (checked in SafeTensorsTests)
Only torch, numpy and safetensors are needed; tensor values are deterministic (fixed seeds, CPU); the
order of the __metadata__ entries in the header is not (the Rust writer uses a hash map).
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.use_deterministic_algorithms(True)


def f32(t):
    return t.detach().to(torch.float32).contiguous().clone()


def losses():
    out = {}
    n, c = 7, 5
    z = torch.randn(n, c) * 3
    z[0] = torch.tensor([80.0, -80.0, 0.0, 1e-3, 40.0])  # stability: exp(80) overflows float32
    z[1] = torch.tensor([-100.0, -101.0, -99.0, -100.5, -100.0])
    y = torch.tensor([0, 1, 4, 2, 3, 3, 0])
    out["ce.logits"] = z
    out["ce.targets"] = y.to(torch.int64)

    zz = z.clone().requires_grad_(True)
    loss = F.cross_entropy(zz, y)
    loss.backward()
    out["ce.loss"] = f32(loss.reshape(1))
    out["ce.grad"] = f32(zz.grad)

    q = torch.softmax(torch.randn(n, c) * 2, dim=1)
    q[2] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])  # a one-hot row: must equal the hard-target loss row
    zz = z.clone().requires_grad_(True)
    loss = F.cross_entropy(zz, q)
    loss.backward()
    out["soft.probs"] = q
    out["soft.loss"] = f32(loss.reshape(1))
    out["soft.grad"] = f32(zz.grad)

    # focal, softmax form: -(1 - p_t)^gamma log p_t, mean over rows
    # gamma < 1: torch's autograd gives NaN where p_t rounds to 1 (d(1-p)^0.5 = inf times 0), so that
    # case uses only the rows without saturated logits (Swift returns the limit, 0, there).
    for gamma, rows in ((2.0, slice(None)), (0.5, slice(2, None))):
        key = "focal%g" % gamma
        out[key + ".logits"] = z[rows].clone()
        out[key + ".targets"] = y[rows].clone()
        zz = z[rows].clone().requires_grad_(True)
        logp = F.log_softmax(zz, dim=1).gather(1, y[rows, None]).squeeze(1)
        loss = (-(1 - logp.exp()) ** gamma * logp).mean()
        loss.backward()
        out[key + ".loss"] = f32(loss.reshape(1))
        out[key + ".grad"] = f32(zz.grad)

    # masked multi-label BCE with logits
    k = 4
    b = torch.randn(n, k) * 4
    b[0, 0], b[0, 1] = 90.0, -90.0
    t = (torch.rand(n, k) > 0.5).float()
    t[1, 2] = 0.3  # soft label
    m = (torch.rand(n, k) > 0.3).float()
    m[0, :2] = 1.0
    bb = b.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(bb, t, weight=m, reduction="sum") / m.sum()
    loss.backward()
    out["bce.logits"], out["bce.targets"], out["bce.mask"] = b, t, m
    out["bce.loss"] = f32(loss.reshape(1))
    out["bce.grad"] = f32(bb.grad)
    bb = b.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(bb, t)
    loss.backward()
    out["bce_nomask.loss"] = f32(loss.reshape(1))
    out["bce_nomask.grad"] = f32(bb.grad)

    # sigmoid focal loss: torchvision.ops.sigmoid_focal_loss's formula (torchvision is not installed here,
    # so it is restated) with a mask: sum(loss * mask) / sum(mask)
    for gamma, alpha in ((2.0, 0.25), (1.5, -1.0)):
        key = "sfocal_g%g_a%g" % (gamma, alpha)
        bb = b.clone().requires_grad_(True)
        p = torch.sigmoid(bb)
        ce = F.binary_cross_entropy_with_logits(bb, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * ((1 - p_t) ** gamma)
        if alpha >= 0:
            loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
        loss = (loss * m).sum() / m.sum()
        loss.backward()
        out[key + ".loss"] = f32(loss.reshape(1))
        out[key + ".grad"] = f32(bb.grad)

    # MSE
    p = torch.randn(3, 2, 4)
    tg = torch.randn(3, 2, 4)
    pp = p.clone().requires_grad_(True)
    loss = F.mse_loss(pp, tg)
    loss.backward()
    out["mse.pred"], out["mse.target"] = p, tg
    out["mse.loss"] = f32(loss.reshape(1))
    out["mse.grad"] = f32(pp.grad)

    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "train_losses.safetensors"),
              metadata={"generator": "make_train_fixtures.py", "torch": torch.__version__})


def optim():
    out = {}
    steps = 4
    shapes = {"a": (3, 4), "b": (5,)}
    init = {k: torch.randn(*s) for k, s in shapes.items()}
    grads = {k: torch.randn(steps, *s) for k, s in shapes.items()}
    grads["b"][1, 0] = 0.0  # a zero gradient entry
    lrs = [0.01, 0.01, 0.005, 0.02]  # the Swift side sets learningRate before each step
    for k in shapes:
        out["init." + k] = init[k]
        out["grads." + k] = grads[k]
    out["lrs"] = torch.tensor(lrs)

    configs = {
        "adam": lambda ps: torch.optim.Adam(ps, lr=lrs[0], betas=(0.9, 0.999), eps=1e-8),
        "adam_l2": lambda ps: torch.optim.Adam(ps, lr=lrs[0], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=lrs[0], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
        "sgd": lambda ps: torch.optim.SGD(ps, lr=lrs[0], momentum=0.9, weight_decay=0.01),
        "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=lrs[0], momentum=0.5, nesterov=True),
        "sgd_plain": lambda ps: torch.optim.SGD(ps, lr=lrs[0]),
    }
    for name, make in configs.items():
        params = {k: torch.nn.Parameter(init[k].clone()) for k in shapes}
        opt = make(list(params.values()))
        for s in range(steps):
            for g in opt.param_groups:
                g["lr"] = lrs[s]
            for k, p in params.items():
                p.grad = grads[k][s].clone()
            opt.step()
            for k, p in params.items():
                out["%s.step%d.%s" % (name, s + 1, k)] = f32(p)
        for k, p in params.items():
            st = opt.state[p]
            if "exp_avg" in st:
                out["%s.state.%s.exp_avg" % (name, k)] = f32(st["exp_avg"])
                out["%s.state.%s.exp_avg_sq" % (name, k)] = f32(st["exp_avg_sq"])
            if st.get("momentum_buffer") is not None:
                out["%s.state.%s.momentum" % (name, k)] = f32(st["momentum_buffer"])

    # clip_grad_norm_: one case that clips, one that does not
    for case, max_norm in (("clip", 1.5), ("noclip", 100.0)):
        ps = [torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(5))]
        ps[0].grad = grads["a"][0].clone() * 2
        ps[1].grad = grads["b"][0].clone() * 2
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        out[case + ".max_norm"] = torch.tensor([max_norm])
        out[case + ".norm"] = f32(norm.reshape(1))
        out[case + ".grad.a"] = f32(ps[0].grad)
        out[case + ".grad.b"] = f32(ps[1].grad)

    # EMA: e <- d*e + (1-d)*p over a sequence of parameter values, with and without warm-up
    seq = torch.randn(6, 3, 4)
    out["ema.seq"] = seq
    for warm in (False, True):
        e = seq[0].clone()  # the EMA starts at the initial weights
        res = []
        for t in range(1, 6):
            d = 0.9
            if warm:
                d = min(d, (1 + (t - 1)) / (10 + (t - 1)))
            e.mul_(d).add_(seq[t], alpha=1 - d)
            res.append(e.clone())
        out["ema.%s" % ("warm" if warm else "plain")] = torch.stack(res)

    # LR schedule: linear warm-up (step+1)/W then cosine to a floor (closed form, float64 then float32)
    peak, warm, total, floor = 2e-4, 5, 25, 1e-5
    vals = []
    for s in range(30):
        if s < warm:
            v = peak * (s + 1) / warm
        else:
            prog = min(1.0, (s - warm) / (total - warm))
            v = floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * prog))
        vals.append(v)
    out["sched.values"] = torch.tensor(vals, dtype=torch.float32)
    out["sched.config"] = torch.tensor([peak, warm, total, floor], dtype=torch.float64)

    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "train_optim.safetensors"),
              metadata={"generator": "make_train_fixtures.py", "torch": torch.__version__})


def interop():
    """Values are closed formulas of the index so the Swift test can recompute them independently."""
    i6 = torch.arange(6)
    t = {
        "f32": (i6.to(torch.float32) * 0.5 - 1.25).reshape(2, 3),
        "f64": (i6.to(torch.float64) / 3.0).reshape(3, 2),
        "f16": (i6.to(torch.float16) * 0.25 - 0.5),
        "bf16": (i6.to(torch.bfloat16) * 2 - 3).reshape(1, 6),
        "i64": (i6.to(torch.int64) * 1000 - 2500).reshape(6, 1),
        "i32": (i6.to(torch.int32) - 3),
        "u8": (i6.to(torch.uint8) * 50),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "nested.name.weight": torch.ones(2, 2, 2),
    }
    save_file(t, os.path.join(HERE, "train_interop.safetensors"),
              metadata={"format": "pt", "note": "written by safetensors.torch", "unicode": "ünïcødé ✓"})


if __name__ == "__main__":
    losses()
    optim()
    interop()
    for f in ("train_losses", "train_optim", "train_interop"):
        p = os.path.join(HERE, f + ".safetensors")
        print(f, os.path.getsize(p), "bytes")
