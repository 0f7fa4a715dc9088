"""A transcript's analytics next to those of its reference (a simulation's exact SegLST).

Hypothesis speakers are matched to reference speakers by the most time their activity shares
(Hungarian assignment); call-center transcripts keep their agent/customer names. Prints a table,
or Markdown with ``--markdown``.

    python pipelines/analytics_vs_reference.py OUT/mix.json examples/meeting/reference.seglst.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from meetsep.analysis.analytics import Analytics, call_roles, from_reference, stored_or_computed
from meetsep.core.intervals import overlap_seconds
from meetsep.io.formats import read_transcript


def match_speakers(transcript_segments: list, reference: list[dict]) -> dict[str, str]:
    """Hypothesis speaker -> reference speaker, by shared activity time."""
    from scipy.optimize import linear_sum_assignment

    hypothesis = sorted({s.speaker for s in transcript_segments})
    truth = sorted({e["speaker"] for e in reference})
    shared = np.zeros((len(hypothesis), len(truth)))
    for i, name in enumerate(hypothesis):
        spans = [(s.start, s.end) for s in transcript_segments if s.speaker == name]
        for j, other in enumerate(truth):
            shared[i, j] = sum(
                overlap_seconds(e["start_time"], e["end_time"], spans) for e in reference if e["speaker"] == other
            )
    rows, columns = linear_sum_assignment(-shared)
    return {hypothesis[i]: truth[j] for i, j in zip(rows, columns)}


def measures(analytics: Analytics, names: dict[str, str]) -> dict[str, object]:
    found: dict[str, object] = {
        "speech (s)": analytics.speech_seconds,
        "silence (s)": analytics.silence_seconds,
        "overlapped speech (s)": analytics.overlap_seconds,
        "overtalk events": analytics.overtalk.count,
        "overtalk total (s)": analytics.overtalk.total_seconds,
        "overtalk longest (s)": analytics.overtalk.longest_seconds,
        "interruptions": analytics.overtalk.interruptions,
        f"dead air ≥ {analytics.dead_air.threshold_seconds:g} s: count": analytics.dead_air.count,
        "dead air total (s)": analytics.dead_air.total_seconds,
    }
    if analytics.roles:
        found["agent talk / customer talk"] = analytics.agent_talk_to_listen
    for stats in sorted(analytics.speakers, key=lambda s: names.get(s.speaker, s.speaker)):
        who = names.get(stats.speaker, stats.speaker)
        found[f"{who}: talk (s)"] = stats.talk_seconds
        found[f"{who}: share"] = stats.share
        found[f"{who}: words"] = stats.words
        found[f"{who}: words/min"] = stats.words_per_minute
        found[f"{who}: turns"] = stats.turns
        found[f"{who}: longest monologue (s)"] = stats.longest_monologue
        latencies = [x for x in analytics.response_latency if x.responder == stats.speaker]
        count = sum(x.count for x in latencies)
        found[f"{who}: response latency mean (s)"] = (
            round(sum(x.mean_seconds * x.count for x in latencies) / count, 3) if count else None
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("transcript", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    transcript = read_transcript(args.transcript)
    reference = json.loads(args.reference.read_text())
    hypothesis = stored_or_computed(transcript)
    roles = call_roles(transcript)
    truth = from_reference(reference, duration=transcript.duration, roles=roles)
    names = {s: s for s in transcript.speakers} if roles else match_speakers(transcript.diarization, reference)
    ours, theirs = measures(hypothesis, names), measures(truth, {})
    print(f"# {args.transcript} ({hypothesis.source}) vs {args.reference}; speakers: {names}")
    if args.markdown:
        print("| measure | from the transcript | from the reference |\n|---|---|---|")
    for key in dict.fromkeys([*theirs, *ours]):
        left, right = ours.get(key, "–"), theirs.get(key, "–")
        print(f"| {key} | {left} | {right} |" if args.markdown else f"{key:<40} {left!s:>12} {right!s:>12}")


if __name__ == "__main__":
    main()
