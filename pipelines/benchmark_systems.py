"""One configuration of ``pipelines/benchmark.py`` over the session folders given: hypotheses, timing.json.

Configurations:

- ``a_one_channel``: Whisper on one microphone + diarization, each word to the speaker active at its
  time — how WhisperX works (``beamform.kind=reference``, ``separate.kind=none``).
- ``b_average_nosep``: the meetsep chain without separation (channels averaged; ablation).
- ``b_mvdr``: MVDR beam per diarized speaker, ASR per speaker stream, no separation network (ablation).
- ``b_convtasnet``: channels averaged, overlapped regions separated by the shipped single-channel
  Conv-TasNet, ASR per speaker stream (single-channel separation alone).
- ``b_gss``: guided source separation (cACGMM masks + MVDR per speaker segment; spatial separation).
- ``b_meetsep``: the meetsep chain with its defaults (the full chain).
- ``b_wpe``: the full chain, its speaker beams made from WPE-dereverberated channels (``beamform.dereverb=wpe``).
- ``c_oracle``: the same Whisper on each speaker's own reverberant image at the reference mic, on the
  reference speech regions, words given to the true speaker — the floor no system can beat here.
- ``d_peer_senko`` (when the ``senko`` diarizer and its dependencies are installed): senko's
  diarization, with the same Whisper on the reference mic and the same word-to-speaker rule as (a).
- ``e_given_beams``: the reference diarization given (``--diarization``, the session's ``reference.rttm``),
  then the defaults' speaker beams and ASR: what diarization costs the full chain.
- ``e_given_gss``: the reference diarization given, guided source separation (``separate.kind=gss``).
- ``z_before``: the defaults of an earlier revision of meetsep (``--baseline-rev``, taken from git
  into build/), run by that revision's own code: what a change did, in the same run.

This script imports only names every meetsep revision since 0236ca8 has (``meetsep.Pipeline``,
``meetsep.load_config``, ``meetsep.formats.to_seglst``) for the configurations that run meetsep:
``z_before`` runs it on an earlier revision's package, whose modules sat elsewhere.

    python pipelines/benchmark_systems.py --run-config b_meetsep --out OUT build/corpus/ci/ci_00 ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, Any]] = {
    "a_one_channel": {"beamform.kind": "reference", "separate.kind": "none"},
    "b_average_nosep": {"beamform.kind": "average", "separate.kind": "none"},
    "b_mvdr": {"beamform.kind": "mvdr", "separate.kind": "none"},
    "b_convtasnet": {"beamform.kind": "average", "separate.kind": "convtasnet"},
    "b_gss": {"beamform.kind": "average", "separate.kind": "gss"},
    "b_meetsep": {},
    "b_wpe": {"beamform.dereverb": "wpe"},
    "c_oracle": {},
    "d_peer_senko": {"beamform.kind": "reference", "separate.kind": "none"},
    "e_given_beams": {},
    "e_given_gss": {"beamform.kind": "average", "separate.kind": "gss"},
    "z_before": {},
}
GIVEN = {"e_given_beams", "e_given_gss"}  # run on the reference diarization (reference.rttm)


def run_configuration(name: str, sessions: list[Path], out: Path, overrides: list[str]) -> None:
    """Transcribe every session with one configuration; write hypotheses and timing.json."""
    import meetsep
    from meetsep.formats import to_seglst

    out.mkdir(parents=True, exist_ok=True)
    config = meetsep.load_config([], [f"{k}={v}" for k, v in CONFIGS[name].items()] + overrides)
    timing = StageSeconds()
    audio_seconds, wall = 0.0, 0.0
    peaks: dict[str, float] = {}  # peak resident MB after each session (which one needed the memory)
    pipeline = None if name in ("c_oracle", "d_peer_senko") else meetsep.Pipeline(config)
    for session in sessions:
        began = time.perf_counter()
        if pipeline is not None:
            plan = json.loads((session / "meta.json").read_text()).get("plan", {})
            layout = "mono" if plan.get("mode") == "phone-call" else "array"
            given = dict(diarization=session / "reference.rttm") if name in GIVEN else {}
            transcript = pipeline(session / "mix.flac", layout=layout, session_id=session.name, hook=timing, **given)
            # to_seglst and .diarization: written so that the z_before revision's meetsep runs this too
            entries = json.loads(to_seglst(transcript))
            diarization = [dict(speaker=d.speaker, start_time=d.start, end_time=d.end) for d in transcript.diarization]
            duration = transcript.duration
            language = dict(
                code=getattr(transcript, "language", None),
                probability=getattr(transcript, "language_probability", None),
                count_confidence=getattr(transcript, "speaker_count_confidence", None),
            )
            (out / f"{session.name}.language.json").write_text(json.dumps(language))
        elif name == "c_oracle":
            entries, diarization, duration = _oracle(session, config)
        else:
            entries, diarization, duration = _peer_senko(session, config, timing)
        wall += time.perf_counter() - began
        audio_seconds += duration
        (out / f"{session.name}.seglst.json").write_text(json.dumps(entries, indent=1))
        (out / f"{session.name}.diarization.json").write_text(json.dumps(diarization))
        peaks[session.name] = peak_mb()
    peak = peak_mb()
    (out / "timing.json").write_text(
        json.dumps(
            dict(wall=wall, audio_seconds=audio_seconds, stages=dict(timing.seconds), peak_mb=peak, peaks_mb=peaks)
        )
    )


class StageSeconds:
    """Wall seconds per stage from the pipeline's ``end`` events (any revision's hook events)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        if event.kind == "end":
            self.seconds[event.stage] = self.seconds.get(event.stage, 0.0) + event.elapsed


