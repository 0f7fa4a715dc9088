# The two commands of the README. Both set up .venv first (once; again when its inputs change).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.meetsep-setup
DEMO_OUT := build/demo

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

demo: setup
	$(BIN)/meetsep transcribe examples/meeting/mix.flac --config meeting_array --out $(DEMO_OUT) --format json,seglst,rttm,srt,vtt,txt
	@echo "--- transcript ($(DEMO_OUT)/mix.txt)"
	@cat $(DEMO_OUT)/mix.txt
	@echo "--- score against examples/meeting/reference.seglst.json"
	$(BIN)/meetsep evaluate examples/meeting/reference.seglst.json $(DEMO_OUT)/mix.json

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf build
