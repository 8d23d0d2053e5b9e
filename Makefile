# Two commands on a fresh machine:
#   make demo   create .venv, install avstudio, run the demo on the bundled clip
#   make test   create .venv, install avstudio with test extras, run the tests
# torch is pinned in the same pip command as everything else (a CPU wheel is
# used where one is available; an unpinned torch would pull a CUDA build).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: demo demo-bad-apple test install clean bench

$(STAMP): pyproject.toml
	@echo "installing avstudio and its dependencies into $(VENV) (a few minutes the first time)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on "$(TORCH)" -e ".[neural,test]"
	touch $(STAMP)
	@echo "installed: run $(BIN)/avstudio, or 'source $(BIN)/activate' to type avstudio"

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/avstudio demo avstudio-demo

demo-bad-apple: $(STAMP)
	$(BIN)/avstudio demo avstudio-demo-bad-apple --template bad-apple

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/extract_features.py
	$(BIN)/python bench/blind_painter.py

clean:
	rm -rf $(VENV) avstudio-demo avstudio-demo-bad-apple
