"""Simulated meetings and calls with exact references: offline TTS voices, real recorded voices,
rooms, arrays, telephone channels and degradations; the evaluation corpora are built from them."""
