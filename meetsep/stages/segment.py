"""Stage 2: voice activity, overlapped speech and local speakers (pyannote segmentation-3.0).

The model sees 10 s windows sliding by ``segment.step`` seconds and outputs, per window, the activity
of up to 3 local speakers (powerset decoded to binary multilabel). From it:

- ``count``: speakers active per frame, aggregated over windows (pyannote's speaker counting), and
  at least 1 where the windows' mean probability of speech reaches ``segment.speech_threshold``;
- ``speech``: where ``count >= 1``; ``overlap``: where ``count >= 2`` (second-highest activity).

``speech_threshold`` 0.5 (speech more probable than silence): on the 32 dev meetings of the
generalization corpus (espeak-ng, flite; ``pipelines/tune_diarization.py --split dev``) pyannote's
count alone, 0.4, 0.5, 0.6, 0.7 leave the same DER floor (each unit given its true speaker: 15.1,
15.5, 15.3, 15.1, 15.0 %; missed speech 7.2, 6.8, 7.0, 7.1, 7.2 %): the dev voices are heard either
way. The held-out voices (festival, piper) were not (missed speech 19.2 % by the count, 15.2 % at
0.5). Real voices through a phone are heard less surely than TTS voices: on the 20 dev real-voice
sessions (ve9qrp, Armelle, Carlo, Menardi; ``--corpus real --split dev --embedding-rate 8000``) the
segmentation missed 10.7 % of the speech at 0.5 (5.6 points of it in overlap). Chosen there and on the
40 dev TTS meetings (commit 6deabe4), the full diarization's DER / speaker count exact:

======  ================  ================
value   real dev (20)     TTS dev (40)
======  ================  ================
0.5     18.5 % / 14       21.6 % / 31
0.45    17.9 % / 16
0.4     17.9 % / 17       21.6 % / 30
0.35    17.1 % / 18       22.2 % / 30
0.3     17.2 % / 18
======  ================  ================

0.4 helped the dev real voices and left the dev TTS DER as it was, but not the held-out real voices
(Allison, June, the Russian and Colombian voices; ``pipelines/benchmark.py --corpus real --split heldout``,
commit 4cf6fe7 against ``--set segment.speech_threshold=0.5``): speaker count exact 13 → 10 of 20, DER
23.1 → 26.3 % (one meeting found as 9 speakers for 4), cpWER 39.5 → 36.5 %. It stays at 0.5.

``vad`` ``silero`` (the default): speech is also wherever Silero VAD (v6, the ONNX copy faster-whisper
ships; its authors' settings: onset 0.5, offset 0.35, 100 ms gaps filled, 30 ms padding) hears it,
given to each window's most probable local speaker as above. Two detectors trained on different data
miss different voices: on the held-out meetings pyannote's speech missed 8.3 % of the true speech
(mostly the piper voice), the union 2.1 %, for 0.3 % more false alarm; on the dev meetings (which
pyannote already heard: 0.5 % missed) it costs little and helps the words: DER floor 15.1 → 15.2 %,
the full chain's DER 21.9 → 22.6 %, cpWER 69.5 → 68.9 %, speaker count exact 72 → 75 %. Nothing of
it was fitted: the settings are silero's own; the held-out meetings showed the loss.

Takes ``(samples,)`` float32 at 16 kHz (an array, or the long mixture kept on disk, read a block of
windows at a time) and returns a :class:`~meetsep.core.records.SegmentationResult`. The local-speaker
activity is kept for the embedding and diarization stages (one unit per window and local speaker).

The network runs in ONNX Runtime (``segment.backend=onnx``, exported once by
:func:`meetsep.loading.models.load_segmentation_onnx`; the same local speakers as PyTorch, which runs it
with ``backend=torch`` or when the export fails). ``segment.batch_size`` 8 was chosen by measurement
on 2 cores: 300 s of audio took 1.72-1.94 s in batches of 8, 1.70-1.80 s of 16, 1.55-2.15 s of 32
(three runs each; outputs identical for any batch size), while each window of a batch holds its
SincNet activations at once: peak memory +215 MB at 8, +346 MB at 16, +577 MB at 32.
"""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from meetsep.core.chunking import spans
from meetsep.core.config import RuntimeConfig, SegmentConfig
from meetsep.core.hooks import StageReporter
from meetsep.core.intervals import inside
from meetsep.core.protocols import Signal
from meetsep.core.records import Interval, SegmentationResult
from meetsep.io.audio import SignalFile, resample_blocks
from meetsep.loading.models import load_segmentation_model, load_segmentation_onnx, load_silero_vad, resolve_model

