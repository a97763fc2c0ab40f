# syntax=docker/dockerfile:1.7
# The synthesiser's model server: vLLM's OpenAI-compatible API on an NVIDIA GPU, serving a model folder
# mounted at /models/base, with LoRA adapters loadable at run time (POST /v1/load_lora_adapter) from the
# model store the trainer publishes to (/var/lib/tailor/models; owned by the Tailor images' uid 10001, so
# whichever container first mounts a fresh named volume there leaves it writable for the trainer).
#
#   docker build -f deploy/docker/vllm.Dockerfile -t tailor/vllm:0.33.0 deploy/docker
#   docker run --gpus all -p 8000:8000 -v $PWD/.cache/models/SmolLM2-135M-Instruct:/models/base:ro tailor/vllm:0.33.0
#
# Built on the official image of the vLLM version pinned in requirements/vllm-gpu.txt (keep the two equal;
# tests/deploy checks it). vLLM serves its own Prometheus metrics (vllm:*) on the API port at /metrics.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.33.0
FROM ${VLLM_IMAGE}

RUN groupadd --system --gid 10002 vllm \
    && useradd --system --uid 10002 --gid vllm --home-dir /home/vllm --create-home vllm \
    && mkdir -p /models/base /var/lib/tailor/models \
    && chown 10001:10001 /var/lib/tailor/models
ENV HOME=/home/vllm \
    HF_HOME=/home/vllm/.cache/huggingface \
    HF_HUB_OFFLINE=1 \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
USER 10002:10002
WORKDIR /home/vllm
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]
# Override any of these with the container command (compose `command:`, Kubernetes `args:`).
CMD ["--model", "/models/base", "--served-model-name", "smollm2", "--host", "0.0.0.0", "--port", "8000", \
     "--enable-lora", "--max-lora-rank", "16", "--max-model-len", "4096", "--gpu-memory-utilization", "0.5", \
     "--disable-uvicorn-access-log"]
