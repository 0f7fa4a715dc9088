"""Long recordings: peak memory and per-stage wall time of meetsep next to plain faster-whisper.

Builds multichannel 16 kHz WAV files of the given lengths by tiling simulated meetings (several
seeds, so several voices and rooms), written block by block. Then, for each length, in fresh
processes on the same audio:

- ``meetsep``: the default pipeline (``meetsep.Pipeline``) on the multichannel file (``--channels 1``: a
  mono recording);
- ``faster-whisper``: plain ``WhisperModel.transcribe`` with the same Whisper model, compute type and
  beam size on the channel average (the same mono signal meetsep's default beamformer makes).

With ``--pairs N`` the two run N times each, alternating pair by pair (meetsep first in even pairs,
faster-whisper first in odd ones, so drift on a noisy machine hits both): minimum and median of each,
and the ratio of the medians. Both decode deterministically (faster-whisper at temperature 0, no
sampling fallback), so their times compare.

Prints peak RSS, wall time, RTF, the ratio meetsep / faster-whisper and meetsep's per-stage times,
then cpWER and DER of the same code and settings on ``--accuracy`` held-out meetings of the
``generalization`` corpus (``pipelines/benchmark.py``, configuration ``b_meetsep``), so a speed-up that
costs accuracy shows in the same run.

    python pipelines/bench_long.py --minutes 60,120 --channels 8
    python pipelines/bench_long.py --minutes 10 --channels 4 --overlaps 0,0.2,0.4,0.1,0.3 --pairs 3 --accuracy 0
    python pipelines/bench_long.py --minutes 60 --channels 1 --pairs 2 --accuracy 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

# the child's own peak resident memory (VmHWM; ru_maxrss would include the parent's at the fork)
PEAK = """
from meetsep.core.hooks import peak_resident_mb as peak_mb
"""

CHILD_MEETSEP = (
    PEAK
    + """
import json, sys, time
import meetsep
from meetsep.core.hooks import MemoryHook, TimingHook
config = meetsep.load_config([], sys.argv[2:])
timing = TimingHook()
memory = MemoryHook(forward=timing)
began = time.perf_counter()
import soundfile
layout = "mono" if soundfile.info(sys.argv[1]).channels == 1 else "array"
transcript = meetsep.Pipeline(config)(sys.argv[1], layout=layout, hook=memory)
wall, peaks = time.perf_counter() - began, memory.finish()
print(json.dumps(dict(wall=wall, peak_mb=max(peaks.values()), stage_peak_mb=peaks,
                      stages=dict(timing.seconds), words=len(transcript.words), speakers=len(transcript.speakers))))
"""
)

CHILD_FASTER_WHISPER = (
    PEAK
    + """
import json, sys, time
import numpy as np, soundfile as sf
import meetsep
from meetsep.loading.models import resolve_model
from faster_whisper import WhisperModel
config = meetsep.load_config([], sys.argv[2:])
began = time.perf_counter()
blocks = [b.mean(axis=1) for b in sf.blocks(sys.argv[1], blocksize=16000 * 60, dtype="float32", always_2d=True)]
audio = np.concatenate(blocks).astype(np.float32)
model = WhisperModel(str(resolve_model(config.asr.model, "asr").path), device="cpu", compute_type=config.asr.compute_type)
segments, info = model.transcribe(audio, beam_size=config.asr.beam_size, temperature=0.0, word_timestamps=True,
                                  condition_on_previous_text=False, language=config.asr.language)
