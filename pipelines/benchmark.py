"""Compare configurations side by side on one simulated corpus: cpWER, tcpWER, DER, speaker count, RTF, memory.

Configurations (each in its own process, so peak memory and model loading are its own):

- ``a_one_channel``: Whisper on one microphone + diarization, each word to the speaker active at its
  time — how WhisperX works (``beamform.kind=reference``, ``separate.kind=none``).
- ``b_average_nosep``: the meetsep chain without separation (channels averaged; ablation).
- ``b_mvdr``: MVDR beam per diarized speaker, ASR per speaker stream, no separation network (ablation).
- ``b_convtasnet``: channels averaged, overlapped regions separated by the shipped single-channel
  Conv-TasNet, ASR per speaker stream (single-channel separation alone).
- ``b_gss``: guided source separation (cACGMM masks + MVDR per speaker segment; spatial separation).
- ``b_meetsep``: the meetsep chain with its defaults (the full chain).
- ``c_oracle``: the same Whisper on each speaker's own reverberant image at the reference mic, on the
  reference speech regions, words given to the true speaker — the floor no system can beat here.
- ``d_peer_senko`` (when the ``senko`` diarizer and its dependencies are installed): senko's
  diarization, with the same Whisper on the reference mic and the same word-to-speaker rule as (a).

    python pipelines/benchmark.py --corpus ci          # seconds; used by the tests
    python pipelines/benchmark.py --corpus standard    # 20 meetings, 30+ minutes, 0-40 % overlap, 2-5 speakers

Prints one table (rows: configurations), then cpWER by overlap ratio; saves results.json and
results.csv next to the hypotheses under --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, Any]] = {
    "a_one_channel": {"beamform.kind": "reference", "separate.kind": "none"},
    "b_average_nosep": {"beamform.kind": "average", "separate.kind": "none"},
    "b_mvdr": {"beamform.kind": "mvdr", "separate.kind": "none"},
    "b_convtasnet": {"beamform.kind": "average", "separate.kind": "convtasnet"},
    "b_gss": {"beamform.kind": "average", "separate.kind": "gss"},
    "b_meetsep": {},
    "c_oracle": {},
    "d_peer_senko": {"beamform.kind": "reference", "separate.kind": "none"},
}


def corpus_plan(name: str) -> list[dict[str, Any]]:
    """The meetings of a corpus: simulation settings per meeting (deterministic)."""
    if name == "ci":
        return [
            dict(session_id="ci_00", seed=1, num_speakers=2, overlap_ratio=0.0, num_sentences=4),
            dict(session_id="ci_01", seed=2, num_speakers=2, overlap_ratio=0.3, num_sentences=4),
        ]
    if name == "standard":
        plan = []
        for index in range(20):
            plan.append(
                dict(
                    session_id=f"std_{index:02d}",
                    seed=100 + index,
                    num_speakers=2 + index % 4,
                    overlap_ratio=[0.0, 0.1, 0.2, 0.3, 0.4][index % 5],
                    num_sentences=32,
                )
            )
        return plan
    raise SystemExit(f"unknown corpus {name!r} (ci, standard)")


def make_corpus(name: str, folder: Path, only: set[str] | None = None) -> list[Path]:
    """Simulate the meetings of the corpus (all, or those in ``only``) into ``folder/<session>/``.

    A meeting already simulated with the same settings is kept.
    """
    from meetsep.simulate import SimulationConfig, simulate_meeting, write_meeting

    sessions = []
    for entry in corpus_plan(name):
        if only is not None and entry["session_id"] not in only:
            continue
        target = folder / entry["session_id"]
        settings = {k: v for k, v in entry.items() if k != "session_id"}
        marker = target / "meta.json"
        if not marker.is_file() or json.loads(marker.read_text()).get("plan") != settings:
            meeting = simulate_meeting(SimulationConfig(**settings), session_id=entry["session_id"])
            meeting.metadata["plan"] = settings
            write_meeting(meeting, target)
        sessions.append(target)
    return sessions


# ---------------------------------------------------------------------------- one configuration (child process)


def run_configuration(name: str, sessions: list[Path], out: Path, overrides: list[str]) -> None:
    """Transcribe every session with one configuration; write hypotheses and timing.json."""
    import meetsep
    from meetsep.formats import diarization_entries, seglst_entries
    from meetsep.hooks import TimingHook

    out.mkdir(parents=True, exist_ok=True)
    config = meetsep.load_config([], [f"{k}={v}" for k, v in CONFIGS[name].items()] + overrides)
    timing = TimingHook()
    audio_seconds, wall = 0.0, 0.0
    pipeline = None if name in ("c_oracle", "d_peer_senko") else meetsep.Pipeline(config)
    for session in sessions:
        began = time.perf_counter()
        if pipeline is not None:
            transcript = pipeline(session / "mix.flac", layout="array", session_id=session.name, hook=timing)
            entries, diarization = seglst_entries(transcript), diarization_entries(transcript)
            duration = transcript.duration
        elif name == "c_oracle":
            entries, diarization, duration = _oracle(session, config)
        else:
            entries, diarization, duration = _peer_senko(session, config, timing)
        wall += time.perf_counter() - began
        audio_seconds += duration
        (out / f"{session.name}.seglst.json").write_text(json.dumps(entries, indent=1))
        (out / f"{session.name}.diarization.json").write_text(json.dumps(diarization))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (out / "timing.json").write_text(
        json.dumps(dict(wall=wall, audio_seconds=audio_seconds, stages=dict(timing.seconds), peak_mb=peak_mb))
    )


def _oracle(session: Path, config: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    import soundfile as sf

    from meetsep.asr import Recognizer
    from meetsep.audio import resample
    from meetsep.formats import turn_entries
    from meetsep.types import Stream

    reference = json.loads((session / "reference.seglst.json").read_text())
    recognizer = Recognizer(config.asr, config.runtime)
    streams = []
    for image in sorted((session / "speakers").glob("*.flac")):
        audio, rate = sf.read(str(image), dtype="float32")
        regions = [(e["start_time"], e["end_time"]) for e in reference if e["speaker"] == image.stem]
        streams.append(Stream(resample(audio, rate, 16000), 16000, image.stem, image.stem, regions))
    words = recognizer(streams).words
    from meetsep.transcript import build_turns
    from meetsep.types import Word

    turns = build_turns(
        [
            Word(text=w.text, start=w.start, end=w.end, speaker=w.speaker or "?", probability=w.probability)
            for w in words
        ]
    )
    entries = turn_entries(session.name, turns)
    diarization = [dict(speaker=e["speaker"], start_time=e["start_time"], end_time=e["end_time"]) for e in reference]
    info = sf.info(str(session / "mix.flac"))
    return entries, diarization, info.frames / info.samplerate


def _peer_senko(session: Path, config: Any, timing: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """senko's diarization + the same Whisper on the reference mic, words to the active speaker."""
    import tempfile

    import senko  # noqa: F401  (the peer system; optional)
    import soundfile as sf

    from meetsep.asr import Recognizer
    from meetsep.assign import assign_words
    from meetsep.audio import resample
    from meetsep.formats import diarization_entries, seglst_entries
    from meetsep.intervals import overlapping_parts
    from meetsep.transcript import build_transcript
    from meetsep.types import ChannelLayout, Diarization, SpeakerSegment, Stream

    audio, rate = sf.read(str(session / "mix.flac"), dtype="float32", always_2d=True)
    mono = resample(audio[:, 0], rate, 16000)
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        sf.write(handle.name, mono, 16000, subtype="PCM_16")
        diarizer = _senko_diarizer()
        result = diarizer.diarize(handle.name)
    segments = [
        SpeakerSegment(speaker=str(s["speaker"]), start=float(s["start"]), end=float(s["end"]))
        for s in (result or {}).get("merged_segments", [])
    ]
    diarization = Diarization(segments, segments, overlapping_parts(segments))
    recognizer = Recognizer(config.asr, config.runtime)
    regions = [(s.start, s.end) for s in segments]
    words = recognizer([Stream(mono, 16000, "mix", regions=regions)]).words
    transcript = build_transcript(
        session_id=session.name,
        duration=len(mono) / 16000,
        layout=ChannelLayout.MONO,
        language=None,
        diarization=diarization,
        words=assign_words(words, diarization),
        config_hash="peer",
    )
    return seglst_entries(transcript), diarization_entries(transcript), len(mono) / 16000


