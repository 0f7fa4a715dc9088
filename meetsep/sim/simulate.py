"""Simulated meetings and calls with exact references, from Debian's offline TTS voices.

A meeting: sentence-level turns of 2-6 speakers (flite and espeak-ng voices, multiplied by pitch and
tempo changes with sox), placed so that a target share of the speech overlaps (LibriCSS-style:
overlapped speech time / total speech time, measured on the placed audio); a pyroomacoustics
shoebox room with a circular or linear array; additive noise at a chosen SNR. A call: 8 kHz stereo,
telephone band, one speaker per channel with crosstalk. Everything follows from the seed.

Outputs (``write_meeting``): ``mix.flac`` (channels × samples), ``speakers/<spk>.flac`` (each
speaker's reverberant image at the reference microphone), ``reference.seglst.json`` and
``reference.rttm`` (one entry per sentence, trimmed to the audible speech), ``meta.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from meetsep.io.audio import resample
from meetsep.io.files import atomic_path, atomic_write_text
from meetsep.sim import real_speech
from meetsep.sim.degrade import CHANNELS, apply_channel, pink_noise
from meetsep.sim.tts import CALL_SENTENCES, FAMILIES, HELDOUT_SENTENCES, SENTENCES, Synthesizer, sox_effects

# (engine, voice). flite voices are distinct speakers; espeak-ng variants differ in formants and pitch.
VOICES: list[tuple[str, str]] = [
    ("flite", "slt"),
    ("flite", "awb"),
    ("flite", "rms"),
    ("flite", "kal16"),
    ("espeak-ng", "en-us+f3"),
    ("espeak-ng", "en-gb+m3"),
    ("espeak-ng", "en-us+m7"),
    ("espeak-ng", "en-gb+f4"),
]


REUSE_OFFSETS = (0.0, 3.5, -3.5, 6.0, -6.0)  # semitones: a family voice speaking for a 2nd, 3rd ... speaker


class SimulationConfig(BaseModel):
    """Everything that defines a simulated meeting (with the seed, it defines it exactly)."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    mode: Literal["meeting", "call-center", "phone-call"] = Field(
        default="meeting",
        description="meeting: a room and an array; call-center: 8 kHz stereo, a speaker per channel; phone-call: "
        "8 kHz mono, both speakers through the telephone band (a two-person call recorded on one channel).",
    )
    num_speakers: int = Field(default=3, ge=2, le=6)
    voices: list[str] | None = Field(
        default=None,
        description='Explicit voices, e.g. ["flite:slt", "espeak-ng:en-gb+m3"]; default: drawn from the pool.',
    )
    family: Literal["espeak", "flite", "festival", "piper", "real"] | None = Field(
        default=None,
        description="Draw the voices from one family of meetsep.sim.tts.FAMILIES (a voice used twice is pitch-shifted), "
        "or real: recordings of people (meetsep.sim.real_speech) of the split `sentences` names, each utterance used "
        "once; TTS voices of the flite family fill in when the split has too few people.",
    )
    degrade: bool = Field(
        default=False,
        description="Vary each speaker as a real one varies: a channel per speaker (telephone, codec, cheap "
        "microphone or none), level ±6 dB and speed ±10 % per utterance.",
    )
    sentences: Literal["dev", "heldout"] = Field(
        default="dev", description="dev: the sentences defaults are tuned on; heldout: sentences used only to report."
    )
    noise: Literal["white", "pink"] = "white"
    num_sentences: int = Field(default=12, ge=1, description="Sentences in the meeting, spread over the speakers.")
    overlap_ratio: float = Field(default=0.2, ge=0.0, le=0.6, description="Target overlapped speech / total speech.")
    voice_augmentation: bool = Field(
        default=True, description="Random pitch (±2 semitones) and tempo (±8 %) per speaker."
    )
    sample_rate: int = 16000
    room: tuple[float, float, float] = (6.0, 5.0, 3.0)
    rt60: float = Field(default=0.3, ge=0.0, le=1.0)
    array: Literal["circular", "linear"] = "circular"
    num_mics: int = Field(default=4, ge=1, le=16)
    array_radius: float = Field(default=0.05, gt=0.0, description="Circular radius or linear spacing (m).")
    speaker_distance: tuple[float, float] = (1.0, 2.2)
    snr_db: float | None = Field(default=30.0, description="White noise SNR at the mics; None: no noise.")
    crosstalk_db: float = Field(default=-25.0, description="Call-center: leak of each speaker into the other channel.")


@dataclass
class SimulatedMeeting:
    """A simulated meeting.

    Attributes:
        audio: ``(channels, samples)`` float32 mixture.
        speaker_images: speaker → ``(samples,)`` reverberant image at the reference mic (same gain).
        reference: SegLST entries (one per sentence), sorted by start.
        metadata: config, voices, geometry, measured overlap ratio, duration.
    """

    audio: np.ndarray
    sample_rate: int
    speaker_images: dict[str, np.ndarray]
    reference: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


