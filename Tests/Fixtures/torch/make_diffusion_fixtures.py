"""Reference noise schedules for Sources/Diffusion/NoiseSchedule.swift.

Run from the repository root:  python3 Tests/Fixtures/torch/make_diffusion_fixtures.py
Writes Tests/Fixtures/torch/diffusion_schedule.safetensors (float64, ~100 KB): for T = 1000, the cosine
schedule (Nichol & Dhariwal 2021, improved-diffusion's betas_for_alpha_bar with s = 0.008, max_beta 0.999)
and the linear one (1e-4 → 0.02), each with ᾱ and the posterior coefficients exactly as improved-diffusion's
GaussianDiffusion computes them (numpy float64).
"""
import math
import os
import numpy as np
from safetensors.numpy import save_file


def cosine_betas(T, s=0.008, max_beta=0.999):
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)], dtype=np.float64)


def linear_betas(T):
    scale = 1000 / T
    return np.linspace(scale * 1e-4, scale * 0.02, T, dtype=np.float64)


def coefficients(betas):
    alphas = 1.0 - betas
    ab = np.cumprod(alphas, axis=0)
    ab_prev = np.append(1.0, ab[:-1])
    return {
        "betas": betas,
        "alpha_bar": ab,
        "posterior_variance": betas * (1.0 - ab_prev) / (1.0 - ab),
        "posterior_mean_coef1": betas * np.sqrt(ab_prev) / (1.0 - ab),
        "posterior_mean_coef2": (1.0 - ab_prev) * np.sqrt(alphas) / (1.0 - ab),
    }


def main():
    out = {}
    for name, betas in [("cosine", cosine_betas(1000)), ("linear", linear_betas(1000)), ("linear100", linear_betas(100))]:
        for k, v in coefficients(betas).items():
            out[f"{name}.{k}"] = np.ascontiguousarray(v)
    here = os.path.dirname(os.path.abspath(__file__))
    save_file(out, os.path.join(here, "diffusion_schedule.safetensors"), metadata={"numpy": np.__version__})


if __name__ == "__main__":
    main()
