"""Recordings of real people that can be had offline, cut into utterances for simulated sessions.

TTS voices are far more self-consistent than people (CAM++ cosine of a voice with itself: about
0.92 for TTS, 0.5-0.8 for real voices), so every decision about speakers is also checked on these.
They come from Debian packages that ``scripts/setup.sh`` installs:

- ``codec2-examples`` (LGPL-2.1): amateur-radio operators and test sentences, 8 kHz
  (``/usr/share/codec2/raw/*.raw``: headerless 16-bit little-endian mono). Words unknown.
- Asterisk's voice prompts (CC-BY-SA 3.0 / CC-BY 3.0): telephone prompts read by five people, about
  25 minutes each, 8 kHz WAV: Allison Smith (US English, ``asterisk-core-sounds-en-wav``; the words of
  every prompt are in ``asterisk-core-sounds-en``'s ``core-sounds-en.txt``), June Wallack (Canadian
  French), Carlo Flora (Italian), Paola Dal Zot for Marco Menardi's set (Italian) and the Russian
  IVR voice; in GSM 6.10 (decoded with sox): Armelle Desjardins (French, ``asterisk-prompt-fr-armelle``,
  BSD-style licence) and a Colombian Spanish voice (``asterisk-prompt-es-co``, GPL-2).
- Fish Fillets NG's Dutch dialogs (GPL-2; ``fillets-ng-data-nl``): the game's two fish, a big one (a man)
  and a small one (a woman), voiced by actors, about 25 minutes each after cutting, one line per Ogg
  Vorbis file (``/usr/share/games/fillets-ng/sound/<level>/nl/<level>-<character>-<line>.ogg``; ``v``: the
  big fish, ``m``: the small one). Words unknown (the game's texts are in another package). The Czech
  dialogs (``fillets-ng-data-cs``) are not used: every line carries an added echo (a cepstral peak at
  36.5 ms in all of them, none in the Dutch lines or the other voices), which the segmentation hears as a
  second voice in 5.5 % of the small fish's speech: an effect of the game's sound, not of a person.

Voices are split like the TTS families (leave-family-out): ``dev`` voices are the ones defaults may be
chosen on, ``heldout`` voices only report. Reserved for checks outside this project (never read here):
codec2-examples' ``vk5qi.*``, ``all.wav``, ``speech_orig_16k.wav``, ``wia_16kHz.wav``, ``david4.wav``,
``vk2tpm_004.wav``, alsa-utils' voice prompts and pyannote.audio's bundled sample.

An utterance is a stretch of one recording between pauses (a prompt file is one utterance, so its
known words stay whole); each is used at most once per session: the same clip twice embeds
identically, which no real voice does.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from meetsep.io.audio import resample

RATE = 16000
CODEC2 = Path("/usr/share/codec2/raw")
ASTERISK = Path("/usr/share/asterisk/sounds")
FILLETS = Path("/usr/share/games/fillets-ng/sound")
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
PACKAGES = (
    "codec2-examples",
    "asterisk-core-sounds-en",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-fr-wav",
    "asterisk-core-sounds-it-wav",
    "asterisk-prompt-it-menardi-wav",
    "asterisk-core-sounds-ru-wav",
    "asterisk-prompt-fr-armelle",
    "asterisk-prompt-es-co",
    "fillets-ng-data-nl",
)
RESERVED = frozenset({"vk5qi", "all", "speech_orig_16k", "wia_16kHz", "david4", "vk2tpm_004"})

PAUSE_SECONDS = 0.35  # a quieter stretch this long ends an utterance
SHORTEST_SECONDS = 0.8  # shorter utterances are dropped (a click, a breath, one syllable)
LONGEST_SECONDS = 8.0  # longer ones are cut at their quietest frame
FRAME_SECONDS = 0.02
SILENT_DB = -60.0  # frames quieter than this (dB full scale) are never speech


@dataclass(frozen=True)
class RealVoice:
    """One person: recordings (codec2 stems or one Asterisk prompt folder) and the split it is in."""

    name: str
    split: Literal["dev", "heldout"]
    language: str
    codec2: tuple[str, ...] = ()
    asterisk: str | None = None
    fillets: str | None = None  # a Fish Fillets NG character in the voice's language: "v" big fish, "m" small fish


# Of codec2's recordings only ve9qrp (112 s, one man) is long and plainly one person: ``hts`` joins
# ``hts1``, ``hts2`` and two more clips whose speakers CAM++ cannot tell apart from them (cosine
# 0.4-0.7), ``cq_ref`` and ``kristoff`` may be one man (0.58), and the rest last 2-6 s.
VOICES: dict[str, RealVoice] = {
    v.name: v
    for v in (
        RealVoice("ve9qrp", "dev", "en", codec2=("ve9qrp",)),
        RealVoice("armelle", "dev", "fr", asterisk="fr"),
        RealVoice("carlo", "dev", "it", asterisk="it_IT_m_Carlo"),
        RealVoice("menardi", "dev", "it", asterisk="it_IT_f_Menardi"),
        RealVoice("nl_bigfish", "dev", "nl", fillets="v"),
        RealVoice("nl_smallfish", "dev", "nl", fillets="m"),
        RealVoice("allison", "heldout", "en", asterisk="en_US_f_Allison"),
        RealVoice("june", "heldout", "fr", asterisk="fr_CA_f_June"),
        RealVoice("ivrvoice", "heldout", "ru", asterisk="ru_RU_f_IvrvoiceRU"),
        RealVoice("es_co", "heldout", "es", asterisk="es"),
    )
}


@dataclass(frozen=True)
class Utterance:
    """``audio``: ``(samples,)`` float32 at 16 kHz, RMS 0.05; ``text``: its words where known."""

    voice: str
    source: str
    audio: np.ndarray
    text: str | None


def available() -> bool:
    """Whether the Debian packages with the recordings are installed."""
    return (
        (CODEC2 / "ve9qrp.raw").is_file()
        and (ASTERISK / "en_US_f_Allison").is_dir()
        and any(FILLETS.glob("*/nl/*.ogg"))
    )


def voices(split: str | None = None) -> list[str]:
    return [name for name, voice in VOICES.items() if split is None or voice.split == split]


@cache
def utterances(name: str) -> tuple[Utterance, ...]:
    """Every usable utterance of one voice, in a fixed order."""
    voice = VOICES[name]
    found: list[Utterance] = []
    for stem in voice.codec2:
        if stem in RESERVED:
            raise ValueError(f"{stem} is reserved for held-out checks")
        audio = np.fromfile(CODEC2 / f"{stem}.raw", dtype="<i2").astype(np.float32) / 32768.0
        for index, piece in enumerate(split_at_pauses(resample(audio, 8000, RATE))):
            found.append(Utterance(name, f"{stem}#{index}", _normalized(piece), None))
    if voice.asterisk:
        # prompt names are the same in every language; English's text says which are tones or music
        english = _asterisk_texts()
        folder = ASTERISK / voice.asterisk
        for path in sorted([*folder.rglob("*.wav"), *folder.rglob("*.gsm")]):
            relative = path.relative_to(folder).with_suffix("").as_posix()
            if path.stem in RESERVED or relative.startswith("silence/") or english.get(relative, "").startswith("["):
                continue
            piece = _trimmed(_read_gsm(path) if path.suffix == ".gsm" else _read_wav(path))
            if SHORTEST_SECONDS * RATE <= len(piece) <= LONGEST_SECONDS * RATE:
                text = english.get(relative) if voice.language == "en" else None
                found.append(Utterance(name, f"{voice.asterisk}/{relative}", _normalized(piece), text))
    if voice.fillets:
        for path in sorted(FILLETS.glob(f"*/{voice.language}/*-{voice.fillets}-*.ogg")):
            line = _trimmed(_read_wav(path))  # one line of dialog; a long one is cut at its pauses
            pieces = [line] if len(line) <= LONGEST_SECONDS * RATE else split_at_pauses(line)
            for index, piece in enumerate(p for p in pieces if SHORTEST_SECONDS * RATE <= len(p)):
                found.append(
                    Utterance(name, f"{path.parent.parent.name}/{path.stem}#{index}", _normalized(piece), None)
                )
    if not found:
        raise FileNotFoundError(f"no recordings of {name}: install {', '.join(PACKAGES)} (scripts/setup.sh does)")
    return tuple(found)


def split_at_pauses(audio: np.ndarray) -> list[np.ndarray]:
    """Cut ``(samples,)`` 16 kHz speech where it is quiet for ``PAUSE_SECONDS``; pieces longer than
    ``LONGEST_SECONDS`` are cut again at their quietest frame; pieces shorter than ``SHORTEST_SECONDS``
    are dropped. Quiet: see :func:`_loud_frames`."""
    hop = int(FRAME_SECONDS * RATE)
    frames = len(audio) // hop
    if frames == 0:
        return []
    level, loud = _loud_frames(audio)
    pause = int(round(PAUSE_SECONDS / FRAME_SECONDS))
    pieces: list[tuple[int, int]] = []
    start, quiet = None, 0
    for index, on in enumerate(loud):
        if on:
            start = index if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= pause:
                pieces.append((start, index - quiet + 1))
                start, quiet = None, 0
    if start is not None:
        pieces.append((start, frames - quiet))
    out: list[np.ndarray] = []
    while pieces:
        first, last = pieces.pop(0)
        if (last - first) * FRAME_SECONDS > LONGEST_SECONDS:
            inner = slice(first + int(1.0 / FRAME_SECONDS), last - int(1.0 / FRAME_SECONDS))
            cut = inner.start + int(np.argmin(level[inner]))
            pieces[:0] = [(first, cut), (cut, last)]
            continue
        if (last - first) * FRAME_SECONDS >= SHORTEST_SECONDS:
            out.append(audio[max(0, first * hop - hop) : min(len(audio), last * hop + hop)])
    return out


def _trimmed(audio: np.ndarray) -> np.ndarray:
    """A prompt without its leading and trailing silence (kept whole inside: its words are known)."""
    hop = int(FRAME_SECONDS * RATE)
    if len(audio) < hop:
        return audio[:0]
    active = np.flatnonzero(_loud_frames(audio)[1])
    if not len(active):
        return audio[:0]
    return audio[max(0, (active[0] - 1) * hop) : (active[-1] + 2) * hop]


def _loud_frames(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ``FRAME_SECONDS`` frame of ``(samples,)`` audio (at least one frame): its level (dB) and
    whether it is loud: within 30 dB of the recording's loud frames (95th percentile), above ``SILENT_DB``."""
    hop = int(FRAME_SECONDS * RATE)
    frames = len(audio) // hop
    level = 10 * np.log10(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12)
    return level, (level > np.percentile(level, 95) - 30.0) & (level > SILENT_DB)


def _normalized(audio: np.ndarray) -> np.ndarray:
    return (audio / (np.sqrt(np.mean(audio**2)) + 1e-9) * 0.05).astype(np.float32)


def _read_wav(path: Path) -> np.ndarray:
    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, RATE)


def _read_gsm(path: Path) -> np.ndarray:
    """A headerless GSM 6.10 prompt (8 kHz), decoded by sox (libsndfile reads GSM only inside WAV)."""
    import subprocess

    raw = subprocess.run(
        ["sox", str(path), "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", "8000", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return resample(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0, 8000, RATE)


@lru_cache(maxsize=1)
def _asterisk_texts() -> dict[str, str]:
    """Prompt name (``digits/5``, ``vm-goodbye``) → its words, from ``core-sounds-en.txt``."""
    texts: dict[str, str] = {}
    if not ASTERISK_TEXT.is_file():
        return texts
    for line in gzip.open(ASTERISK_TEXT, "rt", encoding="utf-8", errors="replace"):
        if line.startswith(";") or ":" not in line:
            continue
        name, text = line.split(":", 1)
        texts[name.strip()] = " ".join(text.split())
    return texts
