"""Diarization variants side by side on simulated meetings: DER and speaker count, no ASR.

Segmentation and every unit's embeddings (voice and, for array input, where the speech comes
from) are computed once per meeting and cached under ``--cache``; each variant then only clusters
and reconstructs, so dozens of variants compare in minutes. Variants are ``NAME:key=value,...``
with keys of the ``attribute`` config section (``clustering``, ``threshold``, ``spatial_weight``,
``embed_every``, ...).

Leave-family-out: choose defaults with ``--split dev`` (meetings of the dev voice families) and
report them with ``--split heldout`` only once they are chosen.

    python pipelines/tune_diarization.py --split dev \\
        --variant ahc:clustering=ahc --variant spectral:clustering=spectral \\
        --variant spectral_space:clustering=spectral,spatial_weight=0.5
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark  # noqa: E402  (the corpus plans)

EMBEDDING_RATE = 16000
MIXTURE = "average"
SEGMENT: dict[str, Any] = {}  # segment config overrides of the cached segmentation


class CachedUnits:
    """A :class:`meetsep.core.types.UnitEmbedder` that returns embeddings computed once for every unit.

    Voice (192) and spatial parts are kept apart, so any ``spatial_weight`` joins them as
    :class:`meetsep.stages.embedding.UnitEmbedder` would: ``[voice, w · place] / sqrt(1 + w²)``.
    """

    def __init__(self, voice: np.ndarray, place: np.ndarray | None, weight: float, min_clean_seconds: float) -> None:
        self.min_clean_seconds = min_clean_seconds
        self.spatial = object() if (place is not None and weight > 0) else None
        if self.spatial is None:
            self.table = voice
        else:
            self.table = np.concatenate([voice, weight * place], axis=-1) / np.sqrt(1 + weight**2)
        self.dimension = self.table.shape[-1]

    def __call__(self, audio: Any, speech: Any, selected: np.ndarray | None = None, reporter: Any = None) -> np.ndarray:
        out = self.table.copy()
        if selected is not None:
            out[~selected] = np.nan
        return out


def prepare(session: Path, cache: Path) -> dict[str, Any]:
    """Mixture length, segmentation and all unit embeddings of one meeting (cached)."""
    target = cache / f"{session.name}.pkl"
    if target.is_file():
        return pickle.loads(target.read_bytes())
    from meetsep.io.audio import load_recording, resample
    from meetsep.stages.beamform import Beamformer
    from meetsep.core.config import AttributeConfig, BeamformConfig, RuntimeConfig, SegmentConfig
    from meetsep.stages.diarize import Diarizer
    from meetsep.stages.embedding import SpatialFeatures, SpeakerEmbedder, UnitEmbedder
    from meetsep.stages.segment import Segmenter

    mono = benchmark.session_plan(session).get("mode") == "phone-call"
    recording = load_recording(session / "mix.flac", layout="mono" if mono else "array")
    if MIXTURE == "wpe":
        mixture = resample(_wpe_average(recording), recording.sample_rate, 16000)
    else:
        mixture = resample(Beamformer(BeamformConfig(kind=MIXTURE))(recording), recording.sample_rate, 16000)
    segmentation = Segmenter(SegmentConfig(**SEGMENT), RuntimeConfig())(mixture)
    speech = Diarizer(AttributeConfig()).units(segmentation)
    embedder = SpeakerEmbedder(AttributeConfig(), RuntimeConfig())
    config = AttributeConfig(spatial_weight=1.0, embedding_rate=EMBEDDING_RATE)
    joined = UnitEmbedder(embedder, config, SpatialFeatures(recording))(mixture, speech)
    data = dict(
        samples=len(mixture),
        segmentation=segmentation,
        voice=joined[..., : embedder.dimension] * np.sqrt(2.0),
        # one channel (a phone call) tells nothing of where speech comes from: voice only, as the pipeline does
        place=joined[..., embedder.dimension :] * np.sqrt(2.0) if recording.num_channels > 1 else None,
    )
    cache.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(data))
    return data


def _wpe_average(recording: Any) -> np.ndarray:
    """The channels dereverberated by meetsep's WPE (whole recording at once), averaged."""
    from meetsep.io.audio import read_window
    from meetsep.stages.dereverb import dereverberate
    from meetsep.core.dsp import StftSettings

    audio = read_window(recording, 0.0, recording.num_samples / recording.sample_rate)
    return dereverberate(audio, StftSettings(fft_size=512, hop=128)).mean(axis=0)


