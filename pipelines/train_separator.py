"""Train a 16 kHz two-speaker Conv-TasNet (SpeechBrain modules) on dynamically mixed TTS speech.

    python pipelines/train_separator.py --out runs/sep16k --minutes 80 --export meetsep/weights/convtasnet-16k

On a GPU machine without TTS: make the corpus here (``--corpus DIR --codec vorbis`` writes it, about 38 MB for
the default 116 minutes and 200 rooms), take DIR along, and train there with the same corpus flags:

    python pipelines/train_separator.py --out runs/sep --corpus DIR --codec vorbis --device cuda --workers 14 \
        --batch 16 --seconds 4 --X 8 --R 3 --lr 1e-3 --halve-every 3000 --export DIR_OUT

The shipped ``convtasnet-16k`` (X=8, R=3, 1.67 M parameters) was trained that way on one H100 in three legs
of about 8.5 minutes each (the device time a session had): 2745 steps from scratch (lr 1e-3, halving every
3000); then ``--init`` from that export with ``--stream 1`` (lr 1e-3, halving every 2000) for 2862 steps;
then that run resumed from its checkpoint with ``--stream 2 --lr 5e-4 --halve-every 1500`` (the rate is a
function of the step: 1.3e-4 falling to 3.4e-5) to step 5785 — 8607 steps of 16 × 4 s in all; validation
SI-SNRi had levelled off at about 6.5 dB. ``pipelines/eval_separator.py`` measures it.

Data, all generated here and fixed by the seed:

- **Voices**: flite and espeak-ng voices, each clip shaped by sox with a random speed (moves pitch and
  formants together), pitch and tempo change, so one TTS voice yields many talkers. The voices are split:
  ``TRAIN_VOICES`` for training, ``HELDOUT_VOICES`` (never trained on) for validation and for
  ``pipelines/eval_separator.py``. Training sentences and held-out sentences differ too.
- **Rooms**: a bank of pyroomacoustics shoebox rooms (RT60 0.1-0.5 s), two sources and one microphone each.
- **Mixtures**, drawn fresh every step (dynamic mixing): two clips of different voices, random crops and
  offsets (full to partial overlap), each convolved with its room's impulse response, a level ratio of
  ±5 dB, white noise at 15-40 dB SNR. Targets are each talker's reverberant image, so the network learns
  to separate, not to dereverberate.

Loss: negative SI-SNR with permutation-invariant training (SpeechBrain's PIT wrapper). The batch of
step ``k`` depends only on (seed, k), so a run resumed from its checkpoint makes exactly the steps an
uninterrupted run would. Checkpoints (model, optimizer, step, history) are written atomically every
``--save-every`` steps and on Ctrl-C; starting again with the same ``--out`` resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meetsep.analysis.evaluate import si_snr_improvement  # noqa: E402
from meetsep.sim.tts import CALL_SENTENCES, SENTENCES, speak  # noqa: E402

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


# --------------------------------------------------------------------------- speech and rooms
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
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_room_pair, [seed * 100_000 + i for i in range(count)], chunksize=4))


@dataclass
class Corpus:
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
    made from the same recipe, else make them and save them there (to train on a machine without TTS)."""
    recipe = json.dumps(dict(voices=voices, sentences=sentences, variants=variants, rooms=rooms, seed=seed))
    if cache is not None and cache.with_suffix(".npz").is_file():
        corpus, saved = load_corpus(cache)
        if saved != recipe:
            raise SystemExit(f"{cache}.npz: was made from another recipe; delete it or use another --corpus folder")
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
    import soundfile as sf

    saved = np.load(stem.with_suffix(".npz"))
    audio, _ = sf.read(str(stem.parent / str(saved["audio"])), dtype="float32")
    ends = np.cumsum(saved["lengths"])
    if len(audio) != ends[-1]:
        raise SystemExit(f"{stem.parent / str(saved['audio'])}: holds {len(audio)} samples, expected {ends[-1]}")
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