words = sum(len(s.words or []) for s in segments)
print(json.dumps(dict(wall=time.perf_counter() - began, peak_mb=peak_mb(), words=words)))
"""
)


def build(path: Path, minutes: float, channels: int, seeds: int, overlaps: list[float]) -> float:
    """Tile ``seeds`` simulated meetings (2-4 people, overlap ratios taken in turn from ``overlaps``) into
    ``path`` until ``minutes`` long; returns seconds."""
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting

    pieces = []
    for seed in range(seeds):
        overlap = overlaps[seed % len(overlaps)]
        config = SimulationConfig(
            seed=seed, num_speakers=2 + seed % 3, num_sentences=30, overlap_ratio=overlap, num_mics=channels
        )
        pieces.append(simulate_meeting(config, session_id=f"tile{seed}").audio)
    target = int(minutes * 60 * 16000)
    written = 0
    with sf.SoundFile(str(path), "w", samplerate=16000, channels=channels, subtype="PCM_16") as out:
        index = 0
        while written < target:
            block = pieces[index % len(pieces)][:, : target - written]
            out.write(block.T)
            written += block.shape[1]
            index += 1
    return written / 16000


def child_environment() -> dict[str, str]:
    """This process's environment, with the meetsep it imported first on ``PYTHONPATH``: a child runs the
    checkout being benchmarked, whichever one the current folder or the installed package holds."""
    import meetsep

    root = str(Path(meetsep.__file__).resolve().parent.parent)
    rest = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path and path != root]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([root, *rest]))


def run(code: str, path: Path, overrides: list[str]) -> dict[str, object]:
    """``code`` in a new process, with the meetsep this process imported (``-P``: ``python -c`` would
    otherwise put the current folder first, maybe another checkout than the one benchmarked)."""
    result = subprocess.run(
        [sys.executable, "-P", "-c", code, str(path), *overrides],
        capture_output=True,
        text=True,
        check=True,
        env=child_environment(),
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def accuracy_run(sessions: list[Path], out: Path, overrides: list[str]) -> dict[str, object]:
    """``pipelines/benchmark.py``'s own run and scoring of ``sessions`` of the generalization corpus with
    configuration b_meetsep (the defaults) plus ``overrides``: its total (meetings, cpwer, der, ...)."""
    command = [sys.executable, str(Path(__file__).resolve().parent / "benchmark.py"), "--corpus", "generalization"]
    command += ["--configs", "b_meetsep", "--out", str(out), "--sessions", ",".join(s.name for s in sessions)]
    for override in overrides:
        command += ["--set", override]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=child_environment())  # its table: not here
    return json.loads((out / "results.json").read_text())["b_meetsep"]["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", default="60,120")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument(
        "--baseline",
        default=None,
        help='lengths (minutes) at which plain faster-whisper runs too (default: all; "": none)',
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--pairs", type=int, default=1, help="runs of each, alternating pair by pair")
    parser.add_argument(
        "--overlaps", default="0.1", help="overlap ratios of the tiled meetings, in turn (e.g. 0,0.2,0.4,0.1,0.3)"
    )
    parser.add_argument("--out", type=Path, default=Path("build/bench_long"))
    parser.add_argument(
        "--accuracy", type=int, default=4, help="held-out generalization meetings scored with the same code (0: none)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    baseline = None if args.baseline is None else {float(m) for m in args.baseline.split(",") if m}
    overlaps = [float(x) for x in args.overlaps.split(",")]
    tag = "" if overlaps == [0.1] else "_overlap" + "-".join(f"{x:g}" for x in overlaps)
    for minutes in (float(m) for m in args.minutes.split(",")):
        path = args.out / f"long_{minutes:g}min_{args.channels}ch{tag}.wav"
        if not path.is_file():
            build(path, minutes, args.channels, args.seeds, overlaps)
        seconds = sf.info(str(path)).frames / 16000
        with_baseline = baseline is None or minutes in baseline
        ours_runs: list[dict] = []
        plain_runs: list[dict] = []
        for pair in range(args.pairs):
            order = [(CHILD_MEETSEP, ours_runs), (CHILD_FASTER_WHISPER, plain_runs)][:: 1 if pair % 2 == 0 else -1]
            for code, runs in order:
                if runs is ours_runs or with_baseline:
                    runs.append(run(code, path, args.overrides))
        rows.append(
            dict(
                minutes=minutes,
                audio_seconds=seconds,
                raw_float32_mb=seconds * 16000 * args.channels * 4 / 1e6,
                meetsep=median_run(ours_runs),
                faster_whisper=median_run(plain_runs) if plain_runs else None,
                meetsep_walls=[r["wall"] for r in ours_runs],
                faster_whisper_walls=[r["wall"] for r in plain_runs],
            )
        )
        print(f"{minutes:g} min done", file=sys.stderr, flush=True)
    print_table(rows)
    accuracy = None
    if args.accuracy:
        # the same code and overrides on a few held-out generalization meetings: speed never silently costs accuracy
        from meetsep.sim.corpora import make_corpus

        sessions = [
            s
            for s in make_corpus("generalization", Path("build/corpus/generalization"))
            if s.name.startswith("heldout")
        ]
        chosen = sessions[:: max(1, len(sessions) // args.accuracy)][: args.accuracy]
        result = accuracy_run(chosen, args.out / "accuracy", args.overrides)
        accuracy = dict(meetings=result["meetings"], cpwer=result["cpwer"], der=result["der"])
        print(
            f"\naccuracy on {accuracy['meetings']} held-out generalization meetings ({', '.join(c.name for c in chosen)}): "
            f"cpWER {100 * accuracy['cpwer']:.1f} %, DER {100 * accuracy['der']:.1f} %"
        )
    (args.out / "results.json").write_text(json.dumps(dict(rows=rows, accuracy=accuracy), indent=2) + "\n")


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (the lower middle one of an even number)."""
    return sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]