def run_variant(data: dict[str, Any], overrides: dict[str, Any]) -> tuple[list[Any], float | None]:
    from meetsep.core.config import AttributeConfig
    from meetsep.stages.diarize import Diarizer
    from meetsep.stages.embedding import MIN_CLEAN_SECONDS

    config = AttributeConfig(**overrides)
    embed = CachedUnits(data["voice"], data["place"], config.spatial_weight, MIN_CLEAN_SECONDS)
    diarization = Diarizer(config)(np.zeros(data["samples"], np.float32), data["segmentation"], embed)
    return diarization.segments, getattr(diarization, "count_confidence", None)


def run_oracle(data: dict[str, Any], reference: list[dict[str, Any]]) -> list[Any]:
    """The same units and segmentation, each unit given the reference speaker it overlaps most:
    the DER left by segmentation and reconstruction alone (the floor clustering can reach)."""
    import meetsep.stages.diarize as diarize
    from meetsep.core.config import AttributeConfig
    from meetsep.stages.embedding import MIN_CLEAN_SECONDS

    names = sorted({r["speaker"] for r in reference})

    class Oracle:
        confidence = None

        def __call__(self, embeddings: np.ndarray, segmentations: Any, **_: Any) -> Any:
            window = segmentations.sliding_window
            num_windows, num_frames, width = segmentations.data.shape
            labels = np.zeros((num_windows, width), dtype=np.int64)
            for w in range(num_windows):
                start = window[w].start
                times = start + (np.arange(num_frames) + 0.5) * (window.duration / num_frames)
                for u in range(width):
                    active = times[segmentations.data[w, :, u] > 0.5]
                    votes = [
                        sum(
                            np.sum((active >= r["start_time"]) & (active < r["end_time"]))
                            for r in reference
                            if r["speaker"] == n
                        )
                        for n in names
                    ]
                    labels[w, u] = int(np.argmax(votes))
            return labels, None, None

    original = diarize._clustering
    diarize._clustering = lambda *args, **kwargs: Oracle()
    try:
        config = AttributeConfig()
        embed = CachedUnits(data["voice"], data["place"], 0.0, MIN_CLEAN_SECONDS)
        diarization = diarize.Diarizer(config)(np.zeros(data["samples"], np.float32), data["segmentation"], embed)
    finally:
        diarize._clustering = original
    return diarization.segments


