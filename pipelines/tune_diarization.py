"""Diarization variants side by side on simulated meetings: DER and speaker count, no ASR.

Segmentation and every unit's embeddings (voice and, for array input, where the speech comes
from) are computed once per meeting by the pipeline's front half (:meth:`meetsep.Pipeline.diarize`)
and cached under ``--cache``; each variant then only clusters and reconstructs, so dozens of variants
compare in minutes. Variants are ``NAME:key=value,...`` with keys of the ``attribute`` config section
(``clustering``, ``threshold``, ``spatial_weight``, ``embed_every``, ...; ``max_unit_seconds`` is
``--unit-seconds``, which the cache is made for).

Leave-family-out: choose defaults with ``--split dev`` (meetings of the dev voice families) and
report them with ``--split heldout`` only once they are chosen.

    python pipelines/tune_diarization.py --split dev \\
        --variant ahc:clustering=ahc --variant spectral:clustering=spectral \\
        --variant spectral_space:clustering=spectral,spatial_weight=0.5
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.sim.corpora import CORPORA, make_corpus


class CachedUnits:
    """A :class:`meetsep.core.protocols.UnitEmbedder` that returns embeddings computed once for every unit.

    Voice (192) and spatial parts are kept apart, so any ``spatial_weight`` joins them as
    :class:`meetsep.stages.embedding.VoiceAndPlaceEmbedder` would: ``[voice, w · place] / sqrt(1 + w²)``.
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


def front_config(args: argparse.Namespace, segment: dict[str, Any], attribute: dict[str, Any]) -> Any:
    """The pipeline whose front half (:meth:`meetsep.Pipeline.diarize`) makes the cache: the mixture's
    beamformer, the cached segmentation's settings, every window embedded, at ``--embedding-rate``, and
    voice and place joined at weight 1 (:func:`prepare` splits them again)."""
    from meetsep import load_config

    overrides = {
        "beamform.kind": "average" if args.mixture == "wpe" else args.mixture,
        "attribute.spatial_weight": 1.0,
        "attribute.embedding_rate": args.embedding_rate,
        "attribute.embed_every": 1,
        **{f"segment.{key}": value for key, value in segment.items()},
        **{f"attribute.{key}": value for key, value in attribute.items()},
    }
    return load_config([], overrides)


def prepare(session: Path, cache: Path, front: Callable[[], Any], mixture: str) -> dict[str, Any]:
    """Mixture length, segmentation and all unit embeddings of one meeting (cached); ``front()`` gives
    the pipeline that makes them (see :func:`front_config`)."""
    target = cache / f"{session.name}.pkl"
    if target.is_file():
        return pickle.loads(target.read_bytes())
    from meetsep.io.audio import load_recording, resample

    mono = json.loads((session / "meta.json").read_text())["config"].get("mode") == "phone-call"
    recording = load_recording(session / "mix.flac", layout="mono" if mono else "array")
    wpe = resample(_wpe_average(recording), recording.sample_rate, 16000) if mixture == "wpe" else None
    pipeline = front()
    detail = pipeline.diarize(recording, mixture=wpe)
    joined, size = detail.embeddings, pipeline.embedder.dimension
    if joined.shape[-1] > size:  # array input: voice and place joined at weight 1, each part unit-norm again
        voice, place = joined[..., :size] * np.sqrt(2.0), joined[..., size:] * np.sqrt(2.0)
    else:  # one channel (a phone call) tells nothing of where speech comes from: voice only, as the pipeline does;
        # kept as caches always held it, through a weight-1 join and back (float32 ÷ √2, × √2)
        voice, place = (joined / np.sqrt(2.0)).astype(np.float32) * np.sqrt(2.0), None
    data = dict(samples=len(detail.audio), segmentation=detail.segmentation, voice=voice, place=place)
    cache.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(data))
    return data


def _wpe_average(recording: Any) -> np.ndarray:
    """The channels dereverberated by meetsep's WPE (whole recording at once), averaged."""
    from meetsep.core.dsp import StftSettings
    from meetsep.io.audio import read_window
    from meetsep.stages.dereverb import dereverberate

    audio = read_window(recording, 0.0, recording.num_samples / recording.sample_rate)
    return dereverberate(audio, StftSettings(fft_size=512, hop=128)).mean(axis=0)


def run_variant(
    data: dict[str, Any], overrides: dict[str, Any], base: dict[str, Any]
) -> tuple[list[Any], float | None]:
    """The diarization of the cached units with the ``attribute`` settings ``base`` + ``overrides``."""
    from meetsep.core.config import AttributeConfig
    from meetsep.stages.diarize import Diarizer
    from meetsep.stages.embedding import MIN_CLEAN_SECONDS

    config = AttributeConfig(**{**base, **overrides})
    embed = CachedUnits(data["voice"], data["place"], config.spatial_weight, MIN_CLEAN_SECONDS)
    diarization = Diarizer(config)(np.zeros(data["samples"], np.float32), data["segmentation"], embed)
    return diarization.segments, getattr(diarization, "count_confidence", None)


