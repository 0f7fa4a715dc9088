"""Measure a separation model on held-out simulated two-speaker reverberant mixtures at 16 kHz.

    python pipelines/eval_separator.py                      # the shipped convtasnet-16k, 200 mixtures
    python pipelines/eval_separator.py --model runs/export --count 50

The mixtures (:mod:`meetsep.sim.separation_data`) use only voices and sentences that ``train_separator.py``
never trains on (``HELDOUT_VOICES``, ``HELDOUT_SENTENCES``), rooms from another seed, whole utterances with
the second talker starting inside the first (30-100 % of the shorter one overlapped), ±5 dB level ratio and
15-40 dB white noise; the references are each talker's reverberant image. Prints SI-SNR of the mixture,
SI-SNRi (mean, median, 10th percentile; best permutation), model size and CPU time per second of audio,
and writes them as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from meetsep.analysis.evaluate import si_snr, si_snr_improvement
from meetsep.sim.separation_data import HELDOUT_SENTENCES, HELDOUT_VOICES, RATE, make_corpus, mixture

EVAL_SEED = 12345


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="convtasnet-16k", help="model name, SpeechBrain folder or asteroid file")
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is reported per second of audio)")
    p.add_argument("--json", dest="json_path", help="also write the results here")
    args = p.parse_args()

    import torch

    from meetsep.loading.models import load_separation, resolve_model

    torch.set_num_threads(args.threads)
    resolved = resolve_model(args.model, "separation")
    model = load_separation(resolved)
    parameters = (
        sum(p.numel() for m in model.net.modules.values() for p in m.parameters())
        if hasattr(model.net, "modules")
        else None
    )
    corpus = make_corpus(HELDOUT_VOICES, HELDOUT_SENTENCES, 2, 50, EVAL_SEED)
    improvements, inputs, seconds, cpu = [], [], 0.0, 0.0
    for index in range(args.count):
        mix, images = mixture(corpus, np.random.default_rng([EVAL_SEED, index]), None)
        started = time.process_time()
        estimates = model.separate(mix, RATE)
        cpu += time.process_time() - started
        seconds += len(mix) / RATE
        inputs.append(float(np.mean([si_snr(mix, image) for image in images])))
        improvements.append(si_snr_improvement(estimates, images, mix))
    values = np.array(improvements)
    result = dict(
        model=str(resolved.path),
        mixtures=args.count,
        audio_seconds=round(seconds, 1),
        input_si_snr_db=round(float(np.mean(inputs)), 2),
        si_snri_mean_db=round(float(values.mean()), 2),
        si_snri_median_db=round(float(np.median(values)), 2),
        si_snri_p10_db=round(float(np.percentile(values, 10)), 2),
        parameters_m=round(parameters / 1e6, 3) if parameters else None,
        size_mb=round(resolved.size_bytes / 1e6, 2),
        cpu_seconds_per_audio_second=round(cpu / seconds, 4),
        threads=args.threads,
    )
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
