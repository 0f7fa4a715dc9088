"""Live transcription measured: word latency as audio arrives in real time, and words and speakers next to offline.

Each session's mixture is fed to a :class:`meetsep.streaming.LiveSession` in 0.5 s chunks as a live
source delivers them. Time is kept on a virtual clock that is exactly what a real-time run would see,
without waiting through the idle moments: chunk k arrives at ``(k + 1) * 0.5`` s; the session starts on
it when it has arrived and the previous chunk's work is done, and its work takes the seconds it really
takes on this machine. A final word's latency is the virtual time its event was made minus the end of the
word in the audio. The live words (``final="online"``) are scored like the offline pipeline's (cpWER,
DER) and put next to the offline result of the same sessions (``--offline DIR``: a benchmark run's
``b_meetsep`` folder of ``<session>.seglst.json``; the end transcript of a live session with
``final="offline"`` *is* the offline one).

    python pipelines/bench_live.py --corpus real --sessions heldout_real_call_06,heldout_real_meeting_06 \\
        --offline build/benchmark/real-heldout/b_meetsep
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from meetsep import Pipeline, load_config
from meetsep.analysis.evaluate import load_segments, score_files, score_session, total
from meetsep.io.formats import diarization_entries, seglst_entries
from meetsep.streaming import LiveSession

CHUNK = 0.5  # s of audio per chunk, as a live source would deliver it


class VirtualClock:
    """Real-time seconds as the stream's source sees them (see the module's docstring)."""

    def __init__(self) -> None:
        self.begin, self.started = 0.0, time.monotonic()

    def start(self, arrival: float, busy_until: float) -> None:
        self.begin, self.started = max(arrival, busy_until), time.monotonic()

    def __call__(self) -> float:
        return self.begin + time.monotonic() - self.started


def play(
    pipeline: Pipeline, path: Path, session_id: str, step: float, margin: float
) -> tuple[list[float], float, dict, float]:
    """Feed one recording in real time; returns final words' latencies, the virtual time the last event was
    made, the online transcript's SegLST and diarization entries, and the audio's length (s)."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    clock = VirtualClock()
    session = LiveSession(
        pipeline,
        sample_rate=rate,
        channels=audio.shape[1],
        final="online",
        session_id=session_id,
        clock=clock,
        step=step,
        margin=margin,
    )
    latencies: list[float] = []
    busy = 0.0
    size = int(CHUNK * rate)
    for index, first in enumerate(range(0, len(audio), size)):
        clock.start((index + 1) * CHUNK, busy)
        for event in session.feed(audio[first : first + size].T):
            if event.type == "final":
                latencies += [event.emitted - word.end for word in event.words]
        busy = clock()
    clock.start(len(audio) / rate, busy)
    events, transcript = session.finish()
    latencies += [e.emitted - w.end for e in events if e.type == "final" for w in e.words]
    hypothesis = {"seglst": seglst_entries(transcript), "diarization": diarization_entries(transcript)}
    return latencies, clock(), hypothesis, len(audio) / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("build/corpus"))
    parser.add_argument("--corpus", default="real")
    parser.add_argument("--sessions", required=True, help="Comma-separated session ids.")
    parser.add_argument("--offline", type=Path, default=None, help="Folder of the offline <session>.seglst.json.")
    parser.add_argument("--step", type=float, default=2.0)
    parser.add_argument("--margin", type=float, default=2.0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Config override.")
    parser.add_argument("--out", type=Path, default=None, help="Write the rows as JSON here.")
    args = parser.parse_args()
    pipeline = Pipeline(load_config([], args.overrides))
    rows, live_scores, offline_scores, every = [], [], [], []
    for session_id in args.sessions.split(","):
        folder = args.corpus_dir / args.corpus / session_id
        latencies, ended, hypothesis, seconds = play(pipeline, folder / "mix.flac", session_id, args.step, args.margin)
        every += latencies
        reference = load_segments(folder / "reference.seglst.json")
        live = score_session(reference, hypothesis["seglst"], hypothesis["diarization"], session_id)
        live_scores.append(live)
        row = dict(
            session=session_id,
            seconds=round(seconds, 1),
            words=len(latencies),
            latency_p50=round(float(np.percentile(latencies, 50)), 2) if latencies else None,
            latency_p95=round(float(np.percentile(latencies, 95)), 2) if latencies else None,
            behind_at_end=round(ended - seconds, 2),
            live_cpwer=round(100 * live.cpwer, 1),
            live_orcwer=round(100 * live.orcwer, 1),
            live_der=round(100 * live.der, 1) if live.der is not None else None,
            live_speakers=live.hypothesis_speakers,
            reference_speakers=live.reference_speakers,
        )
        if args.offline is not None:
            offline = score_files(folder / "reference.seglst.json", args.offline / f"{session_id}.seglst.json")
            offline_scores.append(offline)
            row.update(
                offline_cpwer=round(100 * offline.cpwer, 1),
                offline_orcwer=round(100 * offline.orcwer, 1),
                offline_der=round(100 * offline.der, 1),
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = dict(
        session="TOTAL",
        words=len(every),
        latency_p50=round(float(np.percentile(every, 50)), 2),
        latency_p95=round(float(np.percentile(every, 95)), 2),
        live_cpwer=round(100 * total(live_scores).cpwer, 1),
        live_orcwer=round(100 * total(live_scores).orcwer, 1),
        live_der=round(100 * (total(live_scores).der or 0.0), 1),
    )
    if offline_scores:
        summary.update(
            offline_cpwer=round(100 * total(offline_scores).cpwer, 1),
            offline_orcwer=round(100 * total(offline_scores).orcwer, 1),
            offline_der=round(100 * (total(offline_scores).der or 0.0), 1),
        )
    rows.append(summary)
    print(json.dumps(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