if TYPE_CHECKING:
    from pyannote.core import SlidingWindowFeature


class Segmenter:
    """pyannote segmentation on 16 kHz mono audio."""

    sample_rate = 16000
    window = 10.0

    def __init__(self, config: SegmentConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.resolved = resolve_model(
            config.model or "segmentation-3.0",
            "segmentation",
            model_dir=runtime.model_dir,
            allow_download=runtime.allow_download,
        )
        self.trust_model_code = runtime.trust_model_code
        self.threads = runtime.threads or os.cpu_count() or 1
        self._inference: Any = None

    def _get_inference(self) -> Any:
        if self._inference is None:
            from pyannote.audio import Inference

            model = load_segmentation_model(self.resolved, self.trust_model_code)
            self._inference = Inference(
                model,
                duration=self.window,
                step=min(self.config.step, self.window),
                skip_aggregation=True,
                batch_size=self.config.batch_size,
            )
            session = (
                load_segmentation_onnx(self.resolved, self.threads, self.trust_model_code)
                if self.config.backend == "onnx"
                else None
            )
            scores = partial(_onnx_scores, session) if session is not None else partial(_torch_scores, model)
            self._inference.infer = partial(_infer_with_speech, scores, self._inference.conversion)
        return self._inference

    def __call__(self, audio: Signal, reporter: StageReporter | None = None) -> SegmentationResult:
        """Segment ``audio``: ``(samples,)`` float32 at 16 kHz (an array, or a
        :class:`~meetsep.io.audio.SignalFile` read a block of windows at a time)."""
        from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin
        from pyannote.audio.utils.signal import Binarize
        from pyannote.core import SlidingWindowFeature

        inference = self._get_inference()
        heard = self._band_limited(audio) if self.config.input_rate < self.sample_rate else audio
        try:
            outputs = self._local(inference, heard, reporter)
        finally:
            if heard is not audio:
                heard.close()
        frames = inference.model.receptive_field
        speakers = (outputs.data.shape[-1] - 1) // 2  # see _infer_with_speech
        local = SlidingWindowFeature(np.ascontiguousarray(outputs.data[..., :speakers]), outputs.sliding_window)
        count = SpeakerDiarizationMixin.speaker_count(local, frames, warm_up=(0.0, 0.0))
        if self.config.speech_threshold is not None or self.config.vad == "silero":
            heard_by_vad = (
                _silero_frames(audio, count.sliding_window, len(count.data)) if self.config.vad == "silero" else None
            )
            count = self._speech_from_posteriors(outputs, local, count, frames, heard_by_vad)
        duration = len(audio) / self.sample_rate
        levels = np.concatenate([count.data >= 1, count.data >= 2], axis=1).astype(np.float32)
        annotation = Binarize(onset=0.5, offset=0.5, min_duration_off=self.config.min_duration_off)(
            SlidingWindowFeature(levels, count.sliding_window)
        )
        speech = (
            _clip([(s.start, s.end) for s in annotation.label_timeline(0, copy=False)], duration)
            if 0 in annotation.labels()
            else []
        )
        overlap = (
            _clip([(s.start, s.end) for s in annotation.label_timeline(1, copy=False)], duration)
            if 1 in annotation.labels()
            else []
        )
        return SegmentationResult(local=local, count=count, frames=frames, speech=speech, overlap=overlap)

    def _speech_from_posteriors(
        self,
        outputs: SlidingWindowFeature,
        local: SlidingWindowFeature,
        count: SlidingWindowFeature,
        frames: Any,
        heard_by_vad: np.ndarray | None = None,
    ) -> SlidingWindowFeature:
        """At least one speaker where the probability of speech averaged over the windows that see a
        frame reaches ``segment.speech_threshold`` (or where ``heard_by_vad``, bool per frame of
        ``count``, says so); a window with no local speaker active there gives the frame to its most
        probable local speaker (``local`` is updated in place).

        Each window decides its frames by the most probable powerset class, and pyannote's count
        averages those hard decisions: speech that every window finds slightly less probable than
        silence (a voice under noise, 55 % non-speech in each of five windows) is lost although every
        window gives it 45 %. Averaging the probabilities first keeps it (see ``speech_threshold``).
        """
        from pyannote.audio import Inference
        from pyannote.core import SlidingWindowFeature

        speakers = local.data.shape[-1]
        speech = SlidingWindowFeature(outputs.data[..., speakers : speakers + 1], outputs.sliding_window)
        probability = Inference.aggregate(speech, frames, hamming=False, missing=0.0, skip_average=False).data
        total = min(len(probability), len(count.data))
        threshold = self.config.speech_threshold
        voiced = probability[:total, 0] >= threshold if threshold is not None else np.zeros(total, dtype=bool)
        if heard_by_vad is not None:
            voiced |= heard_by_vad[:total]
        data = count.data.copy()
        data[:total, 0] = np.maximum(data[:total, 0], voiced)
        num_windows, num_frames, _ = local.data.shape
        soft = outputs.data[..., speakers + 1 :]
        for window in range(num_windows):
            first = frames.closest_frame(local.sliding_window[window].start + 0.5 * frames.duration)
            here = np.arange(num_frames)
            here = here[(first + here >= 0) & (first + here < total)]
            empty = here[voiced[first + here] & (local.data[window, here].sum(axis=1) == 0)]
            local.data[window, empty, np.argmax(soft[window, empty], axis=1)] = 1.0
        return SlidingWindowFeature(data, count.sliding_window)

    def _band_limited(self, audio: Signal) -> SignalFile:
        """``audio`` through ``segment.input_rate`` and back (band-limited to half that rate), block by
        block into a temporary file. Speech that reached the recording through a telephone or a codec
        has nothing above 3.4-4 kHz while room noise does; the model, trained on wideband and
        telephone speech alike, then misses it (6.0 % of the speech of the dev meetings of the
        generalization corpus missed at 16 kHz, 0.6 % band-limited, false alarms 2.0 and 1.9 %)."""
        blocks = (audio[first:last] for first, last in spans(0, len(audio), BAND_LIMIT_BLOCK))
        narrow = resample_blocks(blocks, self.sample_rate, self.config.input_rate)
        return SignalFile(resample_blocks(narrow, self.config.input_rate, self.sample_rate))

    def _local(self, inference: Any, audio: Signal, reporter: StageReporter | None) -> SlidingWindowFeature:
        """pyannote's sliding-window outputs over the whole signal, computed ``WINDOWS_PER_BLOCK``
        windows at a time: each block of audio covers exactly its windows, and blocks start on a
        batch boundary, so the model sees the same batches as in one call on the whole signal
        (bit-identical outputs) while only one block of audio is in memory."""
        import torch
        from pyannote.audio.utils.reproducibility import fix_reproducibility
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        fix_reproducibility(inference.device)
        rate = self.sample_rate
        window = inference.model.audio.get_num_samples(inference.duration)
        step = round(inference.step * rate)
        samples = len(audio)
        complete = (samples - window) // step + 1 if samples >= window else 0
        total = complete + int(samples < window or (samples - window) % step > 0)
        batch = self.config.batch_size
        per_block = max(batch, WINDOWS_PER_BLOCK // batch * batch)
        outputs = []
        for first, last in spans(0, complete, per_block):  # windows [first, last); the final block takes the rest
            final = last >= complete
            piece = audio[first * step : samples if final else (last - 1) * step + window]
            waveform = torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32))[None]
            with torch.inference_mode():
                outputs.append(inference.slide(waveform, rate, hook=None).data)
            if reporter is not None:
                reporter.progress(total if final else last, total)
        data = np.concatenate(outputs)
        return SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=inference.duration, step=inference.step))