def _activity_overlap(intervals: list[tuple[float, float, str]]) -> tuple[float, float]:
    """(overlapped time, speech time) of placed intervals, different speakers only."""
    events = sorted([(a, 1) for a, _, _ in intervals] + [(b, -1) for _, b, _ in intervals])
    active, last, speech, overlap = 0, 0.0, 0.0, 0.0
    for time, delta in events:
        if active >= 1:
            speech += time - last
        if active >= 2:
            overlap += time - last
        active += delta
        last = time
    return overlap, speech


def _place(durations: list[float], speakers: list[int], target: float, rng: np.random.Generator) -> list[float]:
    """Start times: turn i starts after turn i-1 ends (gap) or inside it, tuned to reach the target ratio."""

    def starts_for(fraction: float) -> list[float]:
        local = np.random.default_rng(int(rng_seed))
        starts, end_of = [], {}
        cursor = 0.3
        for index, duration in enumerate(durations):
            if index == 0:
                start = cursor
            else:
                previous_end = starts[-1] + durations[index - 1]
                own_end = end_of.get(speakers[index], 0.0)
                if fraction > 0 and local.random() < 0.85:
                    start = previous_end - fraction * min(durations[index - 1], duration) * local.uniform(0.6, 1.4)
                else:
                    start = previous_end + local.uniform(0.2, 0.8)
                start = max(start, own_end + 0.15, starts[-1] + 0.3)
            starts.append(float(start))
            end_of[speakers[index]] = start + duration
        return starts

    rng_seed = int(rng.integers(2**31))
    if target <= 0:
        return starts_for(0.0)
    low, high = 0.0, 1.0
    best = starts_for(target)
    for _ in range(25):  # bisection on the overlap fraction until the measured ratio fits
        middle = (low + high) / 2
        starts = starts_for(middle)
        overlap, speech = _activity_overlap([(s, s + d, str(p)) for s, d, p in zip(starts, durations, speakers)])
        ratio = overlap / speech if speech else 0.0
        best = starts
        if abs(ratio - target) < 0.01:
            break
        low, high = (middle, high) if ratio < target else (low, middle)
    return best