def peak_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``; ru_maxrss would carry the parent's peak)."""
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))


def _oracle(session: Path, config: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    import soundfile as sf

    from meetsep.core.records import Stream
    from meetsep.io.audio import resample
    from meetsep.io.formats import turn_entries
    from meetsep.stages.asr import Recognizer

    reference = json.loads((session / "reference.seglst.json").read_text())
    recognizer = Recognizer(config.asr, config.runtime)
    streams = []
    for image in sorted((session / "speakers").glob("*.flac")):
        audio, rate = sf.read(str(image), dtype="float32")
        regions = [(e["start_time"], e["end_time"]) for e in reference if e["speaker"] == image.stem]
        streams.append(Stream(resample(audio, rate, 16000), 16000, image.stem, image.stem, regions))
    words = recognizer(streams).words
    from meetsep.schema import Word
    from meetsep.stages.transcript import build_turns

    turns = build_turns(
        [
            Word(text=w.text, start=w.start, end=w.end, speaker=w.speaker or "?", probability=w.probability)
            for w in words
        ]
    )
    entries = turn_entries(session.name, turns)
    diarization = [dict(speaker=e["speaker"], start_time=e["start_time"], end_time=e["end_time"]) for e in reference]
    info = sf.info(str(session / "mix.flac"))
    return entries, diarization, info.frames / info.samplerate


def _peer_senko(session: Path, config: Any, timing: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """senko's diarization + the same Whisper on the reference mic, words to the active speaker."""
    import tempfile

    import senko  # noqa: F401  (the peer system; optional)
    import soundfile as sf

    from meetsep.core.intervals import overlapping_parts
    from meetsep.core.records import Diarization, Stream
    from meetsep.io.audio import resample
    from meetsep.io.formats import diarization_entries, seglst_entries
    from meetsep.schema import ChannelLayout, SpeakerSegment
    from meetsep.stages.asr import Recognizer
    from meetsep.stages.assign import assign_words
    from meetsep.stages.transcript import build_transcript

    audio, rate = sf.read(str(session / "mix.flac"), dtype="float32", always_2d=True)
    mono = resample(audio[:, 0], rate, 16000)
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        sf.write(handle.name, mono, 16000, subtype="PCM_16")
        diarizer = _senko_diarizer()
        result = diarizer.diarize(handle.name)
    segments = [
        SpeakerSegment(speaker=str(s["speaker"]), start=float(s["start"]), end=float(s["end"]))
        for s in (result or {}).get("merged_segments", [])
    ]
    diarization = Diarization(segments, segments, overlapping_parts(segments))
    recognizer = Recognizer(config.asr, config.runtime)
    regions = [(s.start, s.end) for s in segments]
    words = recognizer([Stream(mono, 16000, "mix", regions=regions)]).words
    transcript = build_transcript(
        session_id=session.name,
        duration=len(mono) / 16000,
        layout=ChannelLayout.MONO,
        language=None,
        diarization=diarization,
        words=assign_words(words, diarization),
        config_hash="peer",
    )
    return seglst_entries(transcript), diarization_entries(transcript), len(mono) / 16000


_SENKO: Any = None


def _senko_diarizer() -> Any:
    global _SENKO
    if _SENKO is None:
        import senko

        _SENKO = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    return _SENKO


def senko_available() -> bool:
    try:
        import senko  # noqa: F401
    except Exception:
        return False
    return True


def main() -> None:
    """One configuration over the session folders given (``pipelines/benchmark.py`` starts one per configuration)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-config", required=True, choices=CONFIGS)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("sessions", type=Path, nargs="+")
    args = parser.parse_args()
    run_configuration(args.run_config, args.sessions, args.out, args.overrides)


if __name__ == "__main__":
    main()