BAND_LIMIT_BLOCK = 960_000  # samples (60 s at 16 kHz) band-limited at a time
WINDOWS_PER_BLOCK = 320  # segmentation windows per block of audio read at once (640 s at the default 2 s step)


# Silero VAD as its authors run it: speech from 0.5, until below 0.35; silences under 100 ms filled,
# 30 ms kept around speech (silero-vad's defaults, none chosen here). 320 s per call (its own batch).
SILERO_ONSET, SILERO_OFFSET, SILERO_MIN_OFF, SILERO_PAD = 0.5, 0.35, 0.1, 0.03
SILERO_CHUNK, SILERO_BLOCK = 512, 512 * 10_000


def _silero_frames(audio: Signal, frames: Any, total: int) -> np.ndarray:
    """``(total,)`` bool: the frames of ``frames`` (a pyannote SlidingWindow) whose middle lies in
    speech that Silero VAD hears in ``audio`` (16 kHz), computed a block at a time."""
    from pyannote.audio.utils.signal import Binarize
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    if len(audio) == 0:
        return np.zeros(total, dtype=bool)
    model = load_silero_vad()
    probabilities = []
    for first, last in spans(0, len(audio), SILERO_BLOCK):
        piece = np.asarray(audio[first:last], dtype=np.float32)
        probabilities.append(np.asarray(model(np.pad(piece, (0, -len(piece) % SILERO_CHUNK)))).reshape(-1))
    step = SILERO_CHUNK / Segmenter.sample_rate
    scores = SlidingWindowFeature(
        np.concatenate(probabilities)[:, None], SlidingWindow(start=0.0, duration=step, step=step)
    )
    binarize = Binarize(
        onset=SILERO_ONSET,
        offset=SILERO_OFFSET,
        min_duration_off=SILERO_MIN_OFF,
        pad_onset=SILERO_PAD,
        pad_offset=SILERO_PAD,
    )
    speech = np.array([(s.start, s.end) for s in binarize(scores).get_timeline()]).reshape(-1, 2)
    return inside(frames.start + 0.5 * frames.duration + frames.step * np.arange(total), speech)


