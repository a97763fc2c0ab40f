#!/usr/bin/env bash
# The GPU benchmark in one command, on a machine with an NVIDIA GPU (`nvidia-smi -L` works):
#
#   deploy/gpu/bench_gpu.sh [--dry-run] /path/to/vlm-model [OUT_DIR]
#
# 1. builds the main environment (.venv, `make env`) and the GPU vLLM environment
#    (deploy/scripts/make_vllm_env.sh with TAILOR_VLLM_FLAVOR=gpu, in its own folder) side by side;
# 2. starts `vllm serve` on the local model folder (bfloat16, --max-model-len sized for a prompt with key
#    frames, up to TAILOR_GPU_IMAGES images per prompt) on loopback and waits for GET /health;
# 3. runs `tailor bench synth --skip-hf` (vLLM examples/s and JSON-valid rate; with --images
#    TAILOR_GPU_IMAGES when the model folder's config.json names a vision tower; the main environment's
#    torch is a CPU build, so there is no in-process transformers side here) and
#    `tailor bench quality --backend vllm` on the heldout split against that server;
# 4. records `nvidia-smi --query-gpu=name,...`, stops the server (its whole process group, also on error
#    or Ctrl-C) and prints a summary. Everything lands in OUT_DIR (default bench-gpu-<UTC time>).
#
# --dry-run prints the commands and runs nothing (no GPU, no model needed).
# Environment (all optional): TAILOR_GPU_SERVED_NAME (default: the model folder's name), TAILOR_GPU_PORT
# (8011), TAILOR_GPU_MAX_MODEL_LEN (8192), TAILOR_GPU_MEMORY (0.85, fraction of GPU memory),
# TAILOR_GPU_IMAGES (4), TAILOR_GPU_START_TIMEOUT_S (420), TAILOR_GPU_STEP_TIMEOUT_S (300, each
# benchmark), TAILOR_GPU_SYNTH_JOBS (16), TAILOR_GPU_VENV (.venv-vllm-gpu), PYTHON (python3).
set -euo pipefail

usage() {
    echo "usage: $0 [--dry-run] /path/to/vlm-model [OUT_DIR]" >&2
    exit 2
}

DRY=0
ARGS=()
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) usage ;;
        -*) echo "unknown option: $arg" >&2; usage ;;
        *) ARGS+=("$arg") ;;
    esac
done
[ "${#ARGS[@]}" -ge 1 ] && [ "${#ARGS[@]}" -le 2 ] || usage

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
MODEL=${ARGS[0]}
OUT=${ARGS[1]:-bench-gpu-$(date -u +%Y%m%dT%H%M%SZ)}
NAME=${TAILOR_GPU_SERVED_NAME:-$(basename "$MODEL")}
PORT=${TAILOR_GPU_PORT:-8011}
MAX_LEN=${TAILOR_GPU_MAX_MODEL_LEN:-8192}
MEMORY=${TAILOR_GPU_MEMORY:-0.85}
IMAGES=${TAILOR_GPU_IMAGES:-4}
START_TIMEOUT=${TAILOR_GPU_START_TIMEOUT_S:-420}
STEP_TIMEOUT=${TAILOR_GPU_STEP_TIMEOUT_S:-300}
SYNTH_JOBS=${TAILOR_GPU_SYNTH_JOBS:-16}
VENV=${TAILOR_GPU_VENV:-.venv-vllm-gpu}
URL=http://127.0.0.1:$PORT
TAILOR=.venv/bin/tailor
SERVER_PID=

say() { printf '[bench_gpu %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# Print a command as it would be typed; run it unless --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    [ "$DRY" = 1 ] || "$@"
}

SERVE=("$VENV/bin/vllm" serve "$MODEL" --served-model-name "$NAME" --host 127.0.0.1 --port "$PORT"
       --dtype bfloat16 --max-model-len "$MAX_LEN" --gpu-memory-utilization "$MEMORY"
       --limit-mm-per-prompt "{\"image\": $IMAGES}" --disable-uvicorn-access-log)
# a vision model (its config.json names a vision tower) is sent TAILOR_GPU_IMAGES key frames per prompt
VISION=0
if [ -f "$MODEL/config.json" ] && python3 -c "import json, sys; c = json.load(open(sys.argv[1])); sys.exit(0 if any(c.get(k) for k in ('vision_config', 'vision_tower', 'mm_vision_tower', 'visual')) else 1)" "$MODEL/config.json" 2>/dev/null; then
    VISION=$IMAGES
fi
SYNTH=("$TAILOR" bench synth --vllm-url "$URL" --served-name "$NAME" --skip-hf --jobs "$SYNTH_JOBS"
       --candidates 4 --max-tokens 192 --images "$VISION" --json "$OUT/synth.json")
