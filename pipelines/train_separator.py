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

Data, all generated here and fixed by the seed (:mod:`meetsep.sim.separation_data`):

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
import time
from pathlib import Path

import numpy as np

from meetsep.analysis.evaluate import si_snr_improvement
from meetsep.sim.separation_data import (
    HELDOUT_SENTENCES,
    HELDOUT_VOICES,
    RATE,
    TRAIN_SENTENCES,
    TRAIN_VOICES,
    Corpus,
    CorpusFileError,
    make_corpus,
    mixture,
)


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
    try:  # a --corpus folder made from another recipe (or damaged): say so in one line
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
            make_corpus(
                HELDOUT_VOICES, HELDOUT_SENTENCES[:6], 1, 20, args.seed + 1, cache and cache / "valid", args.codec
            )
            if args.valid_every
            else None
        )
    except CorpusFileError as error:
        raise SystemExit(str(error)) from None
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
