# syntax=docker/dockerfile:1.7
# Tailor worker: `tailor up` (Faust agents + Prometheus /metrics on TAILOR_METRICS_PORT).
#
#   docker build -f deploy/docker/worker.Dockerfile -t tailor/worker:0.1.0 .      # from the repository root
#
# Installs exactly requirements/main.lock. That lock pins torch==2.13.0+cpu, a local-version wheel that
# only the PyTorch CPU index serves (TORCH_INDEX_URL); every other pin comes from PyPI. The worker needs no
# GPU: its experts are PyAV / OpenCV / ONNX on CPU, and synthesis goes to the vLLM server (TAILOR_VLLM_URL).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_PROGRESS_BAR=off
RUN python -m venv /opt/tailor
COPY requirements/main.lock /tmp/requirements/main.lock
RUN /opt/tailor/bin/pip install --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/requirements/main.lock
COPY pyproject.toml README.md /src/
COPY streaming /src/streaming
COPY app /src/app
COPY core /src/core
COPY agents /src/agents
COPY trainer /src/trainer
# registry builds of these are CUDA builds that break `import torch` next to the CPU wheel
RUN /opt/tailor/bin/pip install --no-deps /src \
    && (/opt/tailor/bin/pip uninstall -y -q torchvision torchaudio torchcodec || true) \
    && /opt/tailor/bin/pip check

FROM ${PYTHON_IMAGE}
# OpenCV (pulled in by rapidocr) links libGL / glib / X11 client libraries at import time
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libsm6 libxext6 libxcb1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tailor \
    && useradd --system --uid 10001 --gid tailor --home-dir /var/lib/tailor --create-home tailor \
    && mkdir -p /var/lib/tailor/shared /var/lib/tailor/models \
    && chown -R tailor:tailor /var/lib/tailor
COPY --from=build /opt/tailor /opt/tailor
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/tailor-entrypoint
ENV PATH=/opt/tailor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TAILOR_DATA_DIR=/var/lib/tailor \
    TAILOR_METRICS_HOST=0.0.0.0 \
    TAILOR_METRICS_PORT=9464 \
    TAILOR_LOG_JSON=true
USER 10001:10001
WORKDIR /var/lib/tailor
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('TAILOR_METRICS_PORT', '9464'), timeout=4)"]
ENTRYPOINT ["tailor-entrypoint"]
CMD ["up"]
