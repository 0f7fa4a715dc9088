"""Call-center archives: ``meetsep batch`` over one-minute stereo calls next to plain faster-whisper.

Simulates ``--calls`` two-person calls of about ``--seconds`` each (8 kHz stereo, agent and customer on
their own channels with crosstalk, as ``meetsep simulate --mode call-center`` makes them; deterministic,
kept in ``--out``), then runs, each in a fresh process, alternating pair by pair (the order swapped every
pair, so drift on a noisy machine hits both):

- ``meetsep``: ``meetsep batch CALLS --out ... --jobs 1 --format json`` with the default configuration
  (plus ``--set``): import, model loading and every call, as an archive operator runs it;
- ``faster-whisper``: plain ``WhisperModel.transcribe`` of each file (faster-whisper reads it and mixes
  the two channels), the same Whisper model, compute type and beam size, temperature 0 (deterministic,
  no sampling fallback), language identified per call as meetsep does.

Prints minimum and median wall time of each, the ratio of the medians, and calls per hour per core
(calls / median hours / cores). With ``--stages``, one more pass through the Python API over the same
calls gives meetsep's seconds per stage.

    python pipelines/bench_calls.py --calls 100 --seconds 60 --pairs 2 --stages
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import soundfile as sf
from bench_long import PEAK, median_run, run

CHILD_MEETSEP = (
    PEAK
    + """
import json, subprocess, sys, tempfile, time
began = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    command = [sys.executable, "-m", "meetsep.cli", "batch", sys.argv[1], "--out", out, "--jobs", "1",
               "--format", "json", "--no-progress"]
    for override in sys.argv[2:]:
        command += ["--set", override]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    report = [json.loads(line) for line in open(out + "/batch_report.jsonl")]
wall = time.perf_counter() - began
print(json.dumps(dict(wall=wall, ok=sum(r["status"] == "ok" for r in report), files=len(report))))
"""
)

CHILD_FASTER_WHISPER = (
    PEAK
    + """
import json, sys, time
from pathlib import Path
began = time.perf_counter()
import meetsep
from meetsep.loading.models import resolve_model
from faster_whisper import WhisperModel
config = meetsep.load_config([], sys.argv[2:])
model = WhisperModel(str(resolve_model(config.asr.model, "asr").path), device="cpu", compute_type=config.asr.compute_type)
words = 0
for path in sorted(Path(sys.argv[1]).glob("*.flac")):
    segments, info = model.transcribe(str(path), beam_size=config.asr.beam_size, temperature=0.0, word_timestamps=True,
                                      condition_on_previous_text=False, language=config.asr.language)
    words += sum(len(s.words or []) for s in segments)
print(json.dumps(dict(wall=time.perf_counter() - began, words=words)))
"""
)

CHILD_STAGES = """
import json, sys, time
from pathlib import Path
import meetsep
from meetsep.core.hooks import TimingHook
config = meetsep.load_config([], sys.argv[2:])
pipeline = meetsep.Pipeline(config)
timing = TimingHook()
for path in sorted(Path(sys.argv[1]).glob("*.flac")):
    pipeline(path, layout="stereo-speakers", hook=timing)
print(json.dumps(dict(stages=dict(timing.seconds))))
"""


def make_calls(folder: Path, count: int, seconds: float) -> float:
    """``count`` simulated call-center calls of about ``seconds`` in ``folder`` (kept); returns total seconds.

    A simulated call's script is at most about 30 s long, so call ``n`` is made of simulated calls of
    seeds ``1000 n``, ``1000 n + 1``, ... one after the other (0.5 s apart) until it is ``seconds`` long:
    still one channel per side, as an agent taking over from another and a second customer would sound."""
    import numpy as np

    from meetsep.sim.simulate import SimulationConfig, simulate_meeting

    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for number in range(count):
        path = folder / f"call{number:04d}.flac"
        if not path.is_file():
            parts, length, rate, seed = [], 0.0, 8000, 1000 * number
            while length < seconds:
                config = SimulationConfig(seed=seed, mode="call-center", num_sentences=40, overlap_ratio=0.1)
                meeting = simulate_meeting(config, session_id=path.stem)
                rate = meeting.sample_rate
                parts += [meeting.audio, np.zeros((meeting.audio.shape[0], rate // 2), dtype=np.float32)]
                length += meeting.audio.shape[1] / rate + 0.5
                seed += 1
            partial = path.with_suffix(".part")
            sf.write(str(partial), np.concatenate(parts, axis=1).T, rate, subtype="PCM_16", format="FLAC")
            partial.replace(path)
        total += sf.info(str(path)).duration
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pairs", type=int, default=2, help="runs of each, alternating pair by pair")
    parser.add_argument("--stages", action="store_true", help="one more meetsep pass for seconds per stage")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("build/bench_calls"))
    args = parser.parse_args()
    folder = args.out / f"calls_{args.calls}x{args.seconds:g}s"
    began = time.perf_counter()
    audio = make_calls(folder, args.calls, args.seconds)
    print(
        f"{args.calls} calls, {audio / 60:.1f} min of audio ({time.perf_counter() - began:.0f} s to make)", flush=True
    )
    ours: list[dict] = []
    plain: list[dict] = []
    for pair in range(args.pairs):
        for code, runs in [(CHILD_MEETSEP, ours), (CHILD_FASTER_WHISPER, plain)][:: 1 if pair % 2 == 0 else -1]:
            runs.append(run(code, folder, args.overrides))
            print(
                f"pair {pair + 1}: {'meetsep' if runs is ours else 'faster-whisper'} {runs[-1]['wall']:.0f} s",
                flush=True,
            )
    failed = [r for r in ours if r["ok"] != args.calls]
    if failed:
        raise SystemExit(f"meetsep batch finished {failed[0]['ok']} of {args.calls} calls")
    cores = os.cpu_count() or 1
    mine, theirs = median_run(ours)["wall"], median_run(plain)["wall"]
    result = dict(
        calls=args.calls,
        audio_seconds=audio,
        cores=cores,
        meetsep_walls=[r["wall"] for r in ours],
        faster_whisper_walls=[r["wall"] for r in plain],
        ratio=mine / theirs,
        meetsep_calls_per_hour_per_core=args.calls / (mine / 3600) / cores,
        faster_whisper_calls_per_hour_per_core=args.calls / (theirs / 3600) / cores,
    )
    print(
        f"\nmeetsep batch {min(result['meetsep_walls']):.0f} / {mine:.0f} s (min / median), plain faster-whisper "
        f"{min(result['faster_whisper_walls']):.0f} / {theirs:.0f} s: ratio {result['ratio']:.2f}; calls per hour "
        f"per core: meetsep {result['meetsep_calls_per_hour_per_core']:.0f}, faster-whisper "
        f"{result['faster_whisper_calls_per_hour_per_core']:.0f} ({cores} cores)"
    )
    if args.stages:
        result["stages"] = run(CHILD_STAGES, folder, args.overrides)["stages"]
        print("meetsep seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in result["stages"].items()))
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
