# syntax=docker/dockerfile:1.7
# Tailor trainer: `tailor trainer` (learns the synthesiser from feedback, publishes weights on
# tailor.model.updates; Prometheus /metrics on TAILOR_METRICS_PORT like every Tailor process).
#
#   docker build -f deploy/docker/trainer.Dockerfile -t tailor/trainer:0.1.0 .                          # CUDA torch
#   docker build -f deploy/docker/trainer.Dockerfile --build-arg TORCH_FLAVOR=cpu -t tailor/trainer:0.1.0-cpu .
#
# Same lock as the worker (requirements/main.lock) except torch:
#   TORCH_FLAVOR=cuda (default)  torch==2.13.0 from PyPI, whose Linux x86_64 wheel is the CUDA build; it brings
#                                its CUDA runtime as nvidia-* wheels, so the base stays python:slim and the host
#                                driver comes in through the NVIDIA container toolkit (`--gpus` / device request).
#   TORCH_FLAVOR=cpu             torch==2.13.0+cpu from the PyTorch CPU index, as in the worker image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_FLAVOR=cuda
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_PROGRESS_BAR=off
RUN python -m venv /opt/tailor
COPY requirements/main.lock /tmp/requirements/main.lock
RUN set -eu; \
    case "${TORCH_FLAVOR}" in \
      cuda) sed -i 's/^torch==2\.13\.0+cpu$/torch==2.13.0/' /tmp/requirements/main.lock; \
            /opt/tailor/bin/pip install -r /tmp/requirements/main.lock ;; \
      cpu)  /opt/tailor/bin/pip install --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/requirements/main.lock ;; \
      *)    echo "TORCH_FLAVOR must be cuda or cpu (got ${TORCH_FLAVOR})" >&2; exit 2 ;; \
    esac
COPY pyproject.toml README.md /src/
COPY streaming /src/streaming
COPY app /src/app
COPY core /src/core
COPY agents /src/agents
COPY trainer /src/trainer
RUN /opt/tailor/bin/pip install --no-deps /src \
    && (/opt/tailor/bin/pip uninstall -y -q torchvision torchaudio torchcodec || true) \
    && /opt/tailor/bin/pip check

FROM ${PYTHON_IMAGE}
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
    HF_HOME=/var/lib/tailor/.cache/huggingface \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    TAILOR_DATA_DIR=/var/lib/tailor \
    TAILOR_METRICS_HOST=0.0.0.0 \
    TAILOR_METRICS_PORT=9464 \
    TAILOR_LOG_JSON=true
USER 10001:10001
WORKDIR /var/lib/tailor
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('TAILOR_METRICS_PORT', '9464'), timeout=4)"]
ENTRYPOINT ["tailor-entrypoint"]
CMD ["trainer"]
