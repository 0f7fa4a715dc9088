"""How alike a voice is to itself and to others, as meetsep's speaker embedder hears it.

For each voice (real people of :mod:`meetsep.sim.real_speech`, TTS voices of :data:`meetsep.sim.tts.FAMILIES`):
utterances through the same channels as the simulator's (none / telephone / codec / cheap microphone),
cut into stretches of ``--seconds`` (units of the diarizer are up to 3 s), embedded as the pipeline
embeds them (CAM++, band-limited to 4 kHz by default). Prints, per voice, the mean cosine of its
stretches with each other (same speaker) and with other voices of its family (different speakers),
and for centroids of ``--centroid`` stretches (what the diarizer's centroid merge compares) the same
two statistics, pooled per family.

    python pipelines/voice_similarity.py --families real,flite,festival
"""

from __future__ import annotations

import argparse
from itertools import combinations

import numpy as np


def stretches(family: str, voice: str, count: int, seconds: float, seed: int) -> list[np.ndarray]:
    """Up to ``count`` stretches of ``seconds`` of one voice, each from its own utterance, through
    a channel drawn per utterance (as the simulator's degradations do)."""
    from meetsep.sim import real_speech
    from meetsep.sim.degrade import CHANNELS, apply_channel
    from meetsep.sim.tts import HELDOUT_SENTENCES, SENTENCES, Synthesizer

    rng = np.random.default_rng(seed)
    rate = real_speech.RATE
    if family == "real":
        clips = [u.audio for u in real_speech.utterances(voice)]
        clips = [clips[i] for i in rng.permutation(len(clips))]
    else:
        synthesize = Synthesizer(rate)
        engine, name = voice.split(":", 1)
        clips = [synthesize(text, engine, name, 0.0, 1.0) for text in (SENTENCES + HELDOUT_SENTENCES)[: 2 * count]]
    out = []
    for clip in clips:
        if len(clip) >= seconds * rate:
            start = int(rng.integers(0, len(clip) - int(seconds * rate) + 1))
            piece = clip[start : start + int(seconds * rate)]
            out.append(apply_channel(piece, str(rng.choice(CHANNELS))) * 10 ** (rng.uniform(-6, 6) / 20))
        if len(out) == count:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="real,flite,festival")
    parser.add_argument("--count", type=int, default=40, help="stretches per voice")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--centroid", type=int, default=8, help="stretches per centroid")
    parser.add_argument("--embedding-rate", type=int, default=8000)
    args = parser.parse_args()

    import meetsep
    from meetsep.io.audio import resample
    from meetsep.sim import real_speech
    from meetsep.sim.tts import FAMILIES
    from meetsep.stages.embedding import SpeakerEmbedder

    config = meetsep.load_config([], [f"attribute.embedding_rate={args.embedding_rate}"])
    embedder = SpeakerEmbedder(config.attribute, config.runtime)

    def embed(audio: np.ndarray) -> np.ndarray:
        if args.embedding_rate == 8000:
            audio = resample(resample(audio, 16000, 8000), 8000, 16000)
        return embedder(audio)

    rng = np.random.default_rng(0)
    print(f"{'voice':<28}{'stretches':>10}{'same':>8}{'others':>8}   (cosine of {args.seconds:.0f} s stretches)")
    for family in args.families.split(","):
        names = real_speech.voices() if family == "real" else FAMILIES[family]
        vectors = {}
        for index, name in enumerate(names):
            pieces = stretches(family, name, args.count, args.seconds, seed=index)
            vectors[name] = (
                np.stack([v for v in embedder.embed_many(pieces) if not np.isnan(v).any()]) if pieces else None
            )
            del pieces
        vectors = {k: v for k, v in vectors.items() if v is not None and len(v) >= 2}
        same_all, other_all, centroid_same, centroid_other = [], [], [], []
        centroids: dict[str, list[np.ndarray]] = {}
        for name, unit in vectors.items():
            similarity = unit @ unit.T
            same = similarity[np.triu_indices(len(unit), 1)]
            others = np.concatenate([(unit @ v.T).ravel() for k, v in vectors.items() if k != name] or [np.array([])])
            same_all.append(same)
            other_all.append(others)
            label = f"{family}:{name}" if family == "real" else name
            print(
                f"{label:<28}{len(unit):>10}{same.mean():>8.2f}{others.mean() if len(others) else float('nan'):>8.2f}"
            )
            order = rng.permutation(len(unit))
            groups = [order[i : i + args.centroid] for i in range(0, len(order) - args.centroid + 1, args.centroid)]
            centroids[name] = [unit[g].mean(axis=0) / np.linalg.norm(unit[g].mean(axis=0)) for g in groups]
        for name, own in centroids.items():
            centroid_same += [float(a @ b) for a, b in combinations(own, 2)]
            centroid_other += [float(a @ b) for k, other in centroids.items() if k > name for a in own for b in other]
        same, other = np.concatenate(same_all), np.concatenate(other_all)
        print(
            f"{family + ' (all)':<28}{'':>10}{same.mean():>8.2f}{other.mean():>8.2f}   "
            f"same 5th pct {np.percentile(same, 5):.2f}, others 95th pct {np.percentile(other, 95):.2f}, max {other.max():.2f}"
        )
        if centroid_same and centroid_other:
            print(
                f"{'  centroids of ' + str(args.centroid):<28}{'':>10}{np.mean(centroid_same):>8.2f}{np.mean(centroid_other):>8.2f}   "
                f"same min {np.min(centroid_same):.2f}, others max {np.max(centroid_other):.2f}"
            )


if __name__ == "__main__":
    main()
