"""The chain, one module per stage, in the order they run (README, "How it works"):

1. ``beamform``: the array's channels → one mixture
2. ``segment``: voice activity, overlap and local speakers (pyannote segmentation-3.0)
3. ``embedding``: a speaker embedding per unit of speech (CAM++, plus where it comes from on arrays)
4. ``diarize``: clustering, speaker count, reconstruction → who spoke when
5. ``dereverb``, ``beams`` / ``separate`` / ``gss``: one stream per speaker where people overlap
6. ``asr``: Whisper words with times, per stream
7. ``assign`` (or ``channels`` for call-center stereo): words → speakers
8. ``transcript``: attributed words → the :class:`~meetsep.schema.Transcript`

A stage imports ``meetsep.core``, ``meetsep.io`` and ``meetsep.loading``, never another stage;
``meetsep.pipeline`` wires them together.
"""
