"""Whether this machine computes bf16 natively, and the `auto` precisions that follow from it.

A CPU without AVX-512 (or AMX) has no oneDNN bf16 matmul: torch runs bf16 matmuls on a scalar
fallback, measured 40-140x slower than fp32 for a forward and backward of the testbed's and
SmolLM2's layer shapes on an AVX2 CPU, where a CPU with avx512_bf16 ran the testbed base about
twice as fast in bf16-mixed as in fp32. So a recipe that wants bf16 for speed asks for
`auto-mixed` (train.precision) or `auto` (eval.dtype, search.dtype), which take bf16 only where it
is native; an explicit bf16 stays bf16, with a warning where it is not native.
"""
from __future__ import annotations

import torch

BF16_VALUES = ("bf16", "bf16-mixed", "bfloat16")


def bf16_is_native() -> bool:
    """bf16 matmuls run on a native kernel here: a CUDA GPU with bf16, or a CPU oneDNN takes bf16 on
    (AVX-512 or AMX)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is not None:
        return bool(check())
    return torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "AVX2")


def _why_not_native() -> str:
    if torch.cuda.is_available():
        return "this GPU has no bf16"
    return (f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16 matmul (AVX-512 or AMX) "
            "and bf16 runs on torch's slow fallback")


def resolve_precision(precision: str) -> str:
    """train.precision as it runs here: `auto-mixed` is bf16-mixed where bf16 is native, else fp32."""
    if precision == "auto-mixed":
        return "bf16-mixed" if bf16_is_native() else "fp32"
    return precision


def resolve_dtype(dtype: str) -> str:
    """eval.dtype / search.dtype as it runs here: `auto` is bfloat16 where bf16 is native, else float32."""
    if dtype == "auto":
        return "bfloat16" if bf16_is_native() else "float32"
    return dtype


def precision_notice(setting: str, value: str) -> str | None:
    """One line for the log where `setting` = `value` falls back to fp32 here, or asks for a bf16 that
    is not native here; None where it runs as written."""
    if bf16_is_native():
        return None
    resolved = resolve_precision(value) if setting == "train.precision" else resolve_dtype(value)
    if resolved != value:  # an auto value, fallen back to fp32 (train.precision auto resolves elsewhere)
        return f"[precision] {setting} = {value!r}: {resolved} here, as {_why_not_native()}"
    if value in BF16_VALUES:
        alternative = "auto-mixed" if setting == "train.precision" else "auto"
        return (f"[precision] warning: {setting} = {value!r}, but {_why_not_native()}, many times slower than "
                f"fp32; {alternative!r} takes bf16 only where it is native")
    return None
