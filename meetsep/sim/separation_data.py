"""Two-talker reverberant mixtures of TTS speech, to train and measure 16 kHz separation networks.

``pipelines/train_separator.py`` trains on them and ``pipelines/eval_separator.py`` measures on them:

- **Voices**: flite and espeak-ng voices, each clip shaped by sox with a random speed (moves pitch and
  formants together), pitch and tempo change, so one TTS voice yields many talkers. The voices are split:
  :data:`TRAIN_VOICES` for training, :data:`HELDOUT_VOICES` (never trained on) for validation and
  measuring; training sentences and held-out sentences differ too.
- **Rooms**: a bank of pyroomacoustics shoebox rooms (RT60 0.1-0.5 s), two sources and one microphone each.
- **Mixtures** (:func:`mixture`), drawn from a :class:`Corpus` of clips and rooms by a random generator:
  two clips of different voices, each convolved with its room's impulse response, a level ratio of ±5 dB,
  white noise at 15-40 dB SNR; the targets are each talker's reverberant image.

A corpus is fixed by its recipe (voices, sentences, shapings, rooms, seed); :func:`make_corpus` can keep
it in a file pair, so a machine without TTS trains on exactly what another one synthesized.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meetsep.sim.tts import CALL_SENTENCES, SENTENCES, speak

RATE = 16000
TRAIN_VOICES = [("flite", v) for v in ("slt", "rms", "kal16", "kal")] + [
    ("espeak-ng", f"{lang}+{variant}")
    for lang, variants in {
        "en-us": ("m1", "m2", "m4", "m5", "f1", "f2", "adam", "Alex", "linda", "steph", "klatt2", "david"),
        "en-gb": ("m1", "m6", "f1", "f5", "john", "paul", "max", "edward", "Andy", "benjamin"),
    }.items()
    for variant in variants
]
HELDOUT_VOICES = [
    ("flite", "awb"),
    ("espeak-ng", "en-us+f3"),
    ("espeak-ng", "en-gb+m3"),
    ("espeak-ng", "en-us+m7"),
    ("espeak-ng", "en-gb+f4"),
]
TRAIN_SENTENCES = SENTENCES[:40]
HELDOUT_SENTENCES = SENTENCES[40:] + [text for _, text in CALL_SENTENCES]


def _synthesize(job: tuple[str, str, str, float, float, float]) -> np.ndarray:
    """One TTS clip, shaped by sox (speed → pitch+formants, pitch, tempo), 16 kHz, trimmed, unit RMS."""
    text, engine, voice, speed, cents, tempo = job
    audio = speak(
        text, engine, voice, RATE, ["speed", f"{speed:.4f}", "pitch", f"{cents:.0f}", "tempo", "-s", f"{tempo:.4f}"]
    )
    return (audio / (np.sqrt(np.mean(audio**2)) + 1e-9)).astype(np.float32)


def speech_bank(
    voices: list[tuple[str, str]], sentences: list[str], variants: int, seed: int, workers: int = 2
) -> tuple[list[np.ndarray], np.ndarray]:
    """Clips and their talker id (voice index × variant): ``variants`` random shapings per voice."""
    rng = np.random.default_rng(seed)
    jobs, talkers = [], []
    for v, (engine, voice) in enumerate(voices):
        for variant in range(variants):
            speed, cents, tempo = rng.uniform(0.9, 1.1), rng.uniform(-250, 250), rng.uniform(0.9, 1.1)
            for text in sentences:
                jobs.append((text, engine, voice, float(speed), float(cents), float(tempo)))
                talkers.append(v * variants + variant)
    with ProcessPoolExecutor(workers) as pool:
        clips = list(pool.map(_synthesize, jobs, chunksize=8))
    return clips, np.array(talkers)


def _room_pair(seed: int) -> list[np.ndarray]:
    import pyroomacoustics as pra

    pra.constants.set("num_threads", 1)
    rng = np.random.default_rng(seed)
    while True:  # redraw the rare room whose size cannot reach its RT60
        dims = np.array([rng.uniform(3, 8), rng.uniform(3, 7), rng.uniform(2.5, 3.5)])
        try:
            absorption, max_order = pra.inverse_sabine(rng.uniform(0.1, 0.5), dims)
            break
        except ValueError:
            continue
    room = pra.ShoeBox(dims, fs=RATE, materials=pra.Material(absorption), max_order=min(max_order, 20))
    mic = np.array([rng.uniform(1, dims[0] - 1), rng.uniform(1, dims[1] - 1), rng.uniform(0.8, 1.5)])
    room.add_microphone(mic)
    for _ in range(2):
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 2.5)
        position = np.clip(
            mic + [distance * np.cos(angle), distance * np.sin(angle), rng.uniform(0.0, 0.5)], 0.3, dims - 0.3
        )
        room.add_source(position)
    room.compute_rir()
    return [np.asarray(room.rir[0][s], dtype=np.float32) for s in range(2)]


def room_bank(count: int, seed: int, workers: int = 2) -> list[list[np.ndarray]]:
    """``count`` rooms, each the impulse responses of its two sources at its microphone (fixed by ``seed``)."""
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_room_pair, [seed * 100_000 + i for i in range(count)], chunksize=4))


class CorpusFileError(ValueError):
    """A corpus kept in files cannot be used: it was made from another recipe, or its files disagree."""


@dataclass
class Corpus:
    """Clips of speech, who says each, and a bank of rooms: what :func:`mixture` draws from."""

    clips: list[np.ndarray]
    talkers: np.ndarray
    voice_of: np.ndarray  # base voice per clip (two clips of one base voice are never mixed)
    rooms: list[list[np.ndarray]]


def make_corpus(
    voices: list[tuple[str, str]],
    sentences: list[str],
    variants: int,
    rooms: int,
    seed: int,
    cache: Path | None = None,
    codec: str = "flac",
) -> Corpus:
    """Synthesize the clips and rooms; with ``cache`` (a file stem), load them from there when that file was
    made from the same recipe, else make them and save them there (to train on a machine without TTS).

    Raises:
        CorpusFileError: ``cache`` holds a corpus of another recipe, or its audio does not match its index.
    """
    recipe = json.dumps(dict(voices=voices, sentences=sentences, variants=variants, rooms=rooms, seed=seed))
    if cache is not None and cache.with_suffix(".npz").is_file():
        corpus, saved = load_corpus(cache)
        if saved != recipe:
            raise CorpusFileError(
                f"{cache}.npz: was made from another recipe; delete it or use another --corpus folder"
            )
        return corpus
    clips, talkers = speech_bank(voices, sentences, variants, seed)
    corpus = Corpus(clips, talkers, talkers // variants, room_bank(rooms, seed))
    if cache is not None:  # train on what was stored (16-bit or Vorbis), so a cached run equals a fresh one
        save_corpus(corpus, cache, recipe, codec)
        corpus = load_corpus(cache)[0]
    return corpus


def save_corpus(corpus: Corpus, stem: Path, recipe: str, codec: str = "flac") -> None:
    """``stem.npz`` (talkers, rooms, clip lengths and gains, recipe) + all clips in one audio file:
    ``stem.flac`` (lossless 16-bit, about 2.3 MB per minute) or ``stem.ogg`` (Vorbis, about 0.25 MB per minute, to carry a
    corpus to a machine without TTS)."""
    import soundfile as sf

    stem.parent.mkdir(parents=True, exist_ok=True)
    gains = np.array([np.abs(c).max() / 0.99 + 1e-9 for c in corpus.clips], dtype=np.float32)
    audio = stem.with_suffix(".flac" if codec == "flac" else ".ogg")
    temporary = audio.with_name(f".{audio.name}.tmp")
    options = (
        dict(format="FLAC", subtype="PCM_16")
        if codec == "flac"
        else dict(format="OGG", subtype="VORBIS", compression_level=0.8)
    )
    with sf.SoundFile(str(temporary), "w", RATE, 1, **options) as stream:
        for clip, gain in zip(corpus.clips, gains):  # clip by clip: libsndfile's Vorbis encoder crashes on huge writes
            stream.write(clip / gain)
    os.replace(temporary, audio)
    rirs = [r for pair in corpus.rooms for r in pair]
    temporary = stem.with_name(f".{stem.name}.tmp.npz")
    np.savez_compressed(
        temporary,
        recipe=recipe,
        audio=audio.name,
        lengths=[len(c) for c in corpus.clips],
        gains=gains,
        talkers=corpus.talkers,
        voice_of=corpus.voice_of,
        rir_lengths=[len(r) for r in rirs],
        rirs=np.concatenate(rirs),
    )
    os.replace(temporary, stem.with_suffix(".npz"))


def load_corpus(stem: Path) -> tuple[Corpus, str]:
    """The corpus :func:`save_corpus` wrote at ``stem``, and the recipe it was made from."""
    import soundfile as sf

    saved = np.load(stem.with_suffix(".npz"))
    audio, _ = sf.read(str(stem.parent / str(saved["audio"])), dtype="float32")
    ends = np.cumsum(saved["lengths"])
    if len(audio) != ends[-1]:
        raise CorpusFileError(f"{stem.parent / str(saved['audio'])}: holds {len(audio)} samples, expected {ends[-1]}")
    clips = [c * g for c, g in zip(np.split(audio, ends[:-1]), saved["gains"])]
    rirs = np.split(saved["rirs"], np.cumsum(saved["rir_lengths"])[:-1])
    rooms = [list(rirs[i : i + 2]) for i in range(0, len(rirs), 2)]
    return Corpus(clips, saved["talkers"], saved["voice_of"], rooms), str(saved["recipe"])


def mixture(corpus: Corpus, rng: np.random.Generator, seconds: float | None) -> tuple[np.ndarray, np.ndarray]:
    """One mixture and its two reverberant images. ``seconds=None``: whole utterances, partly overlapped."""
    from scipy.signal import fftconvolve

    first = int(rng.integers(len(corpus.clips)))
    others = np.flatnonzero(corpus.voice_of != corpus.voice_of[first])
    second = int(others[rng.integers(len(others))])
    sources = []
    for index in (first, second):
        clip = corpus.clips[index]
        if seconds is not None:
            length = int(seconds * RATE)
            if len(clip) > length:
                start = int(rng.integers(len(clip) - length))
                clip = clip[start : start + length]
            placed = np.zeros(length, dtype=np.float32)
            offset = int(rng.integers(length - len(clip) + 1))
            placed[offset : offset + len(clip)] = clip
            if rng.random() < 0.3:  # partial overlap: silence one end
                cut = int(rng.uniform(0.2, 0.6) * length)
                placed[:cut] = 0 if rng.random() < 0.5 else placed[:cut]
                placed[-cut:] = 0 if placed[:cut].any() else placed[-cut:]
            clip = placed
        sources.append(clip)
    if seconds is None:  # whole utterances: the second starts inside the first (overlap 30-100 % of the shorter)
        shorter = min(len(s) for s in sources)
        delay = int(rng.uniform(0.0, 0.7) * shorter)
        length = max(len(sources[0]), delay + len(sources[1]))
        padded = np.zeros((2, length), dtype=np.float32)
        padded[0, : len(sources[0])] = sources[0]
        padded[1, delay : delay + len(sources[1])] = sources[1]
        sources = list(padded)
    rirs = corpus.rooms[int(rng.integers(len(corpus.rooms)))]
    images = np.stack([fftconvolve(s, r)[: len(s)] for s, r in zip(sources, rirs)])
    images /= np.sqrt(np.mean(images**2, axis=1, keepdims=True)) + 1e-9
    images[1] *= 10 ** (rng.uniform(-5, 5) / 20)
    mix = images.sum(axis=0)
    noise = rng.standard_normal(len(mix)).astype(np.float32)
    mix = mix + noise * np.sqrt(np.mean(mix**2) / 10 ** (rng.uniform(15, 40) / 10))
    scale = rng.uniform(0.05, 0.3) / (np.sqrt(np.mean(mix**2)) + 1e-9)
    return (mix * scale).astype(np.float32), (images * scale).astype(np.float32)
