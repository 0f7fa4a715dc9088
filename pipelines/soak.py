"""Soak: one ``Pipeline`` object transcribes many short files in one process; does memory creep?

Simulates ``--distinct`` short meetings (meetsep's simulator: TTS voices in simulated rooms, 2
speakers, ``--sentences`` sentences, some overlap, ``--mics`` microphones), writes them as
``--files`` separate files (the meetings cycled, so every file is its own path), then transcribes
them one after another with the same ``meetsep.Pipeline``, as a batch worker or a long-lived
service does. Resident memory (VmRSS, after a garbage collection) is printed every ``--every``
files; the figure that matters is the growth from file 20 (models loaded, caches warm) to the last
file, which should stay within 5 %.

    nice -n 10 python pipelines/soak.py --files 200 --set asr.model=tiny.en --set asr.beam_size=1
"""

from __future__ import annotations

import argparse
import gc
import re
import tempfile
import time
from pathlib import Path


def resident_mb() -> float:
    """This process's resident memory now (not the peak), in MB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def make_files(folder: Path, files: int, distinct: int, sentences: int, mics: int) -> list[Path]:
    """``files`` FLAC files cycling through ``distinct`` simulated meetings; returns their paths."""
    import shutil

    from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

    sources = []
    for seed in range(distinct):
        meeting = simulate_meeting(
            SimulationConfig(seed=seed, num_speakers=2, num_sentences=sentences, overlap_ratio=0.2, num_mics=mics)
        )
        sources.append(write_meeting(meeting, folder / f"meeting{seed:03d}")["mix"])
    paths = []
    for index in range(files):
        path = folder / f"file{index:04d}.flac"
        shutil.copyfile(sources[index % distinct], path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=20, help="Different simulated meetings among the files.")
    parser.add_argument("--sentences", type=int, default=2, help="Sentences per meeting (2: about 5 s).")
    parser.add_argument("--mics", type=int, default=4)
    parser.add_argument("--every", type=int, default=20, help="Print memory every N files.")
    parser.add_argument("--config", action="append", default=[], help="Config file or preset (repeatable).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    import meetsep

    config = meetsep.load_config(args.config, args.overrides)
    with tempfile.TemporaryDirectory(prefix="meetsep-soak-") as work:
        began = time.perf_counter()
        paths = make_files(Path(work), args.files, args.distinct, args.sentences, args.mics)
        print(f"made {len(paths)} files ({args.distinct} distinct meetings) in {time.perf_counter() - began:.0f} s")
        pipeline = meetsep.Pipeline(config)
        print(f"pipeline built: {resident_mb():.0f} MB resident")
        marks: dict[int, float] = {}
        audio_seconds, began = 0.0, time.perf_counter()
        for number, path in enumerate(paths, 1):
            transcript = pipeline(path)
            audio_seconds += transcript.duration
            if number % args.every == 0 or number == len(paths):
                gc.collect()
                marks[number] = resident_mb()
                print(
                    f"file {number:4d}: {marks[number]:7.1f} MB resident, "
                    f"{audio_seconds:.0f} s of audio in {time.perf_counter() - began:.0f} s"
                )
    first = min(args.every, len(paths))
    last = len(paths)
    growth = 100 * (marks[last] - marks[first]) / marks[first]
    print(
        f"resident memory: file {first} {marks[first]:.1f} MB, file {last} {marks[last]:.1f} MB, "
        f"growth {growth:+.2f} % (target: within 5 %)"
    )


if __name__ == "__main__":
    main()
