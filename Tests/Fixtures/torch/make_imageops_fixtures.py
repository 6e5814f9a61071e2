"""Parity fixtures for Sources/Tensors/ImageOps.swift.

Run from the repository root:  python3 Tests/Fixtures/torch/make_imageops_fixtures.py
Writes Tests/Fixtures/torch/imageops.safetensors (a few KB).

- resize_<h>x<w>_<aa|plain>: torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear",
  align_corners=False, antialias=<aa>) of the input `x` [2, 3, 13, 17].
- blur_k<k>_s<sigma>: torchvision.transforms.functional.gaussian_blur(x, [k, k], [sigma, sigma]).
  torchvision is not installed here, so its documented algorithm is written out below
  (_get_gaussian_kernel1d + reflect padding + depthwise conv2d with the outer-product kernel).
"""
import os
import torch
import torch.nn.functional as F
from safetensors.torch import save_file


def gaussian_kernel1d(k: int, sigma: float) -> torch.Tensor:
    half = (k - 1) * 0.5
    x = torch.linspace(-half, half, steps=k)
    pdf = torch.exp(-0.5 * (x / sigma).pow(2))
    return pdf / pdf.sum()


def torchvision_gaussian_blur(img: torch.Tensor, k: int, sigma: float) -> torch.Tensor:
    k1 = gaussian_kernel1d(k, sigma)
    k2 = torch.mm(k1[:, None], k1[None, :])  # kernel_y ⊗ kernel_x
    c = img.shape[-3]
    weight = k2.expand(c, 1, k, k)
    pad = [k // 2, k // 2, k // 2, k // 2]
    padded = F.pad(img, pad, mode="reflect")
    return F.conv2d(padded, weight, groups=c)


def main() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 13, 17, dtype=torch.float32)
    out = {"x": x}
    for (h, w) in [(5, 7), (24, 31), (20, 6), (13, 4), (3, 17)]:
        for aa in (False, True):
            y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=aa)
            out[f"resize_{h}x{w}_{'aa' if aa else 'plain'}"] = y.contiguous()
    for (k, s) in [(7, 0.2), (7, 1.5), (5, 3.0), (3, 0.8)]:
        out[f"blur_k{k}_s{s}"] = torchvision_gaussian_blur(x, k, s).contiguous()
    here = os.path.dirname(os.path.abspath(__file__))
    save_file(out, os.path.join(here, "imageops.safetensors"), metadata={"torch": torch.__version__})


if __name__ == "__main__":
    main()
