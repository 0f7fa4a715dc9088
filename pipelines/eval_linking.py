"""One voice across an archive: pairwise F1 of linking the speakers of a few hundred simulated calls.

An archive of ``--calls`` two-person phone calls (8 kHz mono, telephone band, each person through a codec
or line of the simulator, 10-18 turns, 0-15 % overlap, about 25-45 s each) of the real voices of one split
(:mod:`meetsep.sim.real_speech`; ``heldout``: Allison, June, the IVR voice, the Colombian voice), each
call's two people drawn from the split's pool. Every call is diarized (its reference, or meetsep's own
diarization: ``Pipeline.diarize``), each diarized speaker gets the voiceprint ``meetsep batch
--link-speakers`` keeps (:func:`meetsep.stages.identify.speaker_voiceprints`), and the archive is linked
as ``meetsep link`` links it (:func:`meetsep.analysis.linking.link_voices`). Scored as pairs of speakers:
two speakers linked into one voice are right when they are the same person (a diarized speaker is the
person whose speech it covers most), precision, recall and F1 over all pairs.

A split has few real people, so its utterances recur across the archive (each call draws its lines
anew; a line can be in several calls, through another channel, pace, loudness and noise each time).

In this archive every two people of the split talk together in some call, and two speakers of one
recording never link, so that rule alone keeps any two people apart. Two more yardsticks take that help
away, as a real archive does (a call center's customers never call each other):

- **fixed partners**: the sub-archives in which each person only ever talks with one partner (every
  way of pairing the split's people; the calls of those pairs), scores averaged over them;
- **strangers**: each person in turn is heard in one call only (the archive without their other
  calls; ``STRANGER_CALLS`` of their calls in turn): the share of such one-time speakers linked to
  anyone, who should stay a voice of their own.

    python pipelines/eval_linking.py --split heldout --calls 200 --diarization pipeline
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from eval_speakers import archive_speakers, diarized_voiceprints, hypothesis_owner, identity, link_line, link_scores

from meetsep import Pipeline, load_config
from meetsep.analysis.linking import link_voices
from meetsep.sim.corpora import CALL_OVERLAPS
from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting
from meetsep.sim.tts import FAMILIES

SEED = {"dev": 7000, "heldout": 8000}  # first call's seed; call i has SEED + i
STRANGER_CALLS = 15  # calls of each person heard, one at a time, as a stranger's only call
PAIRED_PEOPLE = 10  # fixed partners for at most this many people (945 pairings; a TTS archive's new people: none)


def make_call(folder: Path, split: str, index: int, family: str = "real") -> Path:
    """Call ``index`` of the split's archive (of ``family``'s voices), simulated once into ``folder``."""
    target = folder / (f"{split}_call_{index:03d}" if family == "real" else f"{split}_{family}_call_{index:03d}")
    if (target / "meta.json").is_file():
        return target
    config = SimulationConfig(
        seed=SEED[split] + index,
        mode="phone-call",
        family=family,
        sentences=split,
        num_sentences=10 + 2 * (index % 5),
        overlap_ratio=CALL_OVERLAPS[index % len(CALL_OVERLAPS)],
        degrade=True,
        snr_db=(25.0, 20.0, 15.0)[index % 3],
    )
    write_meeting(simulate_meeting(config, session_id=target.name), target)
    return target


def measure_call(pipeline: Pipeline, call: Path, mode: str) -> dict[str, Any]:
    """The call's diarized speakers' voiceprints and who they are (the layout ``link_scores`` reads)."""
    meta = json.loads((call / "meta.json").read_text())
    diarization, prints, reference = diarized_voiceprints(pipeline, call, mode)
    owner, extra = hypothesis_owner(diarization, reference)
    people = {speaker: identity(voice) for speaker, voice in meta["voices"].items()}
    return {
        "session": call.name,
        "tests": prints,
        "owner": {people[r]: h for r, h in owner.items()},
        "extra": {h: people[r] for h, r in extra.items()},
        "speakers": len(diarization.speakers),
        "people": sorted(people.values()),
    }


def pairings(people: list[str]) -> Iterator[list[tuple[str, str]]]:
    """Every way of splitting ``people`` into pairs (with an odd number, one is left without a partner)."""
    if len(people) < 2:
        yield []
        return
    first, rest = people[0], people[1:]
    if len(people) % 2:
        yield from pairings(rest)  # the first is the one left alone
    for index, partner in enumerate(rest):
        for pairs in pairings(rest[:index] + rest[index + 1 :]):
            yield [(first, partner), *pairs]


def fixed_partner_scores(results: list[dict[str, Any]], threshold: float) -> dict[str, float] | None:
    """Pairwise precision, recall and F1 averaged over the sub-archives where each person only talks with
    one partner (see the module's docstring), and how many sub-archives and calls (fewest) there were;
    None with more than ``PAIRED_PEOPLE`` people (an archive of people heard once each)."""
    people = sorted({p for r in results for p in r["people"]})
    if len(people) > PAIRED_PEOPLE:
        return None
    rows, calls = [], []
    for pairs in pairings(people):
        allowed = {frozenset(pair) for pair in pairs}
        chosen = [r for r in results if frozenset(r["people"]) in allowed]
        if chosen:
            rows.append(link_scores(chosen, threshold))
            calls.append(len(chosen))
    mean = {key: float(np.mean([row[key] for row in rows])) for key in ("precision", "recall", "f1")}
    return dict(mean, archives=len(rows), calls=min(calls, default=0))


def stranger_share(results: list[dict[str, Any]], threshold: float) -> dict[str, float]:
    """The share of one-time speakers linked to anyone: each person in turn heard in one call only
    (``STRANGER_CALLS`` of their calls, evenly spread, one at a time; see the module's docstring)."""
    people = sorted({p for r in results for p in r["people"]})
    linked = heard = 0
    for person in people:
        theirs = [r for r in results if person in r["people"]]
        others = [r for r in results if person not in r["people"]]
        for call in theirs[:: max(1, len(theirs) // STRANGER_CALLS)][:STRANGER_CALLS]:
            speakers, truth = archive_speakers([*others, call])
            voices = link_voices(speakers, threshold)
            for index, speaker in enumerate(speakers):
                if speaker.recording == call["session"] and truth[index] == person:
                    heard += 1
                    linked += voices.count(voices[index]) > 1
    return dict(strangers=heard, linked=linked, share=linked / max(1, heard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=sorted(SEED), default="heldout")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--family",
        choices=["real", *sorted(FAMILIES)],
        default="real",
        help="whose voices (a TTS family's calls have new people each: for counting, not linking)",
    )
    parser.add_argument("--diarization", choices=["reference", "pipeline"], default="pipeline")
    parser.add_argument("--folder", type=Path, default=Path("build/linking"), help="calls and cached results")
    parser.add_argument("--thresholds", default="0.55,0.6,0.65,0.7,0.75,0.8")
    parser.add_argument("--out", type=Path, default=None, help="Write the scores as JSON here.")
    args = parser.parse_args()
    pipeline = Pipeline(load_config())
    results, began = [], time.perf_counter()
    for index in range(args.calls):
        call = make_call(args.folder / "calls", args.split, index, args.family)
        cached = args.folder / "results" / f"{args.diarization}-{call.name}.pkl"
        if cached.is_file():
            result = pickle.loads(cached.read_bytes())
        else:
            result = measure_call(pipeline, call, args.diarization)
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(pickle.dumps(result))
        results.append(result)
        if (index + 1) % 20 == 0:
            print(f"{index + 1} calls ({time.perf_counter() - began:.0f} s)", flush=True)
    people = sorted({p for r in results for p in r["people"]})
    exact = sum(r["speakers"] == len(r["people"]) for r in results)
    print(f"{len(results)} calls of {len(people)} people; speaker count exact in {exact}")
    table = []
    for threshold in (float(t) for t in args.thresholds.split(",")):
        row = link_scores(results, threshold)
        fixed = fixed_partner_scores(results, threshold)
        strangers = stranger_share(results, threshold)
        table.append(
            dict(
                split=args.split,
                diarization=args.diarization,
                calls=len(results),
                threshold=threshold,
                **row,
                fixed_partners=fixed,
                strangers=strangers,
            )
        )
        print(link_line(threshold, row))
        line = f"strangers linked to someone {100 * strangers['share']:.1f}% ({strangers['linked']}/{strangers['strangers']})"
        if fixed is not None:
            line = (
                f"fixed partners ({fixed['archives']} archives of {fixed['calls']}+ calls): precision "
                f"{100 * fixed['precision']:.1f}% recall {100 * fixed['recall']:.1f}% F1 {100 * fixed['f1']:.1f}%; {line}"
            )
        print(f"        {line}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
