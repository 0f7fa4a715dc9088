"""One voice across an archive: the speakers of many transcripts linked by their voiceprints (``meetsep link``).

Each transcript made with ``attribute.voiceprints`` (``meetsep batch --link-speakers`` sets it) holds one
voiceprint per speaker. :func:`link_voices` groups them into archive-wide voices: two speakers of one
recording are never the same voice (the diarization already told them apart), and a speaker joins the
voice whose mean voiceprint it is most like when the cosine similarity reaches the threshold
(``attribute.link_threshold``, 0.6: see :class:`meetsep.core.config.AttributeConfig`; ``pipelines/eval_linking.py``
measures it), else starts a new voice. Two passes (the
second reassigns every recording's speakers to the voices the first one found, one voice per speaker,
highest total similarity) make the result independent of most of the order. Memory holds the
voiceprints (768 bytes each) and one mean per voice: 10,000 recordings of 3 speakers take about 25 MB.

:func:`link_folder` reads a batch output folder, writes ``speakers.csv`` (voice id, recordings,
speakers, talk time) and puts each speaker's voice id into its transcript JSON (``speaker_links``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meetsep.core.clustering import matched_pairs
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


def link_voices(speakers: list[SpeakerVoice], threshold: float) -> list[int]:
    """The archive-wide voice of each speaker (0, 1, ... in order of first appearance)."""
    if not speakers:
        return []
    vectors = np.stack([s.voiceprint for s in speakers]).astype(np.float32)
    recordings: dict[str, list[int]] = {}
    for index, speaker in enumerate(speakers):
        recordings.setdefault(speaker.recording, []).append(index)
    groups = list(recordings.values())
    voice, sums = _assign(vectors, groups, threshold, np.zeros((0, vectors.shape[1]), np.float32))
    voice, _ = _assign(vectors, groups, threshold, _normalized(sums))
    order = {old: new for new, old in enumerate(dict.fromkeys(voice))}
    return [order[v] for v in voice]


def _assign(
    vectors: np.ndarray, recordings: list[list[int]], threshold: float, fixed: np.ndarray
) -> tuple[list[int], np.ndarray]:
    """One pass over the recordings: each one's speakers matched to the voices so far (``fixed`` means,
    then the running means of voices made in this pass), one voice per speaker, highest total
    similarity; a speaker below ``threshold`` starts a voice. Returns the voices and their summed vectors."""
    voice = [-1] * len(vectors)
    count = len(fixed)  # voices so far; rows of sums and means beyond it are spare room
    sums = np.zeros((max(16, 2 * count), vectors.shape[1]), np.float32)
    means = np.zeros_like(sums)
    means[:count] = fixed
    for members in recordings:
        chosen = [-1] * len(members)
        if count:
            for row, column in matched_pairs(vectors[members] @ means[:count].T, threshold):
                chosen[row] = column
        for member, column in zip(members, chosen):
            if column < 0:
                column, count = count, count + 1
                if count > len(sums):  # room doubles: amortized constant time per new voice
                    sums = np.concatenate([sums, np.zeros_like(sums)])
                    means = np.concatenate([means, np.zeros_like(means)])
            sums[column] += vectors[member]
            if column >= len(fixed):  # the first pass's means move; the second pass's stay fixed
                means[column] = sums[column] / (np.linalg.norm(sums[column]) + 1e-12)
            voice[member] = column
    return voice, sums[:count]


def _normalized(sums: np.ndarray) -> np.ndarray:
    return sums / (np.linalg.norm(sums, axis=1, keepdims=True) + 1e-12)


def speaker_voices(recording: str, transcript: Transcript) -> list[SpeakerVoice]:
    """The speakers of one transcript that carry a voiceprint, with their talk time."""
    talk: dict[str, float] = {}
    for segment in transcript.diarization:
        talk[segment.speaker] = talk.get(segment.speaker, 0.0) + segment.end - segment.start
    return [
        SpeakerVoice(recording, speaker, np.asarray(vector, dtype=np.float32), round(talk.get(speaker, 0.0), 3))
        for speaker, vector in sorted(transcript.speaker_voiceprints.items())
    ]


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
