"""What the CPU can do, where a setting's speed depends on it (``agent.model.conv_dtype=bfloat16``).

bfloat16 is fast on a CPU that computes it in hardware (x86 with AVX-512 or AMX, through oneDNN)
and emulated, slowly, elsewhere: on a 2-core AMD EPYC with AVX2 only, Pong trained several times
slower with bfloat16 convolutions than without (results/throughput/). The benchmark records
:func:`describe_cpu` beside its numbers, and a run warns where bfloat16 is emulated.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

# the instruction sets a bfloat16 speed claim depends on, as /proc/cpuinfo names them
BFLOAT16_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA) below AVX512_CORE: no bfloat16 kernel but an emulated one
_CAPS_WITHOUT_BFLOAT16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2"}


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return {}
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def native_bfloat16() -> bool:
    """True where oneDNN runs bfloat16 convolutions in hardware: torch's own test of the CPU
    (``torch.ops.mkldnn._is_mkldnn_bf16_supported``, AVX-512 or better on x86), unless
    ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below it."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in _CAPS_WITHOUT_BFLOAT16:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without oneDNN
        return False


def describe_cpu() -> str:
    """One line: the CPU's model, its bfloat16-relevant instruction sets, torch's vector ISA,
    oneDNN's cap if set, and whether bfloat16 runs natively."""
    flags = set(_cpuinfo().get("flags", "").split())
    listed = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in BFLOAT16_FLAGS) if flags else "unknown"
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (
        f"cpu: {cpu_model()}, {os.cpu_count()} cores; instruction sets: {listed}; "
        f"torch {torch.__version__} vector ISA {torch.backends.cpu.get_cpu_capability()}"
        f"{f', ONEDNN_MAX_CPU_ISA={cap}' if cap else ''}; "
        f"bfloat16 {'native' if native_bfloat16() else 'emulated (no native bfloat16)'}"
    )


def bfloat16_warning(conv_dtype: str, device: str) -> str | None:
    """One line for a run that asks for bfloat16 convolutions on a CPU that emulates bfloat16, else None."""
    if conv_dtype != "bfloat16" or device != "cpu" or native_bfloat16():
        return None
    return (
        f"warning: agent.model.conv_dtype=bfloat16 is slower here, not faster: this CPU ({cpu_model()}) has no "
        'native bfloat16, so torch emulates it (results/README.md, "Speed options and the CPU"); drop it for float32'
    )
