"""Pipeline configuration: pydantic models shaped like the pipeline, one section per stage.

Built from YAML presets and ``--set`` overrides by :func:`meetsep.core.presets.load_config`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AudioConfig(_Strict):
    """How the input is read and what its channels mean.

    ``layout: auto`` means: 1 channel -> mono, 2 channels -> stereo-speakers (call-center
    recordings, one speaker per channel), 3 or more -> array.
    """

    layout: Literal["auto", "mono", "array", "stereo-speakers"] = "auto"
    channel_speakers: list[str] | None = Field(
        default=None, description="Speaker label per channel for stereo-speakers (default channel-0, channel-1)."
    )
    mic_positions: list[list[float]] | None = Field(
        default=None, description="Array geometry, one [x, y, z] in metres per microphone."
    )

    @model_validator(mode="after")
    def _two_channel_speakers(self) -> AudioConfig:
        speakers = self.channel_speakers
        if speakers is not None and (len(speakers) != 2 or len(set(speakers)) != 2):
            raise ValueError("channel_speakers must name 2 different speakers (left channel, right channel)")
        return self


class BeamformConfig(_Strict):
    """Beamforming of array input (see :mod:`meetsep.stages.beamform`).

    ``average``: the mean of all channels (a delay-less delay-and-sum: keeps the direct sound of a compact
    array, averages out uncorrelated noise). ``reference``: one channel as it is. ``mvdr``: the average
    for segmentation and diarization, then one MVDR beam per diarized speaker (steered by its relative
    transfer function, or its direction of arrival when ``steering: doa`` and the geometry is known),
    which ASR (or the separation network) takes as that speaker's audio.
    """

    kind: Literal["average", "reference", "mvdr"] = "mvdr"
    reference_channel: int = Field(default=0, ge=0)
    steering: Literal["covariance", "doa"] = Field(
        default="covariance", description="mvdr beams: relative transfer function, or doa (needs audio.mic_positions)."
    )
    doa_algorithm: Literal["SRP", "MUSIC", "NormMUSIC", "TOPS"] = "SRP"
    doa_snapshots: int = Field(default=400, ge=10, description="Solo STFT frames per speaker given to the DOA search.")
    min_solo: float = Field(default=1.0, ge=0.0, description="Seconds of solo speech a speaker needs for its own beam.")
    fft_size: int = Field(default=1024, ge=64)
    hop: int = Field(default=256, ge=16)
    dereverb: Literal["none", "wpe"] = Field(default="none", description="wpe: beams of WPE-dereverberated channels.")


class SeparateConfig(_Strict):
    """Separation of overlapped speech into one stream per speaker.

    ``gss`` (array input): guided source separation — per diarized speaker segment, diarization-guided
    cACGMM time-frequency masks on the multichannel STFT and an MVDR beam toward that speaker.
    ``convtasnet`` / ``sepformer`` (any input): a single-channel network separates each overlapped
    region of the (beamformed) mixture, padded by ``pad`` seconds; its outputs are matched to the
    diarized speakers by speaker-embedding similarity and replace the mixture in that speaker's stream
    inside the region, cross-faded over ``crossfade`` seconds. With any of these, ASR runs on each
    speaker's stream, so words said in overlap are kept for both speakers.
    ``none`` (default): no separation — ASR on each speaker's MVDR beam for array input with
    ``beamform.kind=mvdr`` (the default), else on the mixture, words given to the speaker active at
    their time. On the standard corpus the beams cut cpWER about as much as GSS (45.8 vs 43.7 % on
    meetings with >= 20 % overlap) at half the cost, so GSS is an option, not the default.
    """

    kind: Literal["none", "gss", "convtasnet", "sepformer"] = "none"
    model: str | None = Field(
        default=None,
        description="convtasnet/sepformer: a model name, a local SpeechBrain folder or asteroid file, or a hub id "
        "(default: the shipped convtasnet-16k; sepformer-whamr16k).",
    )
    context: float = Field(default=4.0, ge=0.0, description="gss: audio on each side of a segment the masks see (s).")
    iterations: int = Field(default=10, ge=1, description="gss: cACGMM EM iterations.")
    gss_overlapped_only: bool = Field(
        default=False,
        description="gss: only speaker segments that overlap another speaker; the others are taken from the beam (or mixture).",
    )
    merge_gap: float = Field(default=0.5, ge=0.0, description="Merge a speaker's segments closer than this (s).")
    beam_guard_db: float | None = Field(
        default=6.0,
        ge=0.0,
        description="Speaker beams: a segment whose beam is this much weaker than the mixture where its speaker talks "
        "alone (the beam points elsewhere) comes from the mixture; None: always the beam.",
    )
    fft_size: int = Field(default=1024, ge=64)
    hop: int = Field(default=256, ge=16)
    pad: float = Field(
        default=1.0,
        ge=0.0,
        description="convtasnet/sepformer/mvdr beams: audio kept around each overlapped region and speaker segment (s).",
    )
    crossfade: float = Field(
        default=0.05, ge=0.0, description="convtasnet/sepformer: cross-fade between mixture and separated audio (s)."
    )


class SegmentConfig(_Strict):
    """Voice activity, overlap and local speakers with pyannote segmentation-3.0."""

    kind: Literal["pyannote"] = "pyannote"
    model: str | None = Field(default=None, description="Local path or hub id; default: shipped weights.")
    step: float = Field(default=2.0, gt=0.0, le=10.0, description="Sliding window step in seconds (window 10 s).")
    batch_size: int = Field(default=8, ge=1, description="Windows the network sees at once (meetsep.stages.segment).")
    backend: Literal["onnx", "torch"] = Field(default="onnx", description="Network run by ONNX Runtime or PyTorch.")
    input_rate: Literal[8000, 16000] = Field(
        default=8000,
        description="Rate the model hears: 8000 band-limits its input to 4 kHz, as telephone speech is (speech "
        "through a phone or codec is then not mistaken for noise); 16000: full band.",
    )
    min_duration_off: float = Field(default=0.0, ge=0.0, description="Fill speaker gaps shorter than this (s).")
    # see meetsep.stages.segment (0.4 was tried: worse on held-out real voices); None: pyannote's count
    speech_threshold: float | None = Field(
        default=0.5, gt=0.0, lt=1.0, description="Speech where the windows' mean speech probability reaches this."
    )
    vad: Literal["silero", "none"] = Field(default="silero", description="Also speech where Silero VAD hears it.")


class AsrConfig(_Strict):
    """Whisper speech recognition with word timestamps."""

    kind: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    model: str = Field(default="base", description="tiny.en, base, or a local model folder / checkpoint.")
    language: str | None = Field(
        default=None,
        description="Pin the language (e.g. en, de). None: identified by Whisper on speech spread over the "
        "recording and its speakers (English-only models: en).",
    )
    language_fallback: str = Field(default="en", description="Used when no language wins language_min_probability.")
    # 0.7: chosen on dev meetings (espeak-ng, flite; Whisper base, channel average): flite voted English 0.75-0.94,
    # degraded espeak-ng English 0.25-0.60 or Welsh up to 0.63 (wrong): all fall back to English at 0.7.
    language_min_probability: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Share of Whisper's language probability the winner needs."
    )
    language_packs: int = Field(default=6, ge=1, description="Speech packs (up to 30 s each) the language vote hears.")
    language_per_speaker: bool = Field(
        default=False,
        description="Identify each speaker's language (a speaker not confidently identified keeps the recording's).",
    )
    beam_size: int = Field(default=5, ge=1)
    compute_type: Literal["int8", "float32", "int8_float32", "float16"] = "int8"
    max_window: float = Field(default=30.0, gt=1.0, le=30.0, description="Longest audio given to Whisper at once (s).")
    merge_gap: float = Field(default=2.0, ge=0.0, description="Speech regions closer than this share a window (s).")
    padding: float = Field(default=0.2, ge=0.0, description="Audio kept around each speech window (s).")
    pack_gap: float = Field(
        default=1.0, ge=0.0, description="Silence between a speaker's speech windows packed in one Whisper window (s)."
    )
    # on: chosen on the 40 dev TTS meetings (espeak-ng, flite): cpWER 69.9 / 65.3 % off, 70.1 / 65.1 % with 5 s of
    # padding kept (68.5 / 66.3 % with 1 s), ASR time about 30 % lower on flite (README "Speed")
    short_windows: bool = Field(
        default=True,
        description="faster-whisper: encode a window shorter than 30 s at its own length (whole seconds) and 5 s of "
        "its padding, not padded to 30 s: faster on short packs and live buffers (meetsep/loading/encoder_reuse.py).",
    )


class AttributeConfig(_Strict):
    """Speaker embeddings (CAM++) and clustering into global speakers."""

    kind: Literal["campplus"] = "campplus"
    model: str | None = None
    num_speakers: int | None = Field(default=None, ge=1)
    min_speakers: int | None = Field(default=None, ge=1)
    max_speakers: int | None = Field(default=None, ge=1)
    # Chosen on dev families (espeak-ng, flite; never festival, piper): pipelines/tune_diarization.py --split dev,
    # segmentation band-limited: AHC (former default) DER 36.6 %, count exact 31 %; NME-SC 26.6 / 50 %; + spatial
    # 0.75 21.3 / 69 %; + every window embedded 18.9 / 69; + 4 kHz embeddings, merge 0.75 19.8 / 69 (README).
    clustering: Literal["ahc", "spectral"] = Field(
        default="spectral",
        description="spectral: NME-SC, speakers counted by the normalized maximum eigengap (no threshold); "
        "ahc: agglomerative with a cosine-distance threshold (threshold, spatial_threshold).",
    )
    threshold: float = Field(default=0.75, gt=0.0, lt=2.0, description="ahc: cosine-distance threshold (voice only).")
    merge_threshold: float | None = Field(
        default=0.75,
        gt=0.0,
        le=1.0,
        description="spectral: merge clusters whose centroids are at least this cosine-similar (one person heard "
        "through different channels); None: no merging.",
    )
    # dev, whole chain: real DER 16.7 -> 16.0 %, count exact 15 -> 18 of 20; TTS count 35 -> 38 of 40, cpWER 62.0 -> 62.2 %
    # (1 until the overlap rule, which it never goes below, was in; README "Real people")
    min_speaker_units: int = Field(
        default=6, ge=1, description="A speaker with fewer units (≤ 3 s each), under 15 % of all, joins another."
    )
    # chosen on 20 one-voice recordings of the 4 dev real voices, 80-110 s each (telephone, MP3, Opus: at most 1.0 % of
    # the speech heard as overlapped; a far microphone in a room of RT60 0.4 / 0.8 s: at most 1.5 %), a TTS voice under
    # six degradations (3.0 %, reverberation) and the 20 dev real-voice sessions (0-21 %, 2 people or more; with
    # every cluster merged into one, the rule gives 2 back to the 9 that reach 7 %)
    two_from_overlap: float | None = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="At least two speakers are counted where the segmentation hears this share of the speech "
        "(and 1.5 s or more) as two voices at once; None: the count is the clustering's alone.",
    )
    max_unit_seconds: float = Field(default=3.0, gt=0.0, description="Longest unit of one local speaker's speech (s).")
    # Chosen on the 40 dev TTS meetings (espeak-ng, flite), first-pass DER 22.3 -> 18.2 %; checked on the 8 dev
    # real-voice meetings, 21.2 -> 18.0 % (README "How it works", spatial)
    spatial_pass: bool = Field(
        default=True,
        description="Array input with speaker beams or a separator: a second pass corrects who is active frame by "
        "frame from each speaker's spatial model (meetsep/stages/spatial.py): speakers left out added, wrong ones removed.",
    )
    # dev (cached first passes): exact count 36 -> 41 of 48, DER TTS 18.2 -> 17.1 %, real meetings 18.0 -> 16.9 %
    spatial_split: bool = Field(
        default=True,
        description="spatial_pass: a speaker whose solo speech comes from two places becomes two speakers (two people "
        "the clustering joined); off where people move about the room.",
    )
    # 0.3 tried after the split: dev first-pass DER lower on every array (TTS 17.1 -> 16.8 %, real 16.9 -> 15.8 %), but
    # the whole chain's cpWER higher (dev TTS 62.0 -> 62.5 %, held-out TTS 48.8 -> 50.5 %): not kept (README, spatial)
    spatial_add: float = Field(
        default=0.35,
        gt=0.0,
        le=1.0,
        description="spatial_pass: share of a frame's energy from which a speaker is added.",
    )
    spatial_keep: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="spatial_pass: share below which a diarized speaker is removed."
    )
    spatial_weight: float = Field(
        default=0.75,
        ge=0.0,
        description="Array input: weight of where a unit's speech comes from (its spatial covariance's principal "
        "eigenvector), next to its voice (0: voice only).",
    )
    spatial_threshold: float = Field(default=0.75, gt=0.0, lt=2.0, description="ahc: distance, with spatial features.")
    min_cluster_size: int = Field(default=3, ge=1, description="ahc: smallest cluster kept.")
    exclude_overlap: bool = True
    embedding_rate: Literal[8000, 16000] = Field(
        default=8000,
        description="Rate the speaker-embedding model hears: 8000 band-limits speech to 4 kHz first, so a voice "
        "heard through a phone or codec and the same voice heard wideband embed alike.",
    )
    embedding_backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="CAM++ through ONNX Runtime (exported once, 2.7x faster) or PyTorch."
    )
    embed_every: int = Field(
        default=1,
        ge=1,
        description="Embed every Nth segmentation window; the others are stitched to them by shared speech (1: embed all).",
    )
    crosstalk_margin_db: float = Field(
        default=10.0,
        ge=0.0,
        description="stereo-speakers: a channel's speech counts as its own unless the other channel is this much louder.",
    )
    speaker_db: str | None = Field(
        default=None,
        description="Folder of enrolled voices (meetsep enroll): each diarized speaker is named after the enrolled "
        "person whose voice it matches (one person per speaker), or stays unknown.",
    )
    # Chosen on the dev voices (real: ve9qrp, armelle, carlo, menardi; TTS: espeak, flite), 30 s enrollments:
    # pipelines/eval_speakers.py --split dev. 0.6 names 100 % of real speakers with no stranger named (0.55: 2 %).
    match_threshold: float = Field(
        default=0.6,
        gt=-1.0,
        lt=1.0,
        description="speaker_db: cosine similarity of voiceprints from which a speaker gets an enrolled name.",
    )
    # Chosen on the dev real voices (ve9qrp, Armelle, Carlo, Menardi, the Dutch fish; pipelines/eval_linking.py --split
    # dev): the lowest threshold at which a one-time speaker (a customer) is linked to someone else's voice in at most 2 %
    # of cases with the reference and with meetsep's own diarization (0.55: 71 / 68 %, 0.7: 0 / 4.9 %, 0.75: 0 / 1.0 %).
    # Below it, people who never share a call were joined (two speakers of one recording never link; in an archive where
    # everyone talks with everyone that alone kept them apart). The cost: one person heard by phone in one recording and
    # across a room in another is split more often (20 dev sessions, pairwise F1 reference 98.3 -> 87.1 %). README.
    link_threshold: float = Field(
        default=0.75,
        gt=-1.0,
        lt=1.0,
        description="meetsep link, batch --link-speakers: two groups of speakers join into one voice across "
        "recordings while their voiceprints' mean cosine similarity reaches this (average linkage).",
    )
    agent: str | None = Field(
        default=None,
        description="An enrolled name (speaker_db) that is a call's agent: on a mono call, call analytics give the "
        "agent and customer roles by voice (the customer: the other speaker who talks most).",
    )
    voiceprints: bool = Field(
        default=False,
        description="Keep each speaker's voiceprint in the JSON (speaker_voiceprints): what meetsep link and "
        "batch --link-speakers use to find one voice across recordings.",
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> AttributeConfig:
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers must not exceed max_speakers")
        if self.agent and not self.speaker_db:
            raise ValueError("agent names an enrolled voice: give speaker_db too")
        return self


class RuntimeConfig(_Strict):
    threads: int = Field(default=0, ge=0, description="Torch/CTranslate2 threads; 0 = all cores.")
    asr_workers: int = Field(default=0, ge=0, description="Whisper windows decoded at once (0: 1 per thread, max 4).")
    seed: int = 0
    model_dir: str | None = Field(default=None, description="Folder searched first (also MEETSEP_MODEL_DIR).")
    allow_download: bool = Field(default=False, description="Allow hub downloads for models not found locally.")
    trust_model_code: bool = Field(
        default=False,
        description="Load model files with their own loaders (HyperPyYAML, pickle), which run any code they hold; "
        "only for files you trust. Off: model files are read as data.",
    )


# Added after outputs carried config_hash: hashed only when not default (earlier hashes, batch keys stay valid).
HASHED_WHEN_SET = (
    ("attribute", "max_unit_seconds"),
    ("attribute", "speaker_db"),
    ("attribute", "match_threshold"),
    ("attribute", "voiceprints"),
    ("attribute", "agent"),
    ("asr", "short_windows"),
)


class PipelineConfig(_Strict):
    """The whole pipeline, one section per stage."""

    audio: AudioConfig = AudioConfig()
    beamform: BeamformConfig = BeamformConfig()
    segment: SegmentConfig = SegmentConfig()
    separate: SeparateConfig = SeparateConfig()
    asr: AsrConfig = AsrConfig()
    attribute: AttributeConfig = AttributeConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    def config_hash(self) -> str:
        """Short stable hash of every value that can change results (output provenance, batch keys).

        ``runtime.threads`` and ``runtime.asr_workers`` are left out: they change speed, not results,
        and batch workers set them; so is ``runtime.trust_model_code``, which decides whether a model
        file may be loaded at all, not what a loaded model computes; so is ``attribute.link_threshold``, used
        only by the linking that runs over a whole folder afterwards; so are ``HASHED_WHEN_SET`` at their default.
        """
        excluded = {"runtime": {"threads", "asr_workers", "trust_model_code"}, "attribute": {"link_threshold"}}
        for section, name in HASHED_WHEN_SET:
            if getattr(getattr(self, section), name) == getattr(getattr(PipelineConfig(), section), name):
                excluded.setdefault(section, set()).add(name)
        blob = json.dumps(self.model_dump(mode="json", exclude=excluded), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