# --------------------------------------------------------------------------- training
def train(args: argparse.Namespace) -> Path:
    import torch
    from speechbrain.nnet.losses import get_si_snr_with_pitwrapper
    from tqdm import tqdm

    from meetsep.loading.sepmodels import (
        SeparationNet,
        build_modules,
        convtasnet_hparams,
        convtasnet_yaml,
        save_speechbrain_folder,
    )

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # training crops all have one length
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    hparams = convtasnet_hparams(N=args.N, B=args.B, H=args.H, X=args.X, R=args.R, kernel_size=args.kernel)
    yaml_text = convtasnet_yaml(hparams)
    torch.manual_seed(args.seed)
    _, modules = build_modules(yaml_text)
    modules.to(device)
    net = SeparationNet(modules, 2)
    optimizer = torch.optim.Adam(modules.parameters(), lr=args.lr)
    checkpoint = out / "checkpoint.pt"
    step, history = 0, []
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state["hparams"] != hparams:
            raise SystemExit(f"{checkpoint}: was trained with {state['hparams']}, not {hparams}; use another --out")
        modules.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = state["step"], json.loads(state["history"])
        print(f"resumed from {checkpoint} at step {step}", flush=True)
    elif args.init:  # fine-tune: weights of a SpeechBrain folder, a fresh optimizer, step 0 of this run
        for name, module in modules.items():
            module.load_state_dict(torch.load(Path(args.init) / f"{name}.ckpt", map_location=device, weights_only=True))
        print(f"initialized from {args.init}", flush=True)

    def save() -> None:
        temporary = out / ".checkpoint.pt.tmp"
        torch.save(
            dict(
                hparams=hparams,
                model=modules.state_dict(),
                optimizer=optimizer.state_dict(),
                step=step,
                history=json.dumps(history),
            ),
            temporary,
        )
        os.replace(temporary, checkpoint)

    def export() -> None:
        modules.eval().cpu()
        save_speechbrain_folder(Path(args.export), yaml_text, modules)
        print(f"exported step {step} to {args.export} (SpeechBrain folder)", flush=True)

    if args.export_only:
        export()
        return checkpoint
    interrupted = []
    signal.signal(signal.SIGTERM, lambda *_: interrupted.append(True))
    print(f"Conv-TasNet {hparams}: {sum(p.numel() for p in modules.parameters()) / 1e6:.2f} M parameters", flush=True)
    cache = Path(args.corpus) if args.corpus else None
    corpus = make_corpus(
        TRAIN_VOICES[: args.voices],
        TRAIN_SENTENCES[: args.sentences],
        args.variants,
        args.rooms,
        args.seed,
        cache and cache / "train",
        args.codec,
    )
    valid = (
        make_corpus(HELDOUT_VOICES, HELDOUT_SENTENCES[:6], 1, 20, args.seed + 1, cache and cache / "valid", args.codec)
        if args.valid_every
        else None
    )
    print(
        f"corpus: {len(corpus.clips)} clips, {sum(map(len, corpus.clips)) / RATE / 60:.1f} min, {len(corpus.rooms)} rooms",
        flush=True,
    )
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else float("inf")
    scheduler_gamma = 0.5 ** (1 / args.halve_every) if args.halve_every else 1.0
    progress = tqdm(total=args.steps, initial=step, desc="train", unit="step", disable=args.quiet)
    batches = iter(
        torch.utils.data.DataLoader(
            StepBatches(corpus, args, step), batch_size=None, num_workers=args.workers, pin_memory=device.type == "cuda"
        )
    )
    try:
        while step < args.steps and time.monotonic() < deadline and not interrupted:
            mix, targets = (t.to(device, non_blocking=True) for t in next(batches))
            modules.train()
            estimates = net(mix).permute(0, 2, 1)
            loss = get_si_snr_with_pitwrapper(targets, estimates).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(modules.parameters(), 5.0)
            optimizer.step()
            for group in optimizer.param_groups:
                group["lr"] = args.lr * scheduler_gamma ** (step + 1)
            step += 1
            progress.update(1)
            progress.set_postfix(si_snr=f"{-loss.item():.2f}")
            record = {"step": step, "train_si_snr": round(-loss.item(), 3)}
            if valid is not None and step % args.valid_every == 0:
                record["valid_si_snri"] = round(evaluate(net, modules, valid, 24, args.seed + 1, device), 3)
                print(f"step {step}: valid SI-SNRi {record['valid_si_snri']:.2f} dB (unseen voices)", flush=True)
            history.append(record)
            if step % args.save_every == 0:
                save()
    except KeyboardInterrupt:
        print("interrupted; saving", flush=True)
    progress.close()
    save()
    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    if args.export:
        export()
    return checkpoint


