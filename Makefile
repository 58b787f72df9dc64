# gesam: two commands matter. `make run` is the main job, `make test` runs the tests.
# Both create .venv and install what they need into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
GESAM  := $(VENV)/bin/gesam
# torch 2.13.0 is the CPU build; a bare "torch" would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
DEMO   ?= build/demo

.PHONY: run lint test test-fast test-busy reliability bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# Main job: the instrument. It plays the shipped model (models/default; without one, a quick
# demo model trained on a procedural kit) on the default audio output. Type commands
# (play 0.3 0.7, pad 3, fx reverb room_size 0.9, help); Ctrl-D or quit stops it.
# No sound card: start JACK first (jackd --no-realtime -d dummy &), or bounce:
#   make run SERVE_ARGS="--output build/take.wav --duration 10 --force"
MODEL ?= $(if $(wildcard models/default/model.json),models/default,$(DEMO)/model)
SERVE_ARGS ?=
run: $(VENV)/.installed
	@test -f $(MODEL)/model.json || { \
	  $(GESAM) synth-kit $(DEMO)/kit --per-class 12 && \
	  $(GESAM) train --data $(DEMO)/kit -o $(DEMO)/model --epochs 60 --cache $(DEMO)/cache --force; }
	@$(GESAM) serve --model $(MODEL) $(SERVE_ARGS)

# Static checks: ruff over the whole repository, mypy --strict over gesam_engine and osc_bridge
# (settings in pyproject.toml). `make test` runs them first.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every test, slow and end-to-end ones included (what CI runs), after the lint.
test: lint
	$(PY) -m pytest -q

# The fast subset for working on the code.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

# Acceptance on a busy machine: the whole suite three times in a row while two CPU hogs keep
# both cores busy (stress-ng --cpu 2 when installed, else two `yes > /dev/null`).
test-busy: $(VENV)/.installed
	@if command -v stress-ng >/dev/null; then stress-ng --cpu 2 --quiet & hogs=$$!; \
	else yes >/dev/null & hogs=$$!; yes >/dev/null & hogs="$$hogs $$!"; fi; \
	trap 'kill $$hogs 2>/dev/null' EXIT; \
	for i in 1 2 3; do echo "== run $$i of 3 (cores busy) =="; $(PY) -m pytest -q || exit 1; done

# The reliability suite alone: fuzzing, floods, lost JACK/MIDI devices, damaged files, hostile numbers.
reliability: $(VENV)/.installed
	$(PY) -m pytest -q -m reliability

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py

bench-quick: $(VENV)/.installed
	$(PY) benchmarks/run_all.py --quick --out build/bench-quick.json --no-doc

clean:
	rm -rf $(VENV) build
