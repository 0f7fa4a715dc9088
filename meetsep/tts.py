"""Speech from Debian's offline TTS voices (flite, espeak-ng, sox effects), and the sentences they say.

Used by the meeting simulator (:mod:`meetsep.simulate`) and the separator's training data
(``pipelines/train_separator.py``). Test and benchmark speech only: far easier for ASR than real
speech, so evaluations add rooms, noise, overlap and degradations on top.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.audio import resample

SENTENCES = [
    "Good morning everyone, thanks for joining the planning meeting today.",
    "I would like to start with the schedule for the new product launch.",
    "The design team finished the first prototype last week and it works well.",
    "That is great news, then we can move the testing phase forward.",
    "We still need two more people for the customer interviews next month.",
    "I can help with the interviews if someone takes over my reports.",
    "Let us decide that on Friday after we see the budget numbers.",
    "Sounds good, I will send the agenda to everyone this afternoon.",
    "Could you share the slides from the last review with the whole team?",
    "The supplier called this morning about the delayed shipment.",
    "How long will the delay be and does it affect our launch date?",
    "They said about two weeks, but they will try to make it faster.",
    "Then we should tell marketing before they print the brochures.",
    "I agree, and we should also update the website with the new date.",
    "Who is responsible for the website changes this quarter?",
    "Maria handles the website, I will write her a short message today.",
    "Please remember to book the large meeting room for the workshop.",
    "The workshop is on Tuesday and we expect about twenty guests.",
    "Do we have enough chairs and a projector for that many people?",
    "I will check with the office manager and let you know tomorrow.",
    "Our sales numbers were better than expected in the northern region.",
    "That is mostly thanks to the new partner we signed in the spring.",
    "We should invite them to the annual meeting in the autumn.",
    "Good idea, can someone prepare a short presentation about them?",
    "I will prepare it, but I need the latest contract details first.",
    "The legal team has the contract, I will forward it to you.",
    "Let us also talk about hiring, we have three open positions.",
    "The interviews for the engineering role start next Monday.",
    "Please send me the candidate list so I can plan my calendar.",
    "We also need a replacement for the assistant who is leaving in June.",
    "The training program for new employees should be shorter this year.",
    "Many people told us the first week felt too long and too formal.",
    "Maybe we can replace some lectures with small practical tasks.",
    "I like that, it would also help them meet their teams earlier.",
    "Before we finish, are there any questions about the travel policy?",
    "Yes, can we book train tickets in first class for long trips?",
    "Only for trips longer than four hours, as written in the policy.",
    "Thank you, that answers my question, I will plan accordingly.",
    "The customer survey results arrived yesterday afternoon.",
    "Most customers are happy, but they want faster support answers.",
    "We could add a chat window on the support page to help with that.",
    "That needs a few more people on the support team though.",
    "Let us look at the costs and discuss it again next week.",
    "The new office printer still does not work on the second floor.",
    "I opened a ticket, the technician will come on Thursday.",
    "Remember that the office is closed next Friday for the holiday.",
    "Our quarterly report is due at the end of the month.",
    "I will collect the numbers from every department by Wednesday.",
    "Please keep your sections short, the board prefers one page each.",
    "Thanks everyone, that was a productive meeting, see you next week.",
]


CALL_SENTENCES = [
    ("agent", "Thank you for calling customer service, how can I help you today?"),
    ("customer", "Hello, my card stopped working yesterday at the grocery store."),
    ("agent", "I am sorry to hear that, can you tell me your account number please?"),
    ("customer", "Sure, it is on the letter you sent me, one moment please."),
    ("agent", "Thank you, I can see that the card was blocked for security reasons."),
    ("customer", "Why was it blocked, I did not do anything unusual."),
    ("agent", "There was a payment from another country that looked suspicious."),
    ("customer", "That was not me, I have never been to that country."),
    ("agent", "Then I will cancel this card and send you a new one this week."),
    ("customer", "That would be perfect, thank you very much for your help."),
]


def speak(text: str, engine: str, voice: str, rate: int, effects: list[str] | tuple[str, ...] = ()) -> np.ndarray:
    """``text`` said by a flite or espeak-ng voice, shaped by sox ``effects`` (if any), at ``rate``.

    Returns ``(samples,)`` float32 with leading and trailing silence trimmed (2 % of the peak).
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory() as folder:
        raw, shaped = Path(folder) / "raw.wav", Path(folder) / "shaped.wav"
        if engine == "flite":
            command = ["flite", "-voice", voice, "-t", text, "-o", str(raw)]
        else:
            command = ["espeak-ng", "-v", voice, "-w", str(raw), text]
        subprocess.run(command, check=True, capture_output=True)
        if effects:
            # -R: repeatable, -D: no dither (sox dithers randomly when writing 16-bit audio)
            subprocess.run(["sox", "-R", "-D", str(raw), str(shaped), *effects], check=True, capture_output=True)
        audio, source_rate = sf.read(str(shaped if effects else raw), dtype="float32")
    audio = resample(audio, source_rate, rate)
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1]


class Synthesizer:
    """TTS with a per-run cache; output float32 at the requested rate, silence trimmed."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.cache: dict[tuple[Any, ...], np.ndarray] = {}

    def __call__(self, text: str, engine: str, voice: str, pitch: float, tempo: float) -> np.ndarray:
        key = (text, engine, voice, round(pitch, 3), round(tempo, 3))
        if key not in self.cache:
            shaped = abs(pitch) > 1e-3 or abs(tempo - 1.0) > 1e-3
            audio = speak(
                text,
                engine,
                voice,
                self.rate,
                ["pitch", f"{100 * pitch:.0f}", "tempo", "-s", f"{tempo:.3f}"] if shaped else [],
            )
            self.cache[key] = (audio / (np.sqrt(np.mean(audio**2)) + 1e-9) * 0.05).astype(np.float32)
        return self.cache[key]