class StepBatches:
    """Item ``i``: the batch of training step ``first + i`` — ``(mixtures (B, T), images (B, T, 2))``, a function of
    (seed, step) alone, so DataLoader workers, resuming and the device change nothing in what is trained on."""

    def __init__(self, corpus: Corpus, args: argparse.Namespace, first: int) -> None:
        self.corpus, self.args, self.first = corpus, args, first

    def __len__(self) -> int:
        return max(self.args.steps - self.first, 0)

    def __getitem__(self, index: int):  # noqa: ANN204
        import torch

        rng = np.random.default_rng([self.args.seed, self.args.stream, self.first + index])
        pairs = [mixture(self.corpus, rng, self.args.seconds) for _ in range(self.args.batch)]
        return torch.from_numpy(np.stack([m for m, _ in pairs])), torch.from_numpy(
            np.stack([t for _, t in pairs])
        ).permute(0, 2, 1)


def evaluate(net, modules, corpus: Corpus, count: int, seed: int, device=None) -> float:  # noqa: ANN001
    import torch

    modules.eval()
    scores = []
    with torch.inference_mode():
        for index in range(count):
            mix, images = mixture(corpus, np.random.default_rng([seed, index]), None)
            estimates = net(torch.from_numpy(mix)[None].to(device))[0].cpu().numpy()
            scores.append(si_snr_improvement(estimates, images, mix))
    return float(np.mean(scores))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt (resumed if present), history.json")
    p.add_argument("--export", help="write the trained model here as a SpeechBrain pretrained folder")
    p.add_argument("--init", help="start a new run from the weights of this SpeechBrain folder (same architecture)")
    p.add_argument("--export-only", action="store_true", help="export the checkpoint in --out to --export; no training")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--minutes", type=float, default=0.0, help="stop after this much wall time (0: no limit)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seconds", type=float, default=2.0, help="training crop length")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--halve-every", type=int, default=0, help="halve the learning rate every N steps (0: constant)")
    p.add_argument("--seed", type=int, default=0, help="seeds the corpus, the initial weights and the batches")
    p.add_argument(
        "--stream", type=int, default=0, help="another batch sequence from the same corpus (for --init runs)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--workers", type=int, default=0, help="processes that make batches (DataLoader workers)")
    p.add_argument(
        "--corpus",
        help="folder that caches the synthesized clips and rooms (made if absent; lets a machine without TTS train)",
    )
    p.add_argument("--codec", choices=["flac", "vorbis"], default="flac", help="how --corpus stores the clips")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--valid-every", type=int, default=500, help="0: no validation")
    p.add_argument("--voices", type=int, default=len(TRAIN_VOICES))
    p.add_argument("--sentences", type=int, default=len(TRAIN_SENTENCES))
    p.add_argument("--variants", type=int, default=2, help="random sox shapings per voice")
    p.add_argument("--rooms", type=int, default=200)
    p.add_argument("--N", type=int, default=128)
    p.add_argument("--B", type=int, default=128)
    p.add_argument("--H", type=int, default=256)
    p.add_argument("--X", type=int, default=6)
    p.add_argument("--R", type=int, default=2)
    p.add_argument("--kernel", type=int, default=32)
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    train(parser().parse_args())
