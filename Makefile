# gesam: two commands matter. `make run` is the main job, `make test` runs the tests.
# Both create .venv and install what they need into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
GESAM  := $(VENV)/bin/gesam
# torch 2.13.0 is the CPU build; a bare "torch" would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
DEMO   ?= build/demo

.PHONY: run test test-fast reliability bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# Main job: the instrument. It plays the shipped model (models/default) when there is one,
# else a quick demo model trained on a procedural kit, on the default audio output; type
# commands (play 0.3 0.7, pad 3, note 40 100, help) and Ctrl-D to stop.
MODEL ?= $(if $(wildcard models/default/model.json),models/default,$(DEMO)/model)
run: $(VENV)/.installed
	$(GESAM) --help
	@test -f $(MODEL)/model.json || { \
	  $(GESAM) synth-kit $(DEMO)/kit --per-class 12 && \
	  $(GESAM) train --data $(DEMO)/kit -o $(DEMO)/model --epochs 60 --cache $(DEMO)/cache --force; }
	$(GESAM) info --model $(MODEL)
	$(GESAM) render --model $(MODEL) --xy 0.3 0.7 -o $(DEMO)/render.wav --force
	$(GESAM) serve --model $(MODEL)

# Every test, slow and end-to-end ones included (what CI runs).
test: $(VENV)/.installed
	$(PY) -m pytest -q

# The fast subset for working on the code.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

# The reliability suite alone: fuzzing, floods, lost JACK/MIDI devices, damaged files, hostile numbers.
reliability: $(VENV)/.installed
	$(PY) -m pytest -q -m reliability

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py

bench-quick: $(VENV)/.installed
	$(PY) benchmarks/run_all.py --quick --out build/bench-quick.json --no-doc

clean:
	rm -rf $(VENV) build
