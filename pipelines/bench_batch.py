"""Batch throughput: audio hours per wall hour for jobs=1 and jobs=2, local and Ray, same files, one run.

Makes N short two-speaker recordings from the flite voices (deterministic), then runs
``meetsep batch`` over them with each engine/jobs setting into a fresh output folder, ``--rounds``
times (the settings' order reversed every other round, so that a drift of the machine does not favour
one), checks that every run produced identical outputs, and prints one table of minimum / median wall
seconds per setting (also saved as JSON).

    python pipelines/bench_batch.py --files 16 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from meetsep.batch.run import read_report
from meetsep.io.audio import resample

LINES = [
    ("slt", "Could you share the latest numbers with the whole team before Friday?"),
    ("awb", "Yes, I will send them this afternoon after the review meeting."),
    ("slt", "Great. Please also include the summary of the customer interviews."),
    ("awb", "Of course. The interviews went well and most people liked the new design."),
    ("slt", "Then we can plan the next release and talk to marketing next week."),
    ("awb", "I agree, let us put it on the agenda for Monday morning."),
]


def make_files(folder: Path, count: int, seconds: float) -> float:
    """Write ``count`` mono 16 kHz files of about ``seconds``; returns total audio seconds."""
    speech = {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (voice, text) in enumerate(LINES):
            path = Path(scratch) / f"{index}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
            audio, rate = sf.read(str(path), dtype="float32")
            speech[index] = resample(audio, rate, 16000)
    rng = np.random.default_rng(0)
    total = 0.0
    for number in range(count):
        pieces, cursor = [], 0.3
        while cursor < seconds - 1.0:
            index = int(rng.integers(len(LINES)))
            pieces.append((cursor, speech[index]))
            cursor += len(speech[index]) / 16000 + float(rng.uniform(0.2, 0.8))
        mix = np.zeros(int((cursor + 0.3) * 16000), dtype=np.float32)
        for start, audio in pieces:
            mix[int(start * 16000) : int(start * 16000) + len(audio)] += audio
        sf.write(str(folder / f"rec_{number:03d}.wav"), mix, 16000, subtype="PCM_16")
        total += len(mix) / 16000
    return total


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--settings", default="local:1,local:2,ray:1,ray:2", help="engine:jobs,...")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every setting, order reversed every other")
    parser.add_argument("--out", type=Path, default=Path("build/bench_batch"))
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    source = args.out / "audio"
    source.mkdir(parents=True)
    audio_seconds = make_files(source, args.files, args.seconds)
    settings = args.settings.split(",")
    runs: list[tuple[str, int, str]] = []  # (setting, round, folder)
    for number in range(args.rounds):
        order = settings if number % 2 == 0 else settings[::-1]
        runs += [(setting, number, f"{setting.replace(':', '_')}_round{number}") for setting in order]
    walls: dict[str, list[float]] = {setting: [] for setting in settings}
    rows, reference = [], None
    for setting, number, folder in runs:
        engine, jobs = setting.split(":")
        out = args.out / folder
        command = [
            sys.executable,
            "-m",
            "meetsep.cli.commands",
            "batch",
            str(source),
            "--out",
            str(out),
            "--jobs",
            jobs,
            "--engine",
            engine,
            "--format",
            "json",
            "--no-progress",
        ]
        for override in args.overrides:
            command += ["--set", override]
        began = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - began
        statuses = [r["status"] for r in read_report(out)]
        same = reference is None or outputs(out) == reference
        reference = reference or outputs(out)
        walls[setting].append(wall)
        rows.append(
            dict(
                engine=engine,
                jobs=int(jobs),
                round=number,
                files=args.files,
                ok=statuses.count("ok"),
                exit_code=result.returncode,
                audio_hours=round(audio_seconds / 3600, 4),
                wall_seconds=round(wall, 1),
                audio_hours_per_wall_hour=round(audio_seconds / wall, 1),
                identical_outputs=same,
            )
        )
        print(f"{setting} round {number} done in {wall:.1f} s", file=sys.stderr, flush=True)
    base = float(np.median(walls[settings[0]]))
    print(
        f"\n{args.files} files, {audio_seconds / 60:.1f} min of audio; "
        f"overrides: {' '.join(args.overrides) or 'none'}; {args.rounds} round(s)"
    )
    print(
        f"{'engine':<7}{'jobs':>5}{'ok':>9}{'wall s min / median':>22}"
        f"{'audio h / wall h':>18}{'speed-up':>10}{'same outputs':>14}"
    )
    for setting in settings:
        engine, jobs = setting.split(":")
        mine = [row for row in rows if f"{row['engine']}:{row['jobs']}" == setting]
        median = float(np.median(walls[setting]))
        ok = f"{min(row['ok'] for row in mine)}/{args.files}"
        same = all(row["identical_outputs"] and row["exit_code"] == 0 for row in mine)
        print(
            f"{engine:<7}{jobs:>5}{ok:>9}{min(walls[setting]):>11.1f} / {median:<8.1f}{audio_seconds / median:>18.1f}"
            f"{base / median:>9.2f}x{str(same):>14}"
        )
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