def _components(reference: list[dict[str, Any]], hypothesis: list[dict[str, Any]]) -> dict[str, float]:
    """Missed speech, false alarm and confusion (seconds, no collar) of one meeting, on the annotations
    :func:`meetsep.analysis.evaluate.score_session` scores."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    from meetsep.analysis.evaluate import _annotation

    annotations = [_annotation(items, "session") for items in (reference, hypothesis)]
    return DiarizationErrorRate(collar=0.0, skip_overlap=False)(*annotations, detailed=True)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    import yaml

    name, _, settings = text.partition(":")
    overrides = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    return name, overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="generalization")
    parser.add_argument("--split", default="dev", help="session id prefix: dev or heldout (all: every session)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:key=value,...")
    parser.add_argument("--cache", type=Path, default=Path("build/tune"))
    parser.add_argument(
        "--oracle", action="store_true", help="also each unit given its reference speaker (segmentation's DER floor)"
    )
    parser.add_argument(
        "--segment", default="", metavar="key=value,...", help="segment config of the cached segmentation"
    )
    parser.add_argument("--per-session", action="store_true", help="print one line per session and variant")
    parser.add_argument("--unit-seconds", type=float, default=None, help="longest unit (default: meetsep's)")
    parser.add_argument(
        "--mixture",
        default="average",
        choices=["average", "reference", "wpe"],
        help="beamform.kind of the mixture (wpe: channels dereverberated by WPE, then averaged)",
    )
    parser.add_argument(
        "--embedding-rate", type=int, default=16000, help="attribute.embedding_rate of the cached embeddings"
    )
    args = parser.parse_args()
    import meetsep.stages.diarize

    if args.unit_seconds:
        meetsep.stages.diarize.MAX_UNIT_SECONDS = args.unit_seconds
        args.cache = args.cache / f"units{args.unit_seconds:g}"
    if args.embedding_rate != 16000:
        args.cache = args.cache / f"embedding{args.embedding_rate}"
    if args.mixture != "average":
        args.cache = args.cache / f"mixture-{args.mixture}"
    global EMBEDDING_RATE, MIXTURE
    EMBEDDING_RATE, MIXTURE = args.embedding_rate, args.mixture
    if args.segment:
        SEGMENT.update(parse_variant("segment:" + args.segment)[1])
        args.cache = args.cache / ("segment-" + args.segment.replace("=", "").replace(",", "-"))
    from meetsep.analysis.evaluate import score_session

    corpus_dir = Path("build/corpus") / args.corpus
    sessions = [
        s
        for s in benchmark.make_corpus(args.corpus, corpus_dir)
        if args.split == "all" or s.name.startswith(args.split)
    ]
    variants = [parse_variant(v) for v in args.variant] or [("defaults", {})]
    if args.oracle:
        variants.append(("oracle_clusters", {}))
    began = time.perf_counter()
    prepared = {s.name: prepare(s, args.cache / args.corpus) for s in sessions}
    print(f"{len(sessions)} meetings prepared in {time.perf_counter() - began:.0f} s", flush=True)
    print(f"{'variant':<24} {'DER':>6} {'count exact':>12} {'|count err|':>12}  by family (DER / exact)")
    for name, overrides in variants:
        rows = []
        components: list[dict[str, float]] = []
        for session in sessions:
            reference = json.loads((session / "reference.seglst.json").read_text())
            if name == "oracle_clusters":
                segments = run_oracle(prepared[session.name], reference)
            elif overrides.get("num_speakers") == "oracle":
                count = len({r["speaker"] for r in reference})
                segments, _ = run_variant(prepared[session.name], dict(overrides, num_speakers=count))
            else:
                segments, _ = run_variant(prepared[session.name], overrides)
            hypothesis = [dict(speaker=s.speaker, start_time=s.start, end_time=s.end) for s in segments]
            # no words: only the diarization is scored (the WER columns are meaningless here)
            scores = score_session(
                reference, [dict(h, words="") for h in hypothesis], hypothesis, session_id=session.name
            )
            family = session.name.split("_")[1]
            rows.append((family, scores))
            components.append(_components(reference, hypothesis))
            if args.per_session:
                print(
                    f"  {name:<22} {session.name:<20} DER {100 * scores.der:5.1f}%  speakers {scores.hypothesis_speakers} (ref {scores.reference_speakers})"
                )
        speech = sum(s.reference_speech for _, s in rows)
        der = sum(s.der * s.reference_speech for _, s in rows) / speech
        exact = np.mean([s.speaker_count_error == 0 for _, s in rows])
        error = np.mean([abs(s.speaker_count_error) for _, s in rows])
        families = []
        for family in sorted({f for f, _ in rows}):
            group = [s for f, s in rows if f == family]
            family_der = sum(s.der * s.reference_speech for s in group) / sum(s.reference_speech for s in group)
            families.append(
                f"{family} {100 * family_der:.1f}% / {np.mean([s.speaker_count_error == 0 for s in group]):.2f}"
            )
        print(f"{name:<24} {100 * der:5.1f}% {exact:12.2f} {error:12.2f}  {'; '.join(families)}", flush=True)
        total = sum(c["total"] for c in components)
        parts = {
            k: 100 * sum(c[k] for c in components) / total for k in ("missed detection", "false alarm", "confusion")
        }
        print(
            f"{'':<24} missed {parts['missed detection']:.1f}%, false alarm {parts['false alarm']:.1f}%, confusion {parts['confusion']:.1f}%"
        )


if __name__ == "__main__":
    main()