def _onnx_scores(session: Any, chunks: Any) -> np.ndarray:
    """The network's raw outputs for ``(chunks, 1, samples)``, run by ONNX Runtime."""
    return session.run(None, {"waveforms": chunks.numpy()})[0]


def _torch_scores(model: Any, chunks: Any) -> np.ndarray:
    """The network's raw outputs for ``(chunks, 1, samples)``, run by PyTorch."""
    import torch

    with torch.inference_mode():
        return model(chunks.to(model.device)).cpu().numpy()


def _infer_with_speech(scores: Any, conversion: Any, chunks: Any) -> np.ndarray:
    """pyannote's ``Inference.infer`` for a single-output model, also keeping the probabilities:
    ``(chunks, 1, samples)`` → ``(chunks, frames, 2 K + 1)`` for K local speakers: the local speakers
    converted as pyannote converts them (powerset → hard multilabel), the probability of speech (not
    the empty set) and each local speaker's probability (soft multilabel). A multilabel model's
    outputs are its speakers' probabilities: active above 0.5, speech as probable as its most
    probable speaker."""
    import torch

    raw = torch.from_numpy(scores(chunks))
    with torch.inference_mode():
        if getattr(conversion, "mapping", None) is None:
            probabilities = raw.numpy()
            hard = (probabilities > 0.5).astype(np.float32)
            speech = probabilities.max(axis=-1, keepdims=True)
        else:
            hard = conversion(raw).numpy()
            probabilities = conversion(raw, soft=True).numpy()
            speech = 1.0 - np.exp(raw[..., :1].numpy())  # powerset class 0: nobody speaks
    return np.concatenate([hard, speech, probabilities], axis=-1).astype(np.float32)


def _clip(intervals: list[Interval], duration: float) -> list[Interval]:
    out = []
    for start, end in intervals:
        start, end = max(0.0, float(start)), min(duration, float(end))
        if end > start:
            out.append((round(start, 3), round(end, 3)))
    return out