_SENKO: Any = None


def _senko_diarizer() -> Any:
    global _SENKO
    if _SENKO is None:
        import senko

        _SENKO = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    return _SENKO


# ---------------------------------------------------------------------------- scoring and the table


def score(sessions: list[Path], out: Path) -> dict[str, Any]:
    from meetsep.evaluate import score_session, total

    rows = []
    for session in sessions:
        reference = json.loads((session / "reference.seglst.json").read_text())
        hypothesis = json.loads((out / f"{session.name}.seglst.json").read_text())
        diarization = json.loads((out / f"{session.name}.diarization.json").read_text())
        scores = score_session(reference, hypothesis, diarization, session_id=session.name)
        meta = json.loads((session / "meta.json").read_text())
        rows.append(
            (
                scores,
                round(float(meta.get("overlap_ratio", meta.get("plan", {}).get("overlap_ratio", 0.0))), 2),
                meta.get("plan", {}),
            )
        )
    overall = total([r[0] for r in rows])
    by_overlap: dict[str, Any] = {}
    for target in sorted({r[2].get("overlap_ratio", 0.0) for r in rows}):
        group = total([r[0] for r in rows if r[2].get("overlap_ratio", 0.0) == target])
        by_overlap[f"{int(round(100 * target))}%"] = dict(cpwer=group.cpwer, tcpwer=group.tcpwer, der=group.der)
    return dict(
        total=overall.as_dict(),
        by_overlap=by_overlap,
        sessions=[dict(r[0].as_dict(), measured_overlap=r[1]) for r in rows],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="ci", choices=["ci", "standard"])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of: " + ", ".join(CONFIGS))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="applied to every configuration",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--sessions", default=None, help="only these session ids (comma-separated), e.g. for a quick re-check"
    )
    parser.add_argument("--run-config", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = args.out or Path("build/benchmark") / args.corpus
    corpus_dir = Path("build/corpus") / args.corpus
    chosen = set(args.sessions.split(",")) if args.sessions else None
    if args.run_config:
        found = sorted(p for p in corpus_dir.iterdir() if p.is_dir() and (chosen is None or p.name in chosen))
        run_configuration(args.run_config, found, out / args.run_config, args.overrides)
        return

    began = time.perf_counter()
    sessions = make_corpus(args.corpus, corpus_dir, chosen)
    total_minutes = sum(json.loads((s / "meta.json").read_text()).get("duration", 0.0) for s in sessions) / 60
    print(
        f"corpus {args.corpus}: {len(sessions)} meetings, {total_minutes:.1f} min, simulated in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    results = {}
    for name in args.configs.split(","):
        if name == "d_peer_senko" and not _senko_available():
            print(f"{name}: skipped (senko's diarizer or its dependencies are not installed)", flush=True)
            continue
        command = [sys.executable, __file__, "--corpus", args.corpus, "--out", str(out), "--run-config", name]
        if args.sessions:
            command += ["--sessions", args.sessions]
        for override in args.overrides:
            command += ["--set", override]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        timing = json.loads((out / name / "timing.json").read_text())
        results[name] = dict(
            score(sessions, out / name),
            rtf=timing["wall"] / timing["audio_seconds"],
            peak_mb=timing["peak_mb"],
            stages={k: v / timing["audio_seconds"] for k, v in timing["stages"].items()},
        )
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    print_table(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    with open(out / "results.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        overlaps = sorted({k for r in results.values() for k in r["by_overlap"]}, key=lambda k: int(k[:-1]))
        writer.writerow(
            [
                "config",
                "cpwer",
                "tcpwer",
                "der",
                "speaker_count_error",
                "rtf",
                "peak_mb",
                *[f"cpwer_{o}" for o in overlaps],
            ]
        )
        for name, r in results.items():
            t = r["total"]
            writer.writerow(
                [
                    name,
                    t["cpwer"],
                    t["tcpwer"],
                    t["der"],
                    t["speaker_count_error"],
                    r["rtf"],
                    r["peak_mb"],
                    *[r["by_overlap"].get(o, {}).get("cpwer") for o in overlaps],
                ]
            )
    print(f"\nwall time of the whole run: {time.perf_counter() - began:.0f} s; results in {out}")


def _senko_available() -> bool:
    try:
        import senko  # noqa: F401
    except Exception:
        return False
    return True


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'configuration':<16}{'cpWER':>8}{'tcpWER':>8}{'DER':>8}{'spk err':>9}{'RTF':>7}{'peak MB':>9}")
    for name, r in results.items():
        t = r["total"]
        der = "-" if t["der"] is None else f"{100 * t['der']:.1f}"
        print(
            f"{name:<16}{100 * t['cpwer']:>8.1f}{100 * t['tcpwer']:>8.1f}{der:>8}{t['speaker_count_error']:>9}{r['rtf']:>7.2f}{r['peak_mb']:>9.0f}"
        )
    overlaps = sorted({k for r in results.values() for k in r["by_overlap"]}, key=lambda k: int(k[:-1]))
    print("\ncpWER by overlap ratio (target of the simulation)")
    print(f"{'configuration':<16}" + "".join(f"{o:>8}" for o in overlaps))
    for name, r in results.items():
        print(
            f"{name:<16}"
            + "".join(
                f"{100 * r['by_overlap'][o]['cpwer']:>8.1f}" if o in r["by_overlap"] else f"{'-':>8}" for o in overlaps
            )
        )
    print("\nper-stage RTF (seconds of work per second of audio)")
    for name, r in results.items():
        print(f"{name:<16}" + "  ".join(f"{k} {v:.3f}" for k, v in r["stages"].items()))


if __name__ == "__main__":
    main()
