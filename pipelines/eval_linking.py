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

    python pipelines/eval_linking.py --split heldout --calls 200 --diarization pipeline
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path
from typing import Any

from eval_speakers import diarized_voiceprints, hypothesis_owner, identity, link_line, link_scores

from meetsep import Pipeline, load_config
from meetsep.sim.corpora import CALL_OVERLAPS
from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting
from meetsep.sim.tts import FAMILIES

SEED = {"dev": 7000, "heldout": 8000}  # first call's seed; call i has SEED + i


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
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65,0.7")
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
        table.append(
            dict(split=args.split, diarization=args.diarization, calls=len(results), threshold=threshold, **row)
        )
        print(link_line(threshold, row))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
