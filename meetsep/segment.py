"""Stage 2: voice activity, overlapped speech and local speakers (pyannote segmentation-3.0).

The model sees 10 s windows sliding by ``segment.step`` seconds and outputs, per window, the activity
of up to 3 local speakers (powerset decoded to binary multilabel). From it:

- ``count``: speakers active per frame, aggregated over windows (pyannote's speaker counting);
- ``speech``: where ``count >= 1``; ``overlap``: where ``count >= 2`` (second-highest activity).

The local-speaker activity is kept for the attribution stage (embeddings per window and speaker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from meetsep.config import RuntimeConfig, SegmentConfig
from meetsep.hooks import StageReporter
from meetsep.models import load_segmentation_model, resolve_model

Interval = tuple[float, float]


@dataclass
class SegmentationResult:
    """What the segmentation model found in one mono signal.

    Attributes:
        local: ``(num_windows, frames_per_window, 3)`` binary local-speaker activity
            (pyannote ``SlidingWindowFeature``; its sliding window gives each window's time).
        count: ``(num_frames, 1)`` speakers active per frame (``SlidingWindowFeature``).
        frames: the model's frame grid (pyannote ``SlidingWindow``).
        speech: speech intervals in seconds.
        overlap: intervals with two or more speakers, in seconds.
    """

    local: Any
    count: Any
    frames: Any
    speech: list[Interval]
    overlap: list[Interval]


class Segmenter:
    """pyannote segmentation on 16 kHz mono audio."""

    sample_rate = 16000
    window = 10.0

    def __init__(self, config: SegmentConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.resolved = resolve_model(
            config.model or "segmentation-3.0", "segmentation", model_dir=runtime.model_dir, allow_download=runtime.allow_download
        )
        self._inference: Any = None

    def _get_inference(self) -> Any:
        if self._inference is None:
            from pyannote.audio import Inference

            model = load_segmentation_model(self.resolved)
            self._inference = Inference(
                model,
                duration=self.window,
                step=min(self.config.step, self.window),
                skip_aggregation=True,
                batch_size=self.config.batch_size,
            )
        return self._inference

    def __call__(self, audio: np.ndarray, reporter: StageReporter | None = None) -> SegmentationResult:
        """Segment ``audio``: ``(samples,)`` float32 at 16 kHz."""
        import torch
        from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin
        from pyannote.audio.utils.signal import Binarize
        from pyannote.core import SlidingWindowFeature

        inference = self._get_inference()

        def progress(completed: int | None = None, total: int | None = None, **_: Any) -> None:
            if reporter is not None and completed is not None:
                reporter.progress(int(completed), None if total is None else int(total))

        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        with torch.inference_mode():
            local = inference({"waveform": waveform, "sample_rate": self.sample_rate}, hook=progress)
        frames = inference.model.receptive_field
        count = SpeakerDiarizationMixin.speaker_count(local, frames, warm_up=(0.0, 0.0))
        duration = len(audio) / self.sample_rate
        levels = np.concatenate([count.data >= 1, count.data >= 2], axis=1).astype(np.float32)
        annotation = Binarize(onset=0.5, offset=0.5, min_duration_off=self.config.min_duration_off)(
            SlidingWindowFeature(levels, count.sliding_window)
        )
        speech = _clip([(s.start, s.end) for s in annotation.label_timeline(0, copy=False)], duration) if 0 in annotation.labels() else []
        overlap = _clip([(s.start, s.end) for s in annotation.label_timeline(1, copy=False)], duration) if 1 in annotation.labels() else []
        return SegmentationResult(local=local, count=count, frames=frames, speech=speech, overlap=overlap)


def _clip(intervals: list[Interval], duration: float) -> list[Interval]:
    out = []
    for start, end in intervals:
        start, end = max(0.0, float(start)), min(duration, float(end))
        if end > start:
            out.append((round(start, 3), round(end, 3)))
    return out
