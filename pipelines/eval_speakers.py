"""Named speakers measured: enrolled people named, strangers not, on the corpora's sessions.

For every session of a split (``--split dev`` to choose ``attribute.match_threshold``, ``heldout`` to report),
each diarized speaker's voiceprint is made as ``meetsep transcribe --speakers`` makes it
(:func:`meetsep.stages.identify.speaker_voiceprints`), from the session's reference diarization
(``--diarization reference``) or the pipeline's own (``pipeline``), and each person of the session gets
an enrollment of 10, 30 and 60 s of speech the session does not contain (other utterances of a real
voice; other sentences of a TTS voice, at the session's pitch and tempo), clean or through a telephone
channel (G.711 band and µ-law), and heard in rooms as ``meetsep enroll`` hears it. Enrollment speech is
given as the clips' spans (the clips are speech); ``meetsep enroll`` finds it with the segmentation instead.

Open-set protocol, per session and per person of it: that person is left out of the database (a
stranger) and every other person of the session is enrolled, with up to 8 distractors (people of other
sessions of the split). An enrolled person is named correctly when the diarized speaker that covers
most of their speech gets their name; a stranger is falsely accepted when their speaker gets any name;
diarized speakers that cover nobody's speech best (a real voice split in two) are counted apart.

    python pipelines/eval_speakers.py --split dev --diarization reference --out build/speakers/dev_ref.json
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from meetsep import Pipeline, load_config
from meetsep.analysis.evaluate import pairwise_scores
from meetsep.analysis.linking import SpeakerVoice, link_voices
from meetsep.core.intervals import overlapping_parts
from meetsep.core.records import Diarization, Voiceprint
from meetsep.enrollment import mono_signal
from meetsep.io.rttm import read_rttm
from meetsep.sim import real_speech
from meetsep.sim.degrade import telephone
from meetsep.sim.tts import CALL_SENTENCES, HELDOUT_SENTENCES, SENTENCES, Synthesizer
from meetsep.stages.identify import match_speakers, speaker_voiceprints

DURATIONS = (10.0, 30.0, 60.0)
CONDITIONS = ("10s", "30s", "60s", "30s-phone")  # enrollment audio: seconds, and the channel between
DISTRACTORS = 8
GAP = np.zeros(3200, dtype=np.float32)  # 0.2 s between enrollment clips


def identity(voice: dict[str, Any]) -> str:
    """Who a session's speaker is: a real person, or a TTS voice at its pitch and tempo."""
    if voice["engine"] == "real":
        return f"real:{voice['voice']}"
    return f"{voice['engine']}:{voice['voice']}@{voice['pitch']:+.3f}x{voice['tempo']:.3f}"


class Enrollments:
    """Enrollment voiceprints per person and condition, of speech a given session does not contain."""

    def __init__(self, pipeline: Pipeline, corpus_sessions: list[Path]) -> None:
        self.printer = pipeline.voice_printer
        self.synthesizer = Synthesizer(16000)
        self.cache: dict[tuple[str, tuple[str, ...]], dict[str, np.ndarray]] = {}
        used: set[str] = set()
        for session in corpus_sessions:
            used |= set(json.loads((session / "meta.json").read_text()).get("utterances", []))
        self.used_anywhere = used

    def __call__(self, voice: dict[str, Any], sentences: str, session_utterances: set[str]) -> dict[str, np.ndarray]:
        clips = self._clips(voice, sentences, session_utterances)
        key = (identity(voice), tuple(source for source, _ in clips))
        if key not in self.cache:
            self.cache[key] = self._voiceprints([audio for _, audio in clips])
        return self.cache[key]

    def _clips(self, voice: dict[str, Any], sentences: str, excluded: set[str]) -> list[tuple[str, np.ndarray]]:
        """Up to 60 s of the person's speech that the session does not contain, in a fixed order."""
        if voice["engine"] == "real":
            pool = [u for u in real_speech.utterances(voice["voice"]) if u.source not in excluded]
            pool.sort(key=lambda u: u.source in self.used_anywhere)  # clips no session uses first (stable)
            found = [(u.source, u.audio) for u in pool]
        else:
            texts = [text for _, text in CALL_SENTENCES] + (HELDOUT_SENTENCES if sentences == "dev" else SENTENCES)
            found = [
                (text, self.synthesizer(text, voice["engine"], voice["voice"], voice["pitch"], voice["tempo"]))
                for text in texts[:24]
            ]
        chosen, seconds = [], 0.0
        for source, audio in found:
            if seconds >= max(DURATIONS):
                break
            chosen.append((source, audio))
            seconds += len(audio) / 16000
        return chosen

    def _voiceprints(self, clips: list[np.ndarray]) -> dict[str, np.ndarray]:
        prints = {}
        for duration in DURATIONS:
            audio, spans, seconds = [], [], 0.0
            for clip in clips:
                if seconds >= duration:
                    break
                take = clip[: int((duration - seconds) * 16000)]
                start = sum(len(a) for a in audio) / 16000
                audio += [take, GAP]
                spans.append((start, start + len(take) / 16000))
                seconds += len(take) / 16000
            joined = np.concatenate(audio)
            prints[f"{duration:.0f}s"] = self.printer.enrollment(joined, spans).vector
            if duration == 30.0:
                prints["30s-phone"] = self.printer.enrollment(telephone(joined), spans).vector
        return prints


