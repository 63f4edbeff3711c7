"""The kernels a report run starts: headless, on Unix sockets with short paths, in the caller's folder."""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEADLESS_VARIABLE = "WORKBENCH_HEADLESS"  # "1" in the kernels the runner starts
# sun_path holds 108 bytes on Linux (104 on macOS); jupyter_client appends "-<port>" to each name.
SOCKET_PATH_LIMIT = 100


@contextmanager
def headless_kernels() -> Iterator[None]:
    """Tell the kernels (which inherit our environment) that no one is watching.

    ``workbench._progress`` then draws text bars instead of widgets, which would show up as empty
    boxes in the HTML. papermill offers no per-kernel environment, hence the process-wide
    variable, restored afterwards.
    """
    previous = os.environ.get(HEADLESS_VARIABLE)
    os.environ[HEADLESS_VARIABLE] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HEADLESS_VARIABLE, None)
        else:
            os.environ[HEADLESS_VARIABLE] = previous


def socket_base(runtime_dir: str | os.PathLike) -> Path:
    """A fresh socket name prefix: in ``runtime_dir`` when short enough, else in a private temp folder.

    A long home folder makes Jupyter's runtime folder too long for a Unix socket path, and the
    kernel would then fail to bind with an obscure zmq error.

    >>> len(str(socket_base("/" + "x" * 200))) < SOCKET_PATH_LIMIT
    True
    """
    name = f"wbk-{uuid.uuid4().hex[:16]}"
    folder = Path(runtime_dir)
    if len(str(folder / name)) + 8 > SOCKET_PATH_LIMIT:
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        folder = Path(tempfile.gettempdir()) / f"workbench-{uid}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / name


@functools.lru_cache(maxsize=1)
def ipc_kernel_manager() -> type:
    """jupyter_client's kernel manager with the kernel on Unix sockets instead of localhost TCP ports.

    No port is opened, so nothing else on the machine can reach the kernel and parallel runs never race
    for ports (ipykernel also warns about unencrypted TCP on every start). Each kernel's socket files
    get a fresh, short name (:func:`socket_base`); jupyter_client removes them at shutdown.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    class IpcKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self) -> str:
            return str(socket_base(jupyter_runtime_dir()))

    return IpcKernelManager


PROJECT_KERNEL = "nlp-workbench"


def resolve_kernel(name: str | None) -> str:
    """The kernel to run notebooks with: ``name`` when given, else the project's kernel when installed
    (``make`` registers it), else ``python3``, the interpreter's own (a pip-installed package has no other).

    >>> resolve_kernel("my-kernel")
    'my-kernel'
    """
    if name:
        return name
    from jupyter_client.kernelspec import KernelSpecManager

    return PROJECT_KERNEL if PROJECT_KERNEL in KernelSpecManager().find_kernel_specs() else "python3"