def simulate_meeting(config: SimulationConfig, session_id: str = "meeting") -> SimulatedMeeting:
    """Simulate one meeting (or call) from ``config``; deterministic for a given seed."""
    rng = np.random.default_rng(config.seed)
    call = config.mode != "meeting"
    rate = 8000 if call else config.sample_rate
    synthesize = Synthesizer(16000)
    count = 2 if call else config.num_speakers
    offsets = [0.0] * count  # semitones apart for a voice that speaks for several speakers
    if config.voices:
        if len(config.voices) != count:
            raise ValueError(f"{len(config.voices)} voices given for {count} speakers")
        chosen = [tuple(v.split(":", 1)) for v in config.voices]
    elif config.family == "real":
        pool = [f"real:{name}" for name in real_speech.voices(config.sentences)]
        pool = [pool[i] for i in rng.permutation(len(pool))] + FAMILIES["flite"]
        chosen = [tuple(pool[i].split(":", 1)) for i in range(count)]
    elif config.family:
        pool = FAMILIES[config.family]
        order = rng.permutation(len(pool))
        chosen = [tuple(pool[order[i % len(pool)]].split(":", 1)) for i in range(count)]
        offsets = [REUSE_OFFSETS[i // len(pool)] for i in range(count)]
    else:
        chosen = [VOICES[i] for i in rng.permutation(len(VOICES))[:count]]
    voices = [
        dict(
            engine=e,
            voice=v,
            # a real voice is heard as recorded: pitch and tempo shifts would make it another person
            pitch=offset + (float(rng.uniform(-2, 2)) if config.voice_augmentation and e != "real" else 0.0),
            tempo=float(rng.uniform(0.92, 1.08)) if config.voice_augmentation and e != "real" else 1.0,
        )
        for (e, v), offset in zip(chosen, offsets)
    ]
    channels = [str(rng.choice(CHANNELS)) for _ in range(count)] if config.degrade else ["none"] * count
    names = ["agent", "customer"] if call else [f"spk{i}" for i in range(count)]
    if config.mode == "call-center":
        script = [(names.index(who), text) for who, text in CALL_SENTENCES[: config.num_sentences]]
    else:
        sentences = HELDOUT_SENTENCES if config.sentences == "heldout" else SENTENCES
        order = rng.permutation(len(sentences))
        script, previous = [], -1
        for index in range(config.num_sentences):
            speaker = int(rng.integers(count - 1)) if previous >= 0 else int(rng.integers(count))
            speaker = speaker + (speaker >= previous) if previous >= 0 else speaker  # never the same speaker twice
            script.append((speaker, sentences[order[index % len(order)]]))
            previous = speaker
    script = _real_utterances(script, voices, rng)  # a real speaker's lines are its own utterances
    if config.degrade:  # the same person, a different pace and loudness in each sentence
        pace = [float(rng.uniform(0.9, 1.1)) for _ in script]
        loudness = [10 ** (float(rng.uniform(-6, 6)) / 20) for _ in script]
        clips = [
            apply_channel(_speech(synthesize, text, voices[s], p), channels[s]) * g
            for (s, text), p, g in zip(script, pace, loudness)
        ]
    else:
        clips = [_speech(synthesize, text, voices[speaker], 1.0) for speaker, text in script]
    durations = [len(c) / 16000 for c in clips]
    starts = _place(durations, [s for s, _ in script], config.overlap_ratio, rng)
    total = int((max(s + d for s, d in zip(starts, durations)) + 0.5) * 16000)
    dry = np.zeros((count, total), dtype=np.float32)
    for (speaker, _), start, clip in zip(script, starts, clips):
        offset = int(round(start * 16000))
        dry[speaker, offset : offset + len(clip)] += clip * float(rng.uniform(0.8, 1.25))
    if call:
        images, mix, geometry = _call_center(dry, config, rng, mono=config.mode == "phone-call")
    else:
        images, mix, geometry = _room(dry, config, rng)
    mix = resample(mix, 16000, rate) if rate != 16000 else mix
    images = resample(images, 16000, rate) if rate != 16000 else images
    gain = 0.9 / max(float(np.abs(mix).max()), 1e-9)
    mix, images = (mix * gain).astype(np.float32), (images * gain).astype(np.float32)
    reference = sorted(
        (
            dict(
                session_id=session_id,
                speaker=names[s],
                start_time=round(a, 3),
                end_time=round(a + d, 3),
                words=text if isinstance(text, str) else (text.text or ""),
            )
            for (s, text), a, d in zip(script, starts, durations)
        ),
        key=lambda e: (e["start_time"], e["speaker"]),
    )
    overlap, speech = _activity_overlap([(e["start_time"], e["end_time"], e["speaker"]) for e in reference])
    metadata = dict(
        session_id=session_id,
        config=config.model_dump(mode="json"),
        voices={n: {**v, **({"channel": c} if config.degrade else {})} for n, v, c in zip(names, voices, channels)},
        geometry=geometry,
        overlap_ratio=round(overlap / speech, 4) if speech else 0.0,
        # whether every line's words are known (a real voice's are only for some recordings): WER needs them
        words_known=all(isinstance(text, str) or text.text is not None for _, text in script),
        utterances=[text.source for _, text in script if not isinstance(text, str)],
        duration=round(mix.shape[1] / rate, 3),
        sample_rate=rate,
    )
    return SimulatedMeeting(mix, rate, {n: images[i] for i, n in enumerate(names)}, reference, metadata)


def _real_utterances(
    script: list[tuple[int, str]], voices: list[dict[str, Any]], rng: np.random.Generator
) -> list[tuple[int, str | real_speech.Utterance]]:
    """The script with each real speaker's lines replaced by its own utterances, drawn without
    replacement (a clip used twice embeds identically, which no real voice does)."""
    orders: dict[int, list[int]] = {}
    out: list[tuple[int, str | real_speech.Utterance]] = []
    for speaker, text in script:
        voice = voices[speaker]
        if voice["engine"] != "real":
            out.append((speaker, text))
            continue
        pool = real_speech.utterances(voice["voice"])
        order = orders.setdefault(speaker, [int(i) for i in rng.permutation(len(pool))])
        if not order:
            raise ValueError(f"real voice {voice['voice']} has only {len(pool)} utterances")
        out.append((speaker, pool[order.pop()]))
    return out


def _speech(
    synthesize: Synthesizer, line: str | real_speech.Utterance, voice: dict[str, Any], pace: float
) -> np.ndarray:
    """One line of a speaker: a real utterance (its speed changed by ``pace`` with sox) or TTS."""
    if isinstance(line, str):
        return synthesize(line, **{**voice, "tempo": voice["tempo"] * pace})
    if abs(pace - 1.0) < 1e-3:
        return line.audio
    return sox_effects(line.audio, real_speech.RATE, ["tempo", "-s", f"{pace:.3f}"])


def _room(
    dry: np.ndarray, config: SimulationConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    import pyroomacoustics as pra

    # the multithreaded RIR builder sums in a varying order: one thread makes the output repeatable
    pra.constants.set("num_threads", 1)
    dims = np.array(config.room)
    center = np.array([dims[0] / 2, dims[1] / 2, 1.2])
    if config.array == "circular":
        xy = pra.circular_2D_array(center[:2], config.num_mics, 0.0, config.array_radius)
    else:
        xy = pra.linear_2D_array(center[:2], config.num_mics, 0.0, config.array_radius)
    mics = np.vstack([xy, np.full(config.num_mics, center[2])])
    if config.rt60 > 0:
        absorption, max_order = pra.inverse_sabine(config.rt60, dims)
        room = pra.ShoeBox(dims, fs=16000, materials=pra.Material(absorption), max_order=max_order)
    else:
        room = pra.ShoeBox(dims, fs=16000, max_order=0)
    room.add_microphone_array(mics)
    angles = np.sort(rng.uniform(0, 2 * np.pi, dry.shape[0])) + rng.uniform(0, 2 * np.pi)
    positions = []
    for index, angle in enumerate(angles):
        distance = rng.uniform(*config.speaker_distance)
        position = center + np.array([distance * np.cos(angle), distance * np.sin(angle), rng.uniform(0.0, 0.4)])
        position = np.clip(position, 0.3, dims - 0.3)
        positions.append(position.round(3).tolist())
        room.add_source(position, signal=dry[index])
    room.compute_rir()
    images = room.simulate(return_premix=True)[:, :, : dry.shape[1]]  # (sources, mics, samples)
    mix = images.sum(axis=0)
    if config.snr_db is not None:
        noise = pink_noise(mix.shape, rng) if config.noise == "pink" else rng.standard_normal(mix.shape)
        noise *= np.sqrt(np.mean(mix**2) / np.mean(noise**2) / 10 ** (config.snr_db / 10))
        mix = mix + noise
    geometry = dict(room=dims.tolist(), mics=mics.round(4).T.tolist(), speakers=positions, rt60=config.rt60)
    return images[:, 0, :].astype(np.float32), mix.astype(np.float32), geometry


def _call_center(
    dry: np.ndarray, config: SimulationConfig, rng: np.random.Generator, mono: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A call in the telephone band: a speaker per channel with crosstalk, or both on one (``mono``)."""
    from scipy.signal import butter, sosfilt

    band = butter(4, [300, 3400], btype="bandpass", fs=16000, output="sos")
    channels = sosfilt(band, dry, axis=1)
    leak = 10 ** (config.crosstalk_db / 20)
    if mono:
        mix = channels.sum(axis=0, keepdims=True)
    else:
        mix = np.stack([channels[0] + leak * channels[1], channels[1] + leak * channels[0]])
    if config.snr_db is not None:
        noise = sosfilt(band, rng.standard_normal(mix.shape), axis=1)
        noise *= np.sqrt(np.mean(mix**2) / np.mean(noise**2) / 10 ** (config.snr_db / 10))
        mix = mix + noise
    return (
        channels.astype(np.float32),
        mix.astype(np.float32),
        dict(telephone_band=[300, 3400], **({} if mono else {"crosstalk_db": config.crosstalk_db})),
    )


def write_meeting(meeting: SimulatedMeeting, out_dir: Path) -> dict[str, Path]:
    """Write mix, speaker images, reference SegLST and RTTM, and metadata; each file atomically."""
    from meeteval.io import SegLST

    out_dir = Path(out_dir)
    (out_dir / "speakers").mkdir(parents=True, exist_ok=True)
    paths = {"mix": out_dir / "mix.flac"}
    _write_flac(paths["mix"], meeting.audio, meeting.sample_rate)
    for name, image in meeting.speaker_images.items():
        paths[f"speaker:{name}"] = out_dir / "speakers" / f"{name}.flac"
        _write_flac(paths[f"speaker:{name}"], image[None], meeting.sample_rate)
    paths["seglst"] = atomic_write_text(out_dir / "reference.seglst.json", SegLST(meeting.reference).dumps() + "\n")
    rttm = "".join(
        f"SPEAKER {e['session_id']} 1 {e['start_time']:.3f} {e['end_time'] - e['start_time']:.3f} <NA> <NA> {e['speaker']} <NA> <NA>\n"
        for e in meeting.reference
    )
    paths["rttm"] = atomic_write_text(out_dir / "reference.rttm", rttm)
    paths["meta"] = atomic_write_text(
        out_dir / "meta.json", json.dumps(meeting.metadata, indent=2, sort_keys=True) + "\n"
    )
    return paths


def _write_flac(path: Path, audio: np.ndarray, rate: int) -> None:
    import soundfile as sf

    with atomic_path(path) as temporary:
        sf.write(str(temporary), np.clip(audio, -1, 1).T, rate, format="FLAC", subtype="PCM_16")
