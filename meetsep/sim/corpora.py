"""The corpora of simulated sessions the recipes in ``pipelines/`` measure and tune on, and how they are built.

Each corpus is a plan: one dict of :class:`meetsep.sim.simulate.SimulationConfig` settings per session,
deterministic (seeded), with a ``session_id`` that names its split where it has one:

- ``ci``: two short two-person meetings (seconds; the tests run the benchmark on them);
- ``standard``: 20 meetings of 2-5 speakers, 0-40 % overlap;
- ``generalization``: 56 meetings of 4 TTS voice families, degraded speakers, reverberant noisy rooms,
  split by family (:data:`DEV_FAMILIES` to choose defaults on, :data:`HELDOUT_FAMILIES` to report on);
- ``real``: sessions of real people (:mod:`meetsep.sim.real_speech`), split by voice.

:func:`make_corpus` simulates a plan into one folder per session (``mix.flac``, ``meta.json`` with the
plan, the references), keeping sessions already made with the same settings. Importing this module
loads no simulation code (a benchmark's child process reads plans only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPORA = ("ci", "standard", "generalization", "real")


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
    if name == "generalization":
        return generalization_plan()
    if name == "real":
        return real_plan()
    raise ValueError(f"unknown corpus {name!r} ({', '.join(CORPORA)})")


# Leave-family-out: defaults are chosen on meetings of these voice families only ...
DEV_FAMILIES = ("espeak", "flite")
# ... and reported on these, whose voices and sentences no default was chosen on.
HELDOUT_FAMILIES = ("festival", "piper")


# The dev families' last 4 meetings are heard by other arrays than the 4-mic 5 cm circle: 8 mics on a
# 10 cm circle (as in the AMI meeting rooms) and 4 mics in a line 8 cm apart.
ARRAYS = (dict(array="circular", num_mics=8, array_radius=0.1), dict(array="linear", num_mics=4, array_radius=0.08))
OVERLAP_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.2, 0.3, 0.1, 0.3, 0.0, 0.4, 0.2, 0.1, 0.3, 0.2, 0.4, 0.2, 0.3, 0.1, 0.4)


def generalization_plan() -> list[dict[str, Any]]:
    """8 meetings per voice family: 2-5 speakers, 0-40 % overlap, every speaker degraded as a real one
    varies (channel, level, speed), reverberant noisy rooms (RT60 0.25-0.6 s, SNR 10-20 dB, 4 mics);
    the dev families have 8 more in harsher rooms (RT60 0.3-0.7 s, SNR 5-10 dB), so that defaults are
    chosen where speech is hard to hear too, and 4 more heard by other arrays (``ARRAYS``). Session
    ids name the family and whether it is a dev or a held-out meeting."""
    rooms = [(0.25, 20.0, "white"), (0.35, 15.0, "pink"), (0.45, 12.0, "white"), (0.6, 10.0, "pink")]
    harsh = [(0.3, 8.0, "pink"), (0.5, 6.0, "white"), (0.4, 10.0, "pink"), (0.7, 5.0, "white")]
    plan = []
    for family_index, family in enumerate(DEV_FAMILIES + HELDOUT_FAMILIES):
        split = "dev" if family in DEV_FAMILIES else "heldout"
        for index in range(20 if split == "dev" else 8):
            rt60, snr, noise = (rooms if index < 8 or index >= 16 else harsh)[index % 4]
            geometry = {} if index < 16 else ARRAYS[index % 2]
            plan.append(
                dict(
                    **geometry,
                    session_id=f"{split}_{family}_{index:02d}",
                    seed=1000 + 100 * family_index + index,
                    family=family,
                    num_speakers=2 + (index * 3 + index // 8) % 4,
                    overlap_ratio=OVERLAP_RATIOS[index],
                    num_sentences=16,
                    degrade=True,
                    sentences=split,
                    rt60=rt60,
                    snr_db=snr,
                    noise=noise,
                )
            )
    return plan


CALL_OVERLAPS = (0.0, 0.05, 0.1, 0.15, 0.1, 0.05, 0.0, 0.1)
MEETING_ROOMS = ((0.3, 20.0, "white"), (0.45, 15.0, "pink"), (0.6, 10.0, "pink"))


def real_plan() -> list[dict[str, Any]]:
    """Sessions of real people (:mod:`meetsep.sim.real_speech`), split by voice like the TTS families:
    per split, 8 two-person phone calls (8 kHz mono, telephone band, each speaker through a codec,
    16-24 turns, 0-15 % overlap), 4 short ones (6-8 turns, about 30 s) and 8 meetings of 2-4 people
    (4-mic circle, or 8 mics / a line, reverberant noisy rooms, 0-30 % overlap). Two calls and two meetings of each split pair one real
    voice with TTS voices of that split (dev: ve9qrp, whose words are not known; held-out: Allison, whose
    prompts come with their words, with held-out TTS voices and sentences), so the held-out split
    measures cpWER on a real voice too. Sessions whose words are not all known score DER and count only."""
    plan = []
    for split_index, split in enumerate(("dev", "heldout")):
        known = {"dev": ["real:ve9qrp", "flite:awb"], "heldout": ["real:allison", "festival:kal_diphone"]}[split]
        for index in range(8):
            calls = f"{split}_real_call_{index:02d}", 5000 + 100 * split_index + index, 16 + 4 * (index % 3)
            plan.append(_phone_call(split, *calls, index, 25.0 - 2.5 * (index % 4), known if index >= 6 else None))
        for index in range(4):  # short calls (about 30 s, a few turns each): counting from few units
            short = f"{split}_real_short_{index:02d}", 5020 + 100 * split_index + index, 6 + index % 3
            plan.append(_phone_call(split, *short, index, 25.0 - 2.5 * index))
        for index in range(8):
            rt60, snr, noise = MEETING_ROOMS[index % 3]
            count = 2 + index % 3
            extra = {"heldout": ["piper:joe", "festival:ked_diphone"], "dev": ["espeak-ng:en-us+f3", "flite:slt"]}[
                split
            ]
            plan.append(
                dict(
                    **(ARRAYS[index % 2] if index in (3, 4) else {}),
                    session_id=f"{split}_real_meeting_{index:02d}",
                    seed=5050 + 100 * split_index + index,
                    family="real",
                    **({"voices": (known + extra)[:count]} if index >= 6 else {}),
                    num_speakers=count,
                    num_sentences=16 + 4 * (count - 2),
                    overlap_ratio=(0.0, 0.1, 0.2, 0.3)[index % 4],
                    degrade=True,
                    sentences=split,
                    rt60=rt60,
                    snr_db=snr,
                    noise=noise,
                )
            )
    return plan


def _phone_call(
    split: str, session_id: str, seed: int, turns: int, index: int, snr: float, voices: list[str] | None = None
) -> dict[str, Any]:
    """One two-person real-voice phone call of ``split``: ``turns`` lines, overlap ``CALL_OVERLAPS[index]``."""
    return dict(
        session_id=session_id,
        seed=seed,
        mode="phone-call",
        family="real",
        **({"voices": voices} if voices else {}),
        num_sentences=turns,
        overlap_ratio=CALL_OVERLAPS[index],
        degrade=True,
        sentences=split,
        snr_db=snr,
    )


def make_corpus(name: str, folder: Path, only: set[str] | None = None) -> list[Path]:
    """Simulate the meetings of the corpus (all, or those in ``only``) into ``folder/<session>/``.

    A meeting already simulated with the same settings is kept.
    """
    from meetsep.sim.real_speech import voices
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

    sessions = []
    for entry in corpus_plan(name):
        if only is not None and entry["session_id"] not in only:
            continue
        target = folder / entry["session_id"]
        settings = {k: v for k, v in entry.items() if k != "session_id"}
        # real voices are drawn from every voice of the split: a session made before one joined differs
        pool = voices(settings.get("sentences", "dev")) if settings.get("family") == "real" else None
        marker = target / "meta.json"
        made = json.loads(marker.read_text()) if marker.is_file() else {}
        if made.get("plan") != settings or made.get("real_voices") != pool:
            meeting = simulate_meeting(SimulationConfig(**settings), session_id=entry["session_id"])
            meeting.metadata["plan"] = settings
            meeting.metadata["real_voices"] = pool
            write_meeting(meeting, target)
        sessions.append(target)
    return sessions


def session_plan(session: Path) -> dict[str, Any]:
    """The simulation settings a corpus session was made with (its meta.json's plan)."""
    return json.loads((session / "meta.json").read_text()).get("plan", {})


def spoken_language(session: Path) -> str | None:
    """The language of a session: English for TTS voices, a real voice's own; None when they differ."""
    from meetsep.sim.real_speech import VOICES

    voices = json.loads((session / "meta.json").read_text()).get("voices", {}).values()
    spoken = {VOICES[v["voice"]].language if v.get("engine") == "real" else "en" for v in voices} or {"en"}
    return spoken.pop() if len(spoken) == 1 else None
