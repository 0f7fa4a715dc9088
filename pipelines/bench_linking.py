"""Linking a large archive: time and peak memory of ``meetsep link``'s clustering on synthetic voiceprints.

An archive of ``--recordings`` recordings of 3 speakers each: one of ``--agents`` voices that recur
(agents), and two voices heard once (customers). A voiceprint is its person's random 192-dimensional
direction plus noise (same person about 0.8 alike, different people about 0). The speakers are linked as
``meetsep link`` links them (:func:`meetsep.analysis.linking.link_voices`, ``attribute.link_threshold``),
in a fresh process per size; printed: seconds, the process's peak resident memory, voices found and
pairwise F1 against who they are (a check that the run did the work, not a yardstick: real voices are
far less separable, see ``pipelines/eval_linking.py``).

    python pipelines/bench_linking.py --recordings 1000,10000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, sys, time
import numpy as np
from meetsep import load_config
from meetsep.analysis.evaluate import pairwise_scores
from meetsep.analysis.linking import SpeakerVoice, link_voices
from meetsep.core.hooks import peak_resident_mb
recordings, agents = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
centres = rng.normal(size=(agents, 192))
speakers, truth = [], []
for recording in range(recordings):
    people = [("agent", int(rng.integers(agents))), ("customer", 2 * recording), ("customer", 2 * recording + 1)]
    for slot, person in enumerate(people):
        centre = centres[person[1]] if person[0] == "agent" else rng.normal(size=192)
        vector = centre / np.linalg.norm(centre) + 0.5 * rng.normal(size=192) / np.sqrt(192)
        speakers.append(SpeakerVoice(f"r{recording}", f"S{slot}", (vector / np.linalg.norm(vector)).astype(np.float32), 1.0))
        truth.append(person)
before = peak_resident_mb()
began = time.perf_counter()
voices = link_voices(speakers, load_config().attribute.link_threshold)
seconds = time.perf_counter() - began
scores = pairwise_scores(voices, truth)
print(json.dumps(dict(speakers=len(speakers), seconds=seconds, peak_mb=peak_resident_mb(), before_mb=before,
                      voices=len(set(voices)), people=len(set(truth)), f1=scores["f1"])))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", default="1000,10000")
    parser.add_argument("--agents", type=int, default=40)
    args = parser.parse_args()
    print(
        f"{'recordings':>10}{'speakers':>10}{'seconds':>9}{'peak MB':>9}{'(before)':>9}{'voices':>8}{'people':>8}{'F1':>7}"
    )
    for recordings in (int(r) for r in args.recordings.split(",")):
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(recordings), str(args.agents)], capture_output=True, text=True, check=True
        )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"{recordings:>10}{row['speakers']:>10}{row['seconds']:>9.1f}{row['peak_mb']:>9.0f}{row['before_mb']:>9.0f}"
            f"{row['voices']:>8}{row['people']:>8}{100 * row['f1']:>6.1f}%"
        )


if __name__ == "__main__":
    main()