def print_table(rows: list[dict]) -> None:
    """Memory and time side by side ('-' where plain faster-whisper did not run), per-stage times, memory growth."""
    print(
        f"\n{'length':>8}{'raw f32 MB':>12}{'meetsep MB':>12}{'fw MB':>8}{'meetsep s':>11}{'fw s':>8}{'ratio':>7}{'meetsep RTF':>13}{'fw RTF':>8}"
    )
    for row in rows:
        ours, plain, seconds = row["meetsep"], row["faster_whisper"], row["audio_seconds"]
        fw_mb, fw_s, ratio, fw_rtf = (
            ("-", "-", "-", "-")
            if plain is None
            else (
                f"{plain['peak_mb']:.0f}",
                f"{plain['wall']:.0f}",
                f"{ours['wall'] / plain['wall']:.2f}",
                f"{plain['wall'] / seconds:.3f}",
            )
        )
        print(
            f"{row['minutes']:>7g}m{row['raw_float32_mb']:>12.0f}{ours['peak_mb']:>12.0f}{fw_mb:>8}{ours['wall']:>11.0f}"
            f"{fw_s:>8}{ratio:>7}{ours['wall'] / seconds:>13.3f}{fw_rtf:>8}"
        )
    if any(len(row["meetsep_walls"]) > 1 for row in rows):
        print("\nalternating pairs: wall time (s), minimum / median, and the ratio of the medians")
        for row in rows:
            ours, plain = sorted(row["meetsep_walls"]), sorted(row["faster_whisper_walls"])
            line = f"{row['minutes']:>7g}m  meetsep {ours[0]:.0f} / {row['meetsep']['wall']:.0f} ({len(ours)} runs)"
            if plain:
                ratio = row["meetsep"]["wall"] / row["faster_whisper"]["wall"]
                line += f"  faster-whisper {plain[0]:.0f} / {row['faster_whisper']['wall']:.0f}  ratio {ratio:.2f}"
            print(line + "  all: " + ", ".join(f"{w:.0f}" for w in row["meetsep_walls"] + row["faster_whisper_walls"]))
    print("\nmeetsep per-stage wall time (s), and RTF")
    for row in rows:
        stages = row["meetsep"]["stages"].items()
        print(
            f"{row['minutes']:>7g}m  " + "  ".join(f"{k} {v:.0f} ({v / row['audio_seconds']:.3f})" for k, v in stages)
        )
    print("\nmeetsep peak resident memory (MB) per stage and between stages")
    for row in rows:
        peaks = row["meetsep"]["stage_peak_mb"].items()
        print(f"{row['minutes']:>7g}m  " + "  ".join(f"{k} {v:.0f}" for k, v in peaks))
    if len(rows) > 1:
        growth = rows[-1]["meetsep"]["peak_mb"] / rows[0]["meetsep"]["peak_mb"] - 1
        print(f"\npeak memory growth {rows[0]['minutes']:g} → {rows[-1]['minutes']:g} min: {100 * growth:+.0f} %")


if __name__ == "__main__":
    main()
