# The two commands of the README. Both set up .venv first (once; again when its inputs change).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.meetsep-setup
DEMO_OUT := build/demo

.PHONY: demo test test-all lint check-lock lock setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock scripts/setup.sh scripts/packages.sh scripts/check_lock.py
	bash scripts/setup.sh

demo: setup
	$(BIN)/meetsep transcribe examples/meeting/mix.flac --config meeting_array --out $(DEMO_OUT) --format json,seglst,rttm,srt,vtt,txt
	@echo "--- transcript ($(DEMO_OUT)/mix.txt)"
	@cat $(DEMO_OUT)/mix.txt
	@echo "--- score against examples/meeting/reference.seglst.json"
	$(BIN)/meetsep evaluate examples/meeting/reference.seglst.json $(DEMO_OUT)/mix.json

# everything but the tests marked slow (benchmarks, long subprocess runs)
test: setup check-lock
	$(BIN)/python -m pytest

# the whole suite, slow tests included
test-all: setup check-lock
	$(BIN)/python -m pytest -m ""

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the environment holds exactly the versions of requirements.lock, and pip check passes
check-lock: setup
	$(BIN)/python scripts/check_lock.py

# re-resolve pyproject.toml's ranges in a throwaway venv and write requirements.lock
lock:
	bash scripts/lock.sh

clean:
	rm -rf build
