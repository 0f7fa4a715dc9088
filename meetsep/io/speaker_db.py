"""A database of enrolled voices: who a diarized speaker is, by name (``meetsep enroll``, ``--speakers DB``).

A database is a folder of plain data, never pickle::

    DB/speakers.json     {"format": 1, "embedder": "<model id>", "speakers": {name: {file, seconds, sources}}}
    DB/<slug>.npy        float32 (enrollments, dimension): one unit-norm voiceprint per enrollment

``embedder`` names the speaker-embedding model and how it heard the speech (its weights' SHA-256 and the
band, see :class:`meetsep.stages.identify.VoicePrinter`): voiceprints of different models cannot be
compared, so a database made with another one is refused. A person's voiceprint is the duration-weighted
mean of their enrollments, renormalized. Nothing is written outside the folder; every write goes
through a temporary file and a rename.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meetsep.core.errors import MeetsepError
from meetsep.core.records import Voiceprint
from meetsep.io.files import atomic_write_bytes, atomic_write_text

FORMAT = 1
INDEX = "speakers.json"
NAME_PATTERN = re.compile(r"[\w][\w .'\-]{0,63}")  # letters (any script), digits, spaces, . ' - _
DIARIZATION_LABEL = re.compile(r"SPEAKER_\d+|channel-\d+")  # labels meetsep gives unnamed speakers


class SpeakerDBError(MeetsepError):
    """A speaker database cannot be used or changed; the message names the folder and the problem."""


@dataclass(frozen=True)
class EnrolledSpeaker:
    """One person: their enrollments (unit-norm rows), seconds of speech behind each, and where they came from."""

    name: str
    enrollments: np.ndarray
    seconds: tuple[float, ...]
    sources: tuple[str, ...]

    @property
    def voiceprint(self) -> np.ndarray:
        """``(dimension,)`` unit-norm: the enrollments averaged, weighted by their seconds of speech."""
        mean = (self.enrollments * np.asarray(self.seconds, dtype=np.float32)[:, None]).sum(axis=0)
        return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))


class SpeakerDB:
    """The enrolled voices in ``folder`` (made on the first enrollment).

    Args:
        folder: the database folder.
        embedder: the id of the model that makes voiceprints here; a database made with another is refused.
            None: whatever the database says (listing, renaming and removing need no model).
    """

    def __init__(self, folder: str | Path, embedder: str | None = None) -> None:
        self.folder = Path(folder)
        self.embedder = embedder
        self.speakers: dict[str, EnrolledSpeaker] = {}
        index = self.folder / INDEX
        if self.folder.exists() and not self.folder.is_dir():
            raise SpeakerDBError(f"{self.folder}: not a folder")
        if not index.is_file():
            if self.folder.is_dir() and any(self.folder.iterdir()):
                raise SpeakerDBError(f"{self.folder}: not a speaker database (no {INDEX}) and not empty")
            return
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise SpeakerDBError(f"{index}: unknown database format {data.get('format')!r} (expected {FORMAT})")
            stored = str(data["embedder"])
            entries = dict(data["speakers"])
        except SpeakerDBError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise SpeakerDBError(f"{index}: unreadable ({type(error).__name__}: {error})") from None
        if embedder is not None and stored != embedder:
            raise SpeakerDBError(
                f"{self.folder}: made with another speaker-embedding model ({stored}), not this one ({embedder}); "
                "enroll the voices again into a new database"
            )
        self.embedder = stored
        for name, entry in entries.items():
            self.speakers[name] = self._read_speaker(name, entry)

    def _read_speaker(self, name: str, entry: dict) -> EnrolledSpeaker:
        try:
            path = self.folder / str(entry["file"])
            seconds = tuple(float(s) for s in entry["seconds"])
            sources = tuple(str(s) for s in entry.get("sources", [""] * len(seconds)))
        except (KeyError, TypeError, ValueError) as error:
            raise SpeakerDBError(f"{self.folder / INDEX}: entry of {name!r} is malformed ({error})") from None
        if path.parent != self.folder or not path.name.endswith(".npy"):
            raise SpeakerDBError(f"{self.folder / INDEX}: entry of {name!r} points outside the database")
        if not path.is_file():
            raise SpeakerDBError(f"{path}: missing (voiceprints of {name!r})")
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise SpeakerDBError(f"{path}: unreadable voiceprints of {name!r} ({error})") from None
        if (
            rows.ndim != 2
            or rows.shape[0] != len(seconds)
            or rows.shape[0] == 0
            or rows.dtype != np.float32
            or not np.all(np.isfinite(rows))
            or not np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-3)
            or min(seconds) <= 0
        ):
            raise SpeakerDBError(f"{path}: corrupted voiceprints of {name!r} (shape {rows.shape}, {rows.dtype})")
        return EnrolledSpeaker(name, rows, seconds, sources)

    @property
    def names(self) -> list[str]:
        return sorted(self.speakers)

    def __len__(self) -> int:
        return len(self.speakers)

    def __contains__(self, name: object) -> bool:
        return name in self.speakers

    def voiceprints(self) -> tuple[list[str], np.ndarray]:
        """Names and their voiceprints ``(people, dimension)``, in name order."""
        names = self.names
        if not names:
            return names, np.zeros((0, 0), dtype=np.float32)
        return names, np.stack([self.speakers[name].voiceprint for name in names])

    def add(self, name: str, voiceprint: Voiceprint, source: str = "") -> EnrolledSpeaker:
        """Enroll ``voiceprint`` as ``name`` (a new person, or one more enrollment of a known one); saved at once."""
        check_name(name)
        if self.embedder is None:
            raise SpeakerDBError(f"{self.folder}: cannot enroll without knowing the embedding model")
        vector = np.asarray(voiceprint.vector, dtype=np.float32)[None]
        if self.speakers:
            dimension = next(iter(self.speakers.values())).enrollments.shape[1]
            if vector.shape[1] != dimension:
                raise SpeakerDBError(
                    f"{self.folder}: voiceprint of {vector.shape[1]} values, the database has {dimension}"
                )
        known = self.speakers.get(name)
        if known is None:
            speaker = EnrolledSpeaker(name, vector, (round(voiceprint.seconds, 3),), (source,))
        else:
            speaker = EnrolledSpeaker(
                name,
                np.concatenate([known.enrollments, vector]),
                (*known.seconds, round(voiceprint.seconds, 3)),
                (*known.sources, source),
            )
        self.speakers[name] = speaker
        self._save(changed=(speaker,))
        return speaker

    def remove(self, name: str) -> None:
        speaker = self._known(name)
        del self.speakers[name]
        self._save()
        (self.folder / _file_name(speaker.name)).unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        speaker = self._known(old)
        check_name(new)
        if new in self.speakers:
            raise SpeakerDBError(f"{self.folder}: {new!r} is enrolled already")
        del self.speakers[old]
        self.speakers[new] = renamed = EnrolledSpeaker(new, speaker.enrollments, speaker.seconds, speaker.sources)
        self._save(changed=(renamed,))
        (self.folder / _file_name(old)).unlink(missing_ok=True)

    def _known(self, name: str) -> EnrolledSpeaker:
        if name not in self.speakers:
            raise SpeakerDBError(
                f"{self.folder}: no speaker named {name!r} (enrolled: {', '.join(self.names) or 'none'})"
            )
        return self.speakers[name]

    def _save(self, changed: tuple[EnrolledSpeaker, ...] = ()) -> None:
        """Voiceprint files first, then the index: a reader never sees an index naming a missing file."""
        import io

        self.folder.mkdir(parents=True, exist_ok=True)
        for speaker in changed:
            buffer = io.BytesIO()
            np.save(buffer, speaker.enrollments.astype(np.float32), allow_pickle=False)
            atomic_write_bytes(self.folder / _file_name(speaker.name), buffer.getvalue())
        index = {
            "format": FORMAT,
            "embedder": self.embedder,
            "speakers": {
                name: {
                    "file": _file_name(name),
                    "seconds": list(self.speakers[name].seconds),
                    "sources": list(self.speakers[name].sources),
                }
                for name in self.names
            },
        }
        atomic_write_text(self.folder / INDEX, json.dumps(index, indent=2, ensure_ascii=False) + "\n")


def check_name(name: str) -> None:
    """A person's name: 1-64 letters, digits, spaces, ``. ' - _``; never a label meetsep gives unnamed speakers."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name != name.strip():
        raise SpeakerDBError(f"invalid speaker name {name!r}: 1-64 letters, digits, spaces, . ' - _")
    if DIARIZATION_LABEL.fullmatch(name):
        raise SpeakerDBError(f"invalid speaker name {name!r}: that is how meetsep labels an unknown speaker")


def _file_name(name: str) -> str:
    """A file name for any valid name (names may differ only in case or spaces: the hash keeps them apart)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:32] or "speaker"
    return f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}.npy"
