"""One voice across an archive: the speakers of many transcripts linked by their voiceprints (``meetsep link``).

Each transcript made with ``attribute.voiceprints`` (``meetsep batch --link-speakers`` sets it) holds one
voiceprint per speaker. :func:`link_voices` groups them into archive-wide voices by average-linkage
clustering: the two groups whose voiceprints are on average most alike join while that mean cosine
similarity reaches the threshold (``attribute.link_threshold``, 0.75: see
:class:`meetsep.core.config.AttributeConfig`; ``pipelines/eval_linking.py`` measures it), and two speakers of
one recording are never the same voice (the diarization already told them apart). The result does not
depend on the order of the recordings up to ``BLOCK`` (4096) speakers; a larger archive is clustered a
block at a time, so the clustering's matrices stay within about 80 MB whatever its size; the voiceprints
take 768 bytes a speaker (``pipelines/bench_linking.py``: 30,000 speakers in 5 s, 261 MB peak).

:func:`link_folder` reads a batch output folder, writes ``speakers.csv`` (voice id, recordings,
speakers, talk time) and puts each speaker's voice id into its transcript JSON (``speaker_links``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meetsep.core.errors import MeetsepError
from meetsep.io.files import atomic_write_text
from meetsep.schema import Transcript


@dataclass(frozen=True)
class SpeakerVoice:
    """One speaker of one recording: where it is, its voiceprint and how long it talks (s)."""

    recording: str
    speaker: str
    voiceprint: np.ndarray
    talk: float


BLOCK = 4096  # groups clustered at once: a 4096 x 4096 float32 similarity matrix (64 MB) and its 16 MB mask


def link_voices(speakers: list[SpeakerVoice], threshold: float) -> list[int]:
    """The archive-wide voice of each speaker (0, 1, ... in order of first appearance).

    Average-linkage agglomerative clustering: the two groups of speakers whose voiceprints are on average
    most alike (mean cosine similarity over all pairs across them) join, again and again, while that
    mean reaches ``threshold``; two groups that hold speakers of one recording never join. Up to
    ``BLOCK`` speakers are clustered at once (the exact result, whatever their order); a larger archive is
    clustered block by block, then the groups found, largest first (voices that recur), block by block
    again until one block holds them all or no two groups join.
    """
    if not speakers:
        return []
    vectors = np.stack([s.voiceprint for s in speakers]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    recording_index: dict[str, int] = {}
    groups = [
        _Group(vectors[i], 1.0, {recording_index.setdefault(s.recording, len(recording_index))}, [i])
        for i, s in enumerate(speakers)
    ]
    while True:
        order = sorted(range(len(groups)), key=lambda g: (-groups[g].size, groups[g].members[0]))
        joined: list[_Group] = []
        for start in range(0, len(order), BLOCK):
            joined += _average_linkage([groups[g] for g in order[start : start + BLOCK]], threshold)
        done = len(groups) <= BLOCK or len(joined) == len(groups)
        groups = joined
        if done:
            break
    voice = [0] * len(speakers)
    for number, group in enumerate(sorted(groups, key=lambda g: min(g.members))):
        for member in group.members:
            voice[member] = number
    return voice


@dataclass
class _Group:
    """Speakers linked so far: the sum of their (unit) voiceprints, how many, their recordings."""

    total: np.ndarray
    size: float
    recordings: set[int]
    members: list[int]


def _average_linkage(groups: list[_Group], threshold: float) -> list[_Group]:
    """``groups`` joined pair by pair, the most alike first (mean pairwise cosine similarity of their
    members, which is their sums' dot product over the product of their sizes), while it reaches
    ``threshold`` and they share no recording. Each row keeps its best partner, so a join costs one
    row of the matrix and the rows whose partner changed."""
    count = len(groups)
    totals = np.stack([g.total for g in groups]).astype(np.float32)
    sizes = np.array([g.size for g in groups], np.float32)
    apart = np.zeros((count, count), bool)  # pairs that share a recording
    holders: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        for recording in group.recordings:
            holders.setdefault(recording, []).append(index)
    for rows in (r for r in holders.values() if len(r) > 1):
        apart[np.ix_(rows, rows)] = True
    np.fill_diagonal(apart, True)
    similarity = totals @ totals.T  # divided in place: one count x count matrix at a time
    similarity /= sizes[:, None]
    similarity /= sizes[None, :]
    similarity[apart] = -np.inf
    best = similarity.argmax(axis=1)
    best_value = similarity[np.arange(count), best]
    alive = np.ones(count, bool)
    while True:
        first = int(best_value.argmax())
        if not best_value[first] >= threshold:
            break
        keep, gone = sorted((first, int(best[first])))
        totals[keep] += totals[gone]
        sizes[keep] += sizes[gone]
        apart[keep] |= apart[gone]
        apart[:, keep] = apart[keep]
        groups[keep].recordings |= groups[gone].recordings
        groups[keep].members += groups[gone].members
        alive[gone] = False
        row = (totals @ totals[keep]) / (sizes * sizes[keep])
        row[apart[keep] | ~alive] = -np.inf
        similarity[keep], similarity[:, keep] = row, row
        similarity[gone], similarity[:, gone] = -np.inf, -np.inf
        best_value[gone] = -np.inf
        stale = np.flatnonzero(alive & ((best == keep) | (best == gone)))
        for index in [keep, *stale]:
            best[index] = similarity[index].argmax()
            best_value[index] = similarity[index, best[index]]
        better = alive & (row > best_value)
        best[better], best_value[better] = keep, row[better]
    return [_Group(totals[i], float(sizes[i]), groups[i].recordings, groups[i].members) for i in np.flatnonzero(alive)]


def speaker_voices(recording: str, transcript: Transcript) -> list[SpeakerVoice]:
    """The speakers of one transcript that carry a voiceprint, with their talk time.

    Raises:
        MeetsepError: a voiceprint that is empty, holds a number that is not finite, or is not of unit
            length (as meetsep writes them, to 6 decimals): the JSON was changed by hand or damaged.
    """
    talk: dict[str, float] = {}
    for segment in transcript.diarization:
        talk[segment.speaker] = talk.get(segment.speaker, 0.0) + segment.end - segment.start
    voices = []
    for speaker, values in sorted(transcript.speaker_voiceprints.items()):
        vector = np.asarray(values, dtype=np.float32)
        if not vector.size or not np.all(np.isfinite(vector)) or abs(float(np.linalg.norm(vector)) - 1.0) > 1e-3:
            raise MeetsepError(
                f"{recording}: the voiceprint of {speaker} is not a unit-length vector of finite numbers "
                f"({vector.size} numbers); make the transcript again with --link-speakers"
            )
        voices.append(SpeakerVoice(recording, speaker, vector, round(talk.get(speaker, 0.0), 3)))
    return voices


def link_folder(folder: Path, threshold: float) -> tuple[int, int]:
    """Link the speakers of every transcript JSON in ``folder`` (recursive; a batch's output); returns
    (voices, speakers). Writes ``folder/speakers.csv`` and each JSON's ``speaker_links``.

    Raises:
        MeetsepError: no transcript holds voiceprints, or they were made by different models.
    """
    from meetsep.analysis.report import read_transcript_file

    paths = sorted(
        p
        for p in folder.rglob("*.json")
        if not p.name.endswith(".seglst.json") and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    speakers: list[SpeakerVoice] = []
    models: set[str] = set()
    used: list[Path] = []
    for path in paths:
        try:
            transcript = read_transcript_file(path)
        except MeetsepError:
            continue  # not a transcript (a manifest, a report)
        if transcript.speaker_voiceprints:
            models.add(str(transcript.voiceprint_model))
            speakers += speaker_voices(path.relative_to(folder).as_posix(), transcript)
            used.append(path)
    if not speakers:
        raise MeetsepError(f"{folder}: no transcript with voiceprints (run meetsep batch with --link-speakers)")
    if len(models) > 1:
        raise MeetsepError(f"{folder}: voiceprints of different models ({', '.join(sorted(models))}) cannot be linked")
    sizes = {s.voiceprint.size for s in speakers}
    if len(sizes) > 1:
        usual = max(sizes, key=lambda size: (sum(s.voiceprint.size == size for s in speakers), size))
        odd = next(s for s in speakers if s.voiceprint.size != usual)
        raise MeetsepError(
            f"{folder}: voiceprints of different lengths ({', '.join(map(str, sorted(sizes)))} numbers; "
            f"{odd.recording} has {odd.voiceprint.size}) cannot be linked"
        )
    voices = link_voices(speakers, threshold)
    ids = [f"VOICE_{v:04d}" for v in voices]
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["voice", "recordings", "speakers", "talk_seconds"])
    for voice_id in dict.fromkeys(ids):
        members = [s for s, i in zip(speakers, ids) if i == voice_id]
        writer.writerow(
            [
                voice_id,
                len({m.recording for m in members}),
                "; ".join(f"{m.recording}#{m.speaker}" for m in members),
                f"{sum(m.talk for m in members):.1f}",
            ]
        )
    for path in used:  # each transcript gets its speakers' voice ids (rewritten through a temporary file)
        name = path.relative_to(folder).as_posix()
        transcript = read_transcript_file(path)
        links = {s.speaker: i for s, i in zip(speakers, ids) if s.recording == name}
        atomic_write_text(path, transcript.model_copy(update={"speaker_links": links}).model_dump_json(indent=2) + "\n")
    atomic_write_text(folder / "speakers.csv", table.getvalue())
    return len(set(ids)), len(speakers)