class OracleClustering:
    """Clusters units by the reference: each unit goes to the reference speaker active in most of its
    active frames (a clustering for :class:`meetsep.stages.diarize.Diarizer`)."""

    confidence = None

    def __init__(self, reference: list[dict[str, Any]]) -> None:
        self.reference = reference
        self.names = sorted({r["speaker"] for r in reference})

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
                        for r in self.reference
                        if r["speaker"] == n
                    )
                    for n in self.names
                ]
                labels[w, u] = int(np.argmax(votes))
        return labels, None, None


def run_oracle(data: dict[str, Any], reference: list[dict[str, Any]], base: dict[str, Any]) -> list[Any]:
    """The same units and segmentation, each unit given the reference speaker it overlaps most:
    the DER left by segmentation and reconstruction alone (the floor clustering can reach)."""
    from meetsep.core.config import AttributeConfig
    from meetsep.stages.diarize import Diarizer
    from meetsep.stages.embedding import MIN_CLEAN_SECONDS

    diarizer = Diarizer(AttributeConfig(**base), clustering=OracleClustering(reference))
    embed = CachedUnits(data["voice"], data["place"], 0.0, MIN_CLEAN_SECONDS)
    return diarizer(np.zeros(data["samples"], np.float32), data["segmentation"], embed).segments


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
    parser.add_argument("--corpus", default="generalization", choices=CORPORA)
    parser.add_argument(
        "--sessions",
        type=Path,
        default=None,
        help="a folder of simulated sessions instead of a corpus (e.g. build/linking/calls of eval_linking.py)",
    )
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
    import meetsep

    attribute = {"max_unit_seconds": args.unit_seconds} if args.unit_seconds else {}
    if args.unit_seconds:
        args.cache = args.cache / f"units{args.unit_seconds:g}"
    if args.embedding_rate != 16000:
        args.cache = args.cache / f"embedding{args.embedding_rate}"
    if args.mixture != "average":
        args.cache = args.cache / f"mixture-{args.mixture}"
    segment: dict[str, Any] = {}  # segment config overrides of the cached segmentation
    if args.segment:
        segment.update(parse_variant("segment:" + args.segment)[1])
        args.cache = args.cache / ("segment-" + args.segment.replace("=", "").replace(",", "-"))
    from meetsep.analysis.evaluate import der_components, score_session

    if args.sessions is not None:
        found = sorted(p for p in args.sessions.iterdir() if (p / "meta.json").is_file())
        args.corpus = args.sessions.name
    else:
        found = make_corpus(args.corpus, Path("build/corpus") / args.corpus)
    sessions = [s for s in found if args.split == "all" or s.name.startswith(args.split)]
    # the pipeline is made (models found and loaded) only when a meeting is not cached yet
    front = functools.cache(lambda: meetsep.Pipeline(front_config(args, segment, attribute)))
    variants = [parse_variant(v) for v in args.variant] or [("defaults", {})]
    if args.oracle:
        variants.append(("oracle_clusters", {}))
    began = time.perf_counter()
    prepared = {s.name: prepare(s, args.cache / args.corpus, front, args.mixture) for s in sessions}
    print(f"{len(sessions)} meetings prepared in {time.perf_counter() - began:.0f} s", flush=True)
    print(f"{'variant':<24} {'DER':>6} {'count exact':>12} {'|count err|':>12}  by family (DER / exact)")
    for name, overrides in variants:
        rows = []
        components: list[dict[str, float]] = []
        told: list[tuple[float, bool]] = []  # (count confidence, count exact) per session
        for session in sessions:
            reference = json.loads((session / "reference.seglst.json").read_text())
            if name == "oracle_clusters":
                segments = run_oracle(prepared[session.name], reference, attribute)
            elif overrides.get("num_speakers") == "oracle":
                count = len({r["speaker"] for r in reference})
                segments, _ = run_variant(prepared[session.name], dict(overrides, num_speakers=count), attribute)
            else:
                segments, confidence = run_variant(prepared[session.name], overrides, attribute)
            hypothesis = [dict(speaker=s.speaker, start_time=s.start, end_time=s.end) for s in segments]
            # no words: only the diarization is scored (the WER columns are meaningless here)
            scores = score_session(
                reference, [dict(h, words="") for h in hypothesis], hypothesis, session_id=session.name
            )
            family = session.name.split("_")[1]
            rows.append((family, scores))
            if name != "oracle_clusters" and overrides.get("num_speakers") is None and confidence is not None:
                told.append((confidence, scores.speaker_count_error == 0))
            components.append(der_components(reference, hypothesis))
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
        if told:  # how often the count was exact for each band of the count's confidence
            cells = [
                f"[{low:.1f}, {min(high, 1.0):.1f}) {sum(e for c, e in told if low <= c < high)}/{sum(low <= c < high for c, _ in told)}"
                for low, high in CONFIDENCE_BANDS
            ]
            print(f"{'':<24} count exact by confidence: {'  '.join(cells)}")


CONFIDENCE_BANDS = ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.45), (0.45, 0.6), (0.6, 1.01))


if __name__ == "__main__":
    main()
