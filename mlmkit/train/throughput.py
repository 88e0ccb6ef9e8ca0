"""Model FLOPs utilisation (MFU): the share of the device's dense bf16 peak that training uses.

MFU = model FLOPs per token x tokens per second / (peak FLOP/s x processes) (Chowdhery et al. 2022, PaLM
App. B; nanoGPT's `estimate_mfu`). The FLOPs per token are counted once, on the first batch, by
`torch.utils.flop_counter.FlopCounterMode` over the first step's forward and backward, run eagerly, so
they are those of the step that really runs (the sparse head's smaller projection, late-mask's shorter
encoder) rather than the 6N rule of thumb; with a masking schedule they are the first batch's. Attention
kernels that FlopCounterMode has no formula for (SDPA on a CPU, for one) are not counted, which
understates MFU by the attention's share (a few percent at length 128, more at 512).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, in TFLOP/s; the first name that
# the device's name contains wins, so the more specific names come first.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200 NVL", 835.0),
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("A100", 312.0),
)


def peak_tflops_of(device_name: str) -> float | None:
    """The dense bf16 peak in TFLOP/s of a device called `device_name` ("NVIDIA H100 80GB HBM3"), None if not in PEAK_TFLOPS."""
    name = device_name.lower()
    return next((peak for part, peak in PEAK_TFLOPS if part.lower() in name), None)


def device_peak_tflops(device: torch.device, override: float | None = None) -> float | None:
    """The dense bf16 peak of `device` in TFLOP/s: `override` (train.peak_tflops), else PEAK_TFLOPS by the
    CUDA device's name; None for a CPU or an unknown device."""
    if override is not None:
        return override
    return peak_tflops_of(torch.cuda.get_device_name(device)) if device.type == "cuda" else None


@contextlib.contextmanager
def counting_flops() -> Iterator[Any]:
    """Meanwhile, count the FLOPs of what runs (a `FlopCounterMode`, yielded), eagerly: the mode sees the
    operators PyTorch dispatches, which a compiled graph's fused kernels are not, so a compiled core runs
    uncompiled while counting."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.compiler.set_stance("force_eager"), FlopCounterMode(display=False) as counter:
        yield counter


def model_flops_utilisation(flops_per_token: float | None, tokens_per_s: float, peak_tflops: float | None, processes: int) -> float | None:
    """MFU in [0, 1] (None without FLOPs or a peak): flops_per_token x tokens_per_s (all processes) over
    peak_tflops x processes."""
    if flops_per_token is None or peak_tflops is None:
        return None
    return flops_per_token * tokens_per_s / (peak_tflops * 1e12 * processes)


@contextlib.contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """Meanwhile (when `enabled`), fp32 matmuls run on TF32 tensor cores (Ampere and later): the parts of a
    step that autocast leaves in fp32. The previous setting comes back afterwards."""
    previous = torch.get_float32_matmul_precision()
    if enabled:
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
