#!/usr/bin/env bash
# Run every notebook's smoke profile on a CUDA machine and say whether it all held.
#
#   scripts/gpu_check.sh [RUN_FOLDER]        (default: reports/gpu-check-<UTC timestamp>)
#
# Prints nvidia-smi, what torch and ONNX Runtime see (a CPU-only torch wheel or onnxruntime build is
# named as such), runs `workbench report --profile smoke --force` (forced: results cached from a CPU
# run must not stand in for this machine's), then each notebook's status from the run's run.json and
# nvidia-smi again (memory after the run). Exits non-zero when no CUDA GPU is visible to torch (3),
# nvidia-smi is missing (2), or any notebook failed or was degraded (1).
# Environment: PYTHON and WORKBENCH override .venv/bin/python and .venv/bin/workbench.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
WB=${WORKBENCH:-.venv/bin/workbench}
OUT=${1:-reports/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}

echo "== nvidia-smi"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: nvidia-smi not found; this is not a CUDA machine" >&2
    exit 2
fi
nvidia-smi || { echo "gpu_check: nvidia-smi failed" >&2; exit 2; }

echo "== torch and onnxruntime"
"$PY" - <<'EOF' || exit 3
import onnxruntime
import torch

print(f"torch {torch.__version__} (CUDA build {torch.version.cuda}), cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name(0)}, bf16: {torch.cuda.is_bf16_supported()}")
providers = onnxruntime.get_available_providers()
print(f"onnxruntime {onnxruntime.__version__}, providers: {providers}")
if "CUDAExecutionProvider" not in providers:
    print("note: this onnxruntime has no CUDA provider (install onnxruntime-gpu); ONNX variants run on the CPU")
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: torch sees no CUDA GPU (a CPU-only wheel?); install a CUDA build of the pinned torch")
EOF

echo "== workbench report --profile smoke --force --output $OUT"
"$WB" report --profile smoke --force --output "$OUT"
report_status=$?

echo "== run status ($OUT/run.json)"
"$PY" - "$OUT/run.json" <<'EOF'
import json
import sys

try:
    run = json.load(open(sys.argv[1], encoding="utf-8"))
except (OSError, ValueError) as error:
    raise SystemExit(f"gpu_check: no readable run.json ({error})")
for notebook in run["notebooks"]:
    error = (notebook.get("error") or "").splitlines()[0:1]
    print(f"{notebook['name']:<16} {notebook['status']:<9} {notebook['seconds']:>8.1f} s  {' '.join(error)}")
bad = [n["name"] for n in run["notebooks"] if n["status"] not in ("ok", "cached")]
ok = bool(run.get("ok")) and not bad
print("run ok" if ok else f"run NOT ok: {', '.join(bad) or 'interrupted'}")
raise SystemExit(0 if ok else 1)
EOF
index_status=$?

echo "== nvidia-smi after the run"
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv || true

if [ "$report_status" -ne 0 ] || [ "$index_status" -ne 0 ]; then
    echo "gpu_check: FAILED (workbench report exit $report_status, run status exit $index_status)" >&2
    exit 1
fi
echo "gpu_check: every notebook ran on this CUDA machine"