def hypothesis_owner(diarization: Diarization, reference: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Reference speaker → the diarized speaker covering most of their speech (one each, best total), and
    every other diarized speaker → the reference speaker it covers most (a split or an extra speaker)."""
    from scipy.optimize import linear_sum_assignment

    hyps, refs = diarization.speakers, sorted({s.speaker for s in reference})
    common = np.zeros((len(refs), len(hyps)))
    for i, r in enumerate(refs):
        for j, h in enumerate(hyps):
            for a in reference:
                if a.speaker != r:
                    continue
                for b in diarization.segments:
                    if b.speaker == h:
                        common[i, j] += max(0.0, min(a.end, b.end) - max(a.start, b.start))
    owner = {}
    if hyps:
        rows, columns = linear_sum_assignment(-common)
        owner = {refs[i]: hyps[j] for i, j in zip(rows, columns) if common[i, j] > 0}
    extra = {h: refs[int(np.argmax(common[:, j]))] for j, h in enumerate(hyps) if h not in owner.values()}
    return owner, extra


def diarized_voiceprints(pipeline: Pipeline, session: Path, mode: str) -> tuple[Diarization, dict[str, Any], list[Any]]:
    """A session's diarization (its ``reference`` or the ``pipeline``'s own), each diarized speaker's
    voiceprint as ``meetsep transcribe`` makes it (label → vector), and the reference."""
    reference = read_rttm(session / "reference.rttm")
    if mode == "reference":
        diarization = Diarization(reference, [], overlapping_parts(reference))
    else:
        diarization = pipeline.diarize(session / "mix.flac").diarization
    mixture = mono_signal(pipeline, session / "mix.flac")
    try:
        prints = {
            label: v.vector for label, v in speaker_voiceprints(pipeline.voice_printer, mixture, diarization).items()
        }
    finally:
        mixture.close()
    return diarization, prints, reference


def measure_session(pipeline: Pipeline, enroll: Enrollments, session: Path, mode: str) -> dict[str, Any]:
    meta = json.loads((session / "meta.json").read_text())
    diarization, prints, reference = diarized_voiceprints(pipeline, session, mode)
    owner, extra = hypothesis_owner(diarization, reference)
    sentences = meta["config"].get("sentences", "dev")
    people = {spk: identity(voice) for spk, voice in meta["voices"].items()}
    enrolled = {
        people[spk]: enroll(voice, sentences, set(meta.get("utterances", []))) for spk, voice in meta["voices"].items()
    }
    return {
        "session": session.name,
        "tests": prints,  # diarized label → voiceprint
        "owner": {people[r]: h for r, h in owner.items()},  # person → their diarized label
        "extra": {h: people[r] for h, r in extra.items()},  # other labels → the person they cover most
        "enrollments": enrolled,  # person → condition → voiceprint
        "speakers": len(diarization.speakers),
    }


def evaluate(results: list[dict[str, Any]], condition: str, threshold: float, many: bool = False) -> dict[str, float]:
    """Identification and false-accept rates over the sessions (see the module's docstring)."""
    everyone = {p: r["enrollments"][p][condition] for r in results for p in r["enrollments"]}
    counts = dict(enrolled=0, named=0, strangers=0, accepted=0, extra=0, extra_right=0, extra_wrong=0)
    for result in results:
        people = sorted(result["enrollments"])
        distractors = [
            p for p in sorted(everyone) if p not in people and p.split("@")[0] not in {q.split("@")[0] for q in people}
        ]
        distractors = distractors[:: max(1, len(distractors) // DISTRACTORS)][:DISTRACTORS]
        for stranger in people:
            names = [p for p in people if p != stranger] + distractors
            vectors = np.stack([result["enrollments"][p][condition] if p in people else everyone[p] for p in names])
            tests = {label: Voiceprint(vector, 1.0) for label, vector in result["tests"].items()}
            given = match_speakers(tests, names, vectors, threshold).names
            if many:  # a speaker left unnamed takes a name already given when its voice reaches the threshold too
                for label, vector in result["tests"].items():
                    if label not in given:
                        scores = vectors @ vector
                        if scores.max() >= threshold:
                            given[label] = names[int(np.argmax(scores))]
            for person in people:
                label = result["owner"].get(person)
                if person == stranger:
                    counts["strangers"] += 1
                    counts["accepted"] += label in given
                else:
                    counts["enrolled"] += 1
                    counts["named"] += given.get(label) == person
            for label, person in result["extra"].items():
                counts["extra"] += 1
                counts["extra_right"] += given.get(label) == person
                counts["extra_wrong"] += label in given and given[label] != person
    return {
        **counts,
        "identification": counts["named"] / max(1, counts["enrolled"]),
        "false_accept": counts["accepted"] / max(1, counts["strangers"]),
    }


def archive_speakers(results: list[dict[str, Any]]) -> tuple[list[SpeakerVoice], list[str]]:
    """Every session's diarized speakers with a voiceprint, and who each is (the person it covers most)."""
    speakers, truth = [], []
    for result in results:
        person = {label: p for p, label in result["owner"].items()} | result["extra"]
        for label, vector in sorted(result["tests"].items()):
            speakers.append(SpeakerVoice(result["session"], label, vector, 0.0))
            truth.append(person.get(label, f"{result['session']}#{label}"))
    return speakers, truth


def link_scores(results: list[dict[str, Any]], threshold: float) -> dict[str, float]:
    """Pairwise precision, recall and F1 of linking every session's speakers into archive-wide voices
    (:func:`meetsep.analysis.linking.link_voices`), against who they are (the person each covers most)."""
    speakers, truth = archive_speakers(results)
    voices = link_voices(speakers, threshold)
    return dict(
        speakers=len(speakers),
        voices=max(voices) + 1 if voices else 0,
        people=len(set(truth)),
        **pairwise_scores(voices, truth),
    )


def link_line(threshold: float, row: dict[str, Any]) -> str:
    """One line of :func:`link_scores`' result."""
    return (
        f"t={threshold:.2f}: {row['speakers']} speakers -> {row['voices']} voices ({row['people']} people); "
        f"pairwise precision {100 * row['precision']:.1f}% recall {100 * row['recall']:.1f}% F1 {100 * row['f1']:.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("build/corpus"))
    parser.add_argument("--corpus", action="append", default=None, help="real, generalization (default: both)")
    parser.add_argument("--split", choices=["dev", "heldout"], required=True)
    parser.add_argument("--diarization", choices=["reference", "pipeline"], default="reference")
    parser.add_argument("--cache", type=Path, default=Path("build/speakers"))
    parser.add_argument("--thresholds", default="0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7")
    parser.add_argument("--out", type=Path, default=None, help="Write the table as JSON here.")
    args = parser.parse_args()
    pipeline = Pipeline(load_config())
    groups: dict[str, list[dict[str, Any]]] = {}
    for corpus in args.corpus or ["real", "generalization"]:
        folder = args.corpus_dir / corpus
        every = sorted(p for p in folder.iterdir() if (p / "meta.json").is_file())
        enroll = Enrollments(pipeline, every)
        for session in (p for p in every if p.name.startswith(args.split + "_")):
            cached = args.cache / f"{args.diarization}-{session.name}.pkl"
            if cached.is_file():
                result = pickle.loads(cached.read_bytes())
            else:
                result = measure_session(pipeline, enroll, session, args.diarization)
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(pickle.dumps(result))
            print(f"{session.name}: {result['speakers']} diarized speaker(s)", flush=True)
            groups.setdefault(corpus, []).append(result)
    table = []
    for corpus, results in groups.items():
        for condition in CONDITIONS:
            for threshold in (float(t) for t in args.thresholds.split(",")):
                for many in (False, True):
                    row = evaluate(results, condition, threshold, many)
                    table.append(dict(corpus=corpus, condition=condition, threshold=threshold, many=many, **row))
                    print(
                        f"{corpus:<15} {condition:<10} t={threshold:.2f} {'many' if many else 'one '} "
                        f"named {100 * row['identification']:5.1f}% ({row['named']}/{row['enrolled']})  "
                        f"false accept {100 * row['false_accept']:5.1f}% ({row['accepted']}/{row['strangers']})  "
                        f"extra right/wrong {row['extra_right']}/{row['extra_wrong']} of {row['extra']}"
                    )
    everything = [r for results in groups.values() for r in results]
    for threshold in (float(t) for t in args.thresholds.split(",")):
        row = link_scores(everything, threshold)
        table.append(dict(corpus="all", condition="link", threshold=threshold, **row))
        print(f"link {len(everything)} sessions {link_line(threshold, row)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
