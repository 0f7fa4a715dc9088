"""Reading and writing: audio files (decoders and their guards), atomic output files, batch manifests,
and the transcript formats (JSON, SegLST, RTTM, SRT, VTT, text, HTML) in one registry."""
