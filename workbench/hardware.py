"""Hardware probes, all in one place: what this CPU and GPU compute natively, and how many cores a run may use.

Each probe is a small function that reads one source (Linux's cpuinfo, the scheduler's CPU affinity,
``torch.cuda``), so tests can simulate either answer on any machine by patching the probe or feeding
it a fake cpuinfo. Decisions that depend on the hardware (bf16 training, how many threads to time
with) call these functions and nothing else.

>>> cpu_has_native_bf16({"avx2", "fma"}), cpu_has_native_bf16({"avx512f", "avx512_bf16"})
(False, True)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_fields(cpuinfo: str | os.PathLike = CPUINFO) -> dict[str, str]:
    """The ``key: value`` fields of the first processor block of a Linux cpuinfo file.

    The first block describes every core on the machines we target. An unreadable file (another OS, a
    sandbox) gives an empty dict, so callers see "no flags" rather than an error.

    Examples
    --------
    >>> cpu_fields("/no/such/cpuinfo")
    {}
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(cpuinfo: str | os.PathLike = CPUINFO) -> frozenset[str]:
    """The instruction-set flags of the CPU (empty when cpuinfo cannot be read).

    Examples
    --------
    >>> _ = Path("cpuinfo").write_text("processor : 0\\nflags : fpu avx2 fma\\n\\nprocessor : 1\\n")
    >>> sorted(cpu_flags("cpuinfo"))
    ['avx2', 'fma', 'fpu']
    """
    return frozenset(cpu_fields(cpuinfo).get("flags", "").split())


def cpu_has_native_bf16(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AMX-BF16 or AVX512-BF16); elsewhere bf16 is emulated, and slow.

    Parameters
    ----------
    flags : iterable of str, optional
        CPU flags; default: this machine's (:func:`cpu_flags`).

    Examples
    --------
    >>> cpu_has_native_bf16({"avx2", "fma"}), cpu_has_native_bf16({"amx_bf16"})
    (False, True)
    """
    flags = cpu_flags() if flags is None else set(flags)
    return bool({"amx_bf16", "avx512_bf16"} & flags)


def cpu_has_avx512(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU has AVX-512 (its foundation set, ``avx512f``).

    Examples
    --------
    >>> cpu_has_avx512({"avx2"}), cpu_has_avx512({"avx2", "avx512f"})
    (False, True)
    """
    flags = cpu_flags() if flags is None else set(flags)
    return "avx512f" in flags


def cpu_has_vnni(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU has VNNI int8 dot products (AVX512-VNNI or AVX-VNNI), where int8 inference pays off most.

    Examples
    --------
    >>> cpu_has_vnni({"avx2", "avx512f"}), cpu_has_vnni({"avx_vnni"})
    (False, True)
    """
    flags = cpu_flags() if flags is None else set(flags)
    return bool({"avx512_vnni", "avx_vnni"} & flags)


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU.

    Examples
    --------
    >>> isinstance(cuda_available(), bool)
    True
    """
    import torch

    return bool(torch.cuda.is_available())


def cuda_bf16_available() -> bool:
    """Whether torch sees a CUDA GPU that computes bf16 (Ampere or later).

    Examples
    --------
    >>> cuda_bf16_available() <= cuda_available()
    True
    """
    import torch

    return cuda_available() and bool(torch.cuda.is_bf16_supported())


def usable_cores() -> int:
    """Cores this process may run on: container and ``taskset`` limits included, which ``os.cpu_count`` misses.

    Examples
    --------
    >>> 1 <= usable_cores() <= (os.cpu_count() or 1)
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def model_device(model):
    """Where a torch model's weights are (its first parameter's or buffer's device): its inputs go there.

    On a CUDA machine a fine-tuned model lives on the GPU, so tensors built on the CPU (a tokenizer's
    output, ``torch.from_numpy``) must follow it. A model without tensors runs on the CPU.

    Examples
    --------
    >>> import torch
    >>> str(model_device(torch.nn.Linear(2, 2))), str(model_device(torch.nn.Linear(2, 2, device="meta")))
    ('cpu', 'meta')
    """
    import torch

    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def onnxruntime_providers(available: Iterable[str] | None = None) -> list[str]:
    """ONNX Runtime execution providers to run sessions with: CUDA first where this build has it, CPU always.

    ONNX Runtime places every node on the first listed provider that implements it, so the CPU provider
    is the fallback for nodes CUDA lacks (some int8 kernels) and the only one on CPU-only builds.

    Parameters
    ----------
    available : iterable of str, optional
        Providers the build offers; default: ``onnxruntime.get_available_providers()``.

    Examples
    --------
    >>> onnxruntime_providers(["CPUExecutionProvider"])
    ['CPUExecutionProvider']
    >>> onnxruntime_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])
    ['CUDAExecutionProvider', 'CPUExecutionProvider']
    """
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    cuda = "CUDAExecutionProvider" in set(available)
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