QUALITY=("$TAILOR" bench quality --backend vllm --split heldout --vllm-url "$URL" --vllm-model "$NAME"
         --json "$OUT/quality_vllm_heldout.json")
GPU_QUERY=(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)

if [ "$DRY" = 1 ]; then
    say "dry run: model $MODEL, served as $NAME at $URL, results in $OUT"
    run make env
    run env TAILOR_VLLM_FLAVOR=gpu bash deploy/scripts/make_vllm_env.sh "$VENV"
    run "${GPU_QUERY[@]}"
    run "${SERVE[@]}"
    say "(then: wait up to ${START_TIMEOUT}s for $URL/health, logging to $OUT/vllm-server.log)"
    run timeout "$STEP_TIMEOUT" "${SYNTH[@]}"
    run timeout "$STEP_TIMEOUT" "${QUALITY[@]}"
    say "(then: stop the server's process group and print the summary)"
    exit 0
fi

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no NVIDIA GPU here (nvidia-smi -L fails); this script is for a GPU machine" >&2
    exit 2
fi
if [ ! -f "$MODEL/config.json" ]; then
    echo "no model folder with config.json at $MODEL" >&2
    exit 2
fi
mkdir -p "$OUT"
T0=$(date +%s)

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        say "stopping the vLLM server (process group $SERVER_PID)"
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 1
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

say "environments: main (.venv) and GPU vLLM ($VENV), built side by side"
make env > "$OUT/env-main.log" 2>&1 &
MAIN_ENV=$!
TAILOR_VLLM_FLAVOR=gpu bash deploy/scripts/make_vllm_env.sh "$VENV" > "$OUT/env-vllm.log" 2>&1 &
VLLM_ENV=$!
wait "$MAIN_ENV" || { tail -n 30 "$OUT/env-main.log" >&2; echo "make env failed" >&2; exit 1; }
wait "$VLLM_ENV" || { tail -n 30 "$OUT/env-vllm.log" >&2; echo "the GPU vLLM environment failed" >&2; exit 1; }
T_ENV=$(date +%s)
"${GPU_QUERY[@]}" | tee "$OUT/gpu.txt"

say "serving $MODEL as $NAME at $URL"
printf '%q ' "${SERVE[@]}" > "$OUT/vllm-serve.cmd"
HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 setsid "${SERVE[@]}" > "$OUT/vllm-server.log" 2>&1 &
SERVER_PID=$!
deadline=$(( $(date +%s) + START_TIMEOUT ))
until .venv/bin/python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$URL/health', timeout=2).status != 200)" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        tail -n 40 "$OUT/vllm-server.log" >&2
        echo "the vLLM server exited during start (log: $OUT/vllm-server.log)" >&2
        exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        tail -n 40 "$OUT/vllm-server.log" >&2
        echo "the vLLM server was not healthy within ${START_TIMEOUT}s" >&2
        exit 1
    fi
    sleep 2
done
T_UP=$(date +%s)
say "server healthy after $(( T_UP - T_ENV ))s"

status=0
run timeout "$STEP_TIMEOUT" "${SYNTH[@]}" 2>&1 | tee "$OUT/synth.log" || status=1
T_SYNTH=$(date +%s)
run timeout "$STEP_TIMEOUT" "${QUALITY[@]}" 2>&1 | tee "$OUT/quality.log" || status=1
T_QUALITY=$(date +%s)
stop_server

.venv/bin/python - "$OUT" "$MODEL" "$NAME" <<PY | tee "$OUT/summary.txt"
import json, pathlib, sys
out, model, name = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
def load(f):
    p = out / f
    return json.loads(p.read_text()) if p.is_file() else None
gpu = (out / "gpu.txt").read_text().strip().replace("\n", "; ")
print(f"GPU: {gpu}")
print(f"model: {model} (served as {name})")
print("seconds: envs $(( T_ENV - T0 )), server start $(( T_UP - T_ENV )), synth $(( T_SYNTH - T_UP )), "
      "quality $(( T_QUALITY - T_SYNTH )), total $(( T_QUALITY - T0 ))")
s = load("synth.json")
if s:
    print(f"bench synth: {s['jobs']} prompts x {s['candidates']} candidates, {s['images_per_prompt']} images per "
          f"prompt, {s['vllm_examples_per_s']} examples/s, JSON-valid {s['json_valid_rate']}")
else:
    print("bench synth: failed (see synth.log)")
q = load("quality_vllm_heldout.json")
if q:
    doms = ", ".join(f"{d} {v['s_total']}" for d, v in sorted(q["by_domain"].items()))
    print(f"bench quality (vllm, heldout, {q['cases']} cases): S_total {q['s_total']}, G_json {q['g_json']}, "
          f"grounding {q['grounding_precision']}; by domain: {doms}; generation {q['seconds']['generate']}s")
else:
    print("bench quality: failed (see quality.log)")
PY
say "results in $OUT"
exit "$status"
