"""Songs synthesised with numpy: drums, bass, chords and a vocal-like lead that sings given syllables.

Everything is deterministic per `SongSpec` (seed included). A song is made in two steps so that
lyrics can be timed to it before any audio exists:

    plan = plan_song(spec)                      # beats, downbeats, sections, chords (no audio)
    audio = render_song(plan, syllables)        # float32 mono at plan.sr

The plan is the ground truth the corpus keeps (beat and downbeat times, section energies).
Tempo is in beats per minute of the counted pulse; in 6/8 the pulse is the dotted quarter
(two beats a bar, three eighths a beat), which is how people dance to it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

from lm2d.errors import LM2DError

SR = 22050
LEAD_IN = 0.25   # seconds of silence before the first downbeat
TAIL = 1.5       # seconds after the last bar for decays to ring out


@dataclass(frozen=True)
class Meter:
    name: str
    beats_per_bar: int
    steps_per_beat: int   # drum-grid steps per counted beat (16ths in x/4, eighths in 6/8)


METERS = {
    "4/4": Meter("4/4", 4, 4),
    "3/4": Meter("3/4", 3, 4),
    "6/8": Meter("6/8", 2, 3),
}


@dataclass(frozen=True)
class DrumPattern:
    """One bar per instrument: 'x' accent, 'o' soft hit, '.' rest; one character per grid step."""
    kick: str
    snare: str
    hat: str


@dataclass(frozen=True)
class Style:
    name: str
    meters: tuple[str, ...]
    tempo_range: tuple[float, float]
    drums: dict[str, DrumPattern]      # meter name -> pattern
    energy_scale: float                # multiplies section energies
    brightness: float                  # 0 dark .. 1 bright (harmonic roll-off of bass, chords, lead)
    swing: float = 0.0                 # delay of off-grid steps, as a fraction of a step
    chord_rhythm: str = "pad"          # "pad" sustained, "stab" off-beat stabs, "oompah" bass-chord-chord


STYLES: dict[str, Style] = {style.name: style for style in (
    Style("pop", ("4/4",), (96, 132), {
        "4/4": DrumPattern(kick="x.......x.x.....", snare="....x.......x...", hat="x.o.x.o.x.o.x.o.")},
        energy_scale=0.9, brightness=0.6),
    Style("hiphop", ("4/4",), (78, 100), {
        "4/4": DrumPattern(kick="x.....x...x..o..", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.")},
        energy_scale=0.8, brightness=0.35, swing=0.3),
    Style("waltz", ("3/4",), (84, 150), {
        "3/4": DrumPattern(kick="x...........", snare="....o...o...", hat="x...x...x...")},
        energy_scale=0.7, brightness=0.5, chord_rhythm="oompah"),
    Style("electronic", ("4/4",), (120, 170), {
        "4/4": DrumPattern(kick="x...x...x...x...", snare="....x.......x...", hat="..x...x...x...x.")},
        energy_scale=1.0, brightness=0.85, chord_rhythm="stab"),
    Style("ballad", ("4/4", "6/8"), (70, 88), {
        "4/4": DrumPattern(kick="x.......o.......", snare="........x.......", hat="x...o...x...o..."),
        "6/8": DrumPattern(kick="x.....", snare="...x..", hat="x.ox.o")},
        energy_scale=0.6, brightness=0.3),
    Style("folk", ("6/8", "3/4"), (90, 126), {
        "6/8": DrumPattern(kick="x..o..", snare="...x..", hat="xoxxox"),
        "3/4": DrumPattern(kick="x.......o...", snare="....x...x...", hat="x.o.x.o.x.o.")},
        energy_scale=0.8, brightness=0.55, chord_rhythm="oompah"),
)}

# Chord progressions as (semitones above the key, quality); one chord a bar.
MAJOR_PROGRESSIONS = (
    ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
    ((0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")),
    ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),
    ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),
)
MINOR_PROGRESSIONS = (
    ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),
    ((0, "min"), (5, "min"), (7, "min"), (0, "min")),
    ((0, "min"), (10, "maj"), (8, "maj"), (10, "maj")),
)
CHORD_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

# Section layout: (name, energy before the style's scale, sung?). Intro and outro are two bars.
SECTION_CYCLE = (("verse", 0.55, True), ("chorus", 0.9, True), ("verse", 0.6, True),
                 ("break", 0.4, False), ("chorus", 1.0, True))

# Vowel formants (Hz) for the lead voice: F1, F2, F3.
FORMANTS = {"a": (800, 1200, 2500), "e": (450, 1900, 2550), "i": (300, 2250, 3000),
            "o": (480, 850, 2800), "u": (330, 750, 2500), "y": (300, 2250, 3000)}
FORMANT_WIDTHS = (90.0, 110.0, 160.0)


@dataclass(frozen=True)
class SongSpec:
    style: str = "pop"
    meter: str = "4/4"
    tempo: float = 112.0
    seconds: float = 32.0
    key: int = 60           # MIDI note of the tonic (C4)
    mode: str = "major"
    seed: int = 0
    form: str = ""          # e.g. "ABABCB": exactly these sections, two phrases each (seconds then ignored)

    def validate(self) -> None:
        if self.style not in STYLES:
            raise LM2DError(f"unknown style {self.style!r}; choose one of {', '.join(STYLES)}")
        if self.meter not in STYLES[self.style].drums:
            raise LM2DError(f"style {self.style!r} has no {self.meter} pattern; "
                            f"it plays {', '.join(STYLES[self.style].drums)}")
        if not 40.0 <= self.tempo <= 240.0:
            raise LM2DError(f"tempo {self.tempo} BPM is outside 40..240")
        if self.mode not in SCALES:
            raise LM2DError(f"unknown mode {self.mode!r}; choose major or minor")
        if self.form and not re.fullmatch(r"[A-Z]+", self.form):
            raise LM2DError(f"form {self.form!r} must be capital letters, one per section (e.g. ABABCB)")
        if not self.form and self.seconds < minimum_seconds(self.meter, self.tempo):
            raise LM2DError(f"{self.seconds} s is too short for a song at {self.tempo} BPM: it needs "
                            f"{minimum_seconds(self.meter, self.tempo):.1f} s for four bars")


def minimum_seconds(meter: str, tempo: float) -> float:
    """The shortest song: four bars plus the lead-in and the tail."""
    return LEAD_IN + TAIL + 4 * 60.0 / tempo * METERS[meter].beats_per_bar + 1e-6


@dataclass(frozen=True)
class Section:
    name: str
    start: float
    end: float
    energy: float     # 0 quiet .. 1 full
    sung: bool


@dataclass(frozen=True)
class Syllable:
    """One sung syllable: the lead holds a note from start to end on the vowel in text."""
    start: float
    end: float
    text: str


@dataclass
class SongPlan:
    spec: SongSpec
    sr: int
    duration: float
    beat_times: np.ndarray       # (B,) seconds of every counted beat
    downbeat_times: np.ndarray   # (bars,) seconds of each bar's first beat
    sections: list[Section]
    chords: list[tuple[int, str]] = field(default_factory=list)   # one (root MIDI, quality) per bar

    @property
    def meter(self) -> Meter:
        return METERS[self.spec.meter]

    @property
    def style(self) -> Style:
        return STYLES[self.spec.style]

    @property
    def beat_period(self) -> float:
        return 60.0 / self.spec.tempo

    def section_at(self, t: float) -> Section:
        for section in self.sections:
            if section.start <= t < section.end:
                return section
        return self.sections[-1]

    def energy_curve(self, fps: float, n_frames: int) -> np.ndarray:
        """Per-frame energy (0..1) with ramps of one beat between sections, for the choreographer."""
        times = np.arange(n_frames) / fps
        edges = np.array([s.start for s in self.sections] + [self.sections[-1].end])
        levels = np.array([s.energy for s in self.sections])
        index = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(levels) - 1)
        stepped = levels[index]
        width = max(1, int(round(self.beat_period * fps)))
        kernel = np.hanning(2 * width + 1)
        padded = np.pad(stepped, width, mode="edge")
        return np.convolve(padded, kernel / kernel.sum(), mode="valid").astype(np.float32)


def random_spec(seed: int, seconds: float, style: str | None = None) -> SongSpec:
    """A varied song spec drawn deterministically from seed (style, meter, tempo, key, mode);
    `seconds` is raised to four bars when the drawn tempo needs more."""
    rng = np.random.default_rng([seed, 7001])
    style_name = style or str(rng.choice(sorted(STYLES)))
    chosen = STYLES[style_name]
    meter = str(rng.choice(sorted(chosen.drums)))
    low, high = chosen.tempo_range
    tempo = float(np.round(rng.uniform(low, high) * 2) / 2)
    mode = "minor" if rng.random() < (0.6 if style_name in ("ballad", "hiphop") else 0.3) else "major"
    return SongSpec(style=style_name, meter=meter, tempo=tempo,
                    seconds=max(float(seconds), minimum_seconds(meter, tempo)),
                    key=int(rng.integers(55, 65)), mode=mode, seed=int(seed))


def plan_song(spec: SongSpec) -> SongPlan:
    """Beat grid, sections and chords of a song; no audio yet."""
    spec.validate()
    meter = METERS[spec.meter]
    period = 60.0 / spec.tempo
    bar = period * meter.beats_per_bar
    n_bars = (len(spec.form) * FORM_PHRASES * _phrase_bars(meter) if spec.form
              else int((spec.seconds - LEAD_IN - TAIL) // bar))
    beat_times = LEAD_IN + period * np.arange(n_bars * meter.beats_per_bar)
    downbeats = beat_times[:: meter.beats_per_bar].copy()
    sections = _layout_sections(spec, meter, n_bars, downbeats, bar)
    chords = _chords_per_bar(spec, n_bars, sections, downbeats)
    return SongPlan(spec=spec, sr=SR, duration=LEAD_IN + n_bars * bar + TAIL, beat_times=beat_times,
                    downbeat_times=downbeats, sections=sections, chords=chords)


def _phrase_bars(meter: Meter) -> int:
    """Bars per section phrase: about sixteen counted beats, an even number of bars."""
    return max(2, 2 * round(16 / meter.beats_per_bar / 2))


def _layout_sections(spec: SongSpec, meter: Meter, n_bars: int, downbeats: np.ndarray,
                     bar: float) -> list[Section]:
    phrase = _phrase_bars(meter)
    if spec.form:
        return _form_sections(spec.form, FORM_PHRASES * phrase, downbeats, bar)
    edge_bars = 2 if n_bars >= 2 * phrase else 1
    scale = STYLES[spec.style].energy_scale
    layout: list[tuple[str, int, float, bool]] = [("intro", edge_bars, 0.3, False)]
    remaining = n_bars - 2 * edge_bars
    cycle = 0
    while remaining > 0:
        name, energy, sung = SECTION_CYCLE[cycle % len(SECTION_CYCLE)]
        length = min(phrase if name != "break" else phrase // 2, remaining)
        layout.append((name, length, energy, sung))
        remaining -= length
        cycle += 1
    layout.append(("outro", edge_bars, 0.3, False))
    sections, first_bar = [], 0
    for name, length, energy, sung in layout:
        start = float(downbeats[first_bar])
        end = start + length * bar
        sections.append(Section(name, start, end, float(np.clip(energy * scale + 0.1, 0.1, 1.0)), sung))
        first_bar += length
    return sections


# Energies of the letters of a given form, so that different parts also differ in drums and level.
FORM_ENERGIES = (0.5, 0.95, 0.3, 0.7, 0.4, 0.85)
FORM_PHRASES = 2     # phrases per section of a given form: eight bars of 4/4, as in most songs


def _form_sections(form: str, phrase: int, downbeats: np.ndarray, bar: float) -> list[Section]:
    """One phrase per letter of `form`: the song's ground-truth structure for tests of lm2d.structure."""
    letters = sorted(set(form), key=form.index)
    return [Section(letter, float(downbeats[index * phrase]), float(downbeats[index * phrase]) + phrase * bar,
                    FORM_ENERGIES[letters.index(letter) % len(FORM_ENERGIES)], True)
            for index, letter in enumerate(form)]


def _chords_per_bar(spec: SongSpec, n_bars: int, sections: list[Section],
                    downbeats: np.ndarray) -> list[tuple[int, str]]:
    rng = np.random.default_rng([spec.seed, 7002])
    progressions = MAJOR_PROGRESSIONS if spec.mode == "major" else MINOR_PROGRESSIONS
    # Verses and choruses each keep one progression, so repeats sound like repeats.
    by_section = {name: progressions[int(rng.integers(len(progressions)))]
                  for name in ("intro", "verse", "chorus", "break", "outro")}
    # The letters of a given form each get a progression of their own (as far as there are enough).
    by_section.update({letter: progressions[index % len(progressions)] for index, letter
                       in enumerate(sorted(set(spec.form), key=spec.form.index))})
    chords = []
    for index in range(n_bars):
        section = next(s for s in sections if s.start <= downbeats[index] + 1e-6 < s.end)
        first = next(i for i in range(n_bars) if downbeats[i] >= section.start - 1e-6)
        offset, quality = by_section[section.name][(index - first) % 4]
        chords.append((spec.key + offset, quality))
    return chords


# ---------------------------------------------------------------- rendering

def render_song(plan: SongPlan, syllables: Sequence[Syllable] = ()) -> np.ndarray:
    """Mixes drums, bass, chords and (if given) the sung syllables into float32 mono, peak 0.9."""
    rng = np.random.default_rng([plan.spec.seed, 7003])
    n = int(round(plan.duration * plan.sr))
    mix = np.zeros(n, np.float64)
    mix += 0.9 * _render_drums(plan, rng, n)
    mix += 0.45 * _render_bass(plan, n)
    mix += 0.22 * _render_chords(plan, n)
    if syllables:
        mix += 0.35 * _render_lead(plan, syllables, rng, n)
    fade = min(n, int(0.3 * plan.sr))
    mix[n - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.abs(mix).max()
    return (mix * (0.9 / peak if peak > 0 else 1.0)).astype(np.float32)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sr: int) -> Path:
    """Writes .ogg (Vorbis) or .wav, chosen by the suffix."""
    path = Path(path)
    formats = {".ogg": ("OGG", "VORBIS"), ".wav": ("WAV", "PCM_16")}
    if path.suffix.lower() not in formats:
        raise LM2DError("audio must be written as .ogg or .wav", path=path)
    container, subtype = formats[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(audio, np.float32), sr, format=container, subtype=subtype)
    return path


def _add(buffer: np.ndarray, start: float, sound: np.ndarray, sr: int, gain: float = 1.0) -> None:
    first = int(round(start * sr))
    if first >= len(buffer):
        return
    last = min(len(buffer), first + len(sound))
    buffer[first:last] += gain * sound[: last - first]


def _midi_hz(note: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(note) - 69.0) / 12.0)


def _envelope(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n)
    a, r = min(n, max(1, int(attack * sr))), min(n, max(1, int(release * sr)))
    env[:a] = np.linspace(0.0, 1.0, a)
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


def _harmonic_tone(freq: np.ndarray, amplitudes: np.ndarray, sr: int) -> np.ndarray:
    """Sum of harmonics k·f (k = 1..K) following the frequency curve freq (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(freq) / sr
    nyquist_ok = np.arange(1, len(amplitudes) + 1)[:, None] * freq.max() < 0.45 * sr
    k = np.arange(1, len(amplitudes) + 1)[:, None]
    return ((amplitudes[:, None] * nyquist_ok) * np.sin(k * phase[None, :])).sum(axis=0)


def _rolloff(brightness: float, n_harmonics: int) -> np.ndarray:
    exponent = 2.4 - 1.4 * brightness
    return 1.0 / np.arange(1, n_harmonics + 1) ** exponent


def _drum_sounds(sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t_kick = np.arange(int(0.4 * sr)) / sr
    kick_freq = 48 + 110 * np.exp(-t_kick / 0.035)
    kick = np.sin(2 * np.pi * np.cumsum(kick_freq) / sr) * np.exp(-t_kick / 0.14)
    kick[: int(0.003 * sr)] += rng.uniform(-0.5, 0.5, int(0.003 * sr))
    t_snare = np.arange(int(0.25 * sr)) / sr
    snare_noise = sosfilt(butter(2, [1200, 7000], btype="band", fs=sr, output="sos"),
                          rng.standard_normal(len(t_snare)))
    snare = 1.6 * snare_noise * np.exp(-t_snare / 0.07) + 0.6 * np.sin(2 * np.pi * 190 * t_snare) * np.exp(-t_snare / 0.05)
    t_hat = np.arange(int(0.12 * sr)) / sr
    hat_noise = sosfilt(butter(4, 7000, btype="high", fs=sr, output="sos"), rng.standard_normal(len(t_hat)))
    hat = 0.9 * hat_noise * np.exp(-t_hat / 0.025)
    return {"kick": kick, "snare": snare, "hat": hat}


def _render_drums(plan: SongPlan, rng: np.random.Generator, n: int) -> np.ndarray:
    pattern = plan.style.drums[plan.spec.meter]
    meter = plan.meter
    sounds = _drum_sounds(plan.sr, rng)
    out = np.zeros(n)
    step = plan.beat_period / meter.steps_per_beat
    for bar_start in plan.downbeat_times:
        section = plan.section_at(bar_start + 1e-6)
        energy = section.energy
        for name in ("kick", "snare", "hat"):
            line = getattr(pattern, name)
            if name == "hat" and energy < 0.3:
                continue
            for index, hit in enumerate(line):
                if hit == ".":
                    # Full sections double the hats onto every step.
                    if not (name == "hat" and energy > 0.8 and meter.steps_per_beat == 4 and index % 2 == 1):
                        continue
                    hit = "o"
                swing = plan.style.swing * step if index % 2 == 1 else 0.0
                velocity = (1.0 if hit == "x" else 0.45) * (0.55 + 0.45 * energy)
                velocity *= 1.0 + 0.08 * rng.standard_normal()
                _add(out, bar_start + index * step + swing, sounds[name], plan.sr, velocity)
    return out


def _render_bass(plan: SongPlan, n: int) -> np.ndarray:
    """Bass plays the chord root on each beat (root-fifth on oompah styles), an octave and a half down."""
    out = np.zeros(n)
    period = plan.beat_period
    harmonics = _rolloff(plan.style.brightness * 0.6, 8)
    for bar, (bar_start, (root, _)) in enumerate(zip(plan.downbeat_times, plan.chords)):
        energy = plan.section_at(bar_start + 1e-6).energy
        for beat in range(plan.meter.beats_per_bar):
            if plan.style.chord_rhythm == "oompah" and beat > 0:
                continue
            note = root - 24 + (7 if beat % 2 == 1 and plan.style.chord_rhythm != "pad" else 0)
            length = period * (plan.meter.beats_per_bar if plan.style.chord_rhythm == "oompah" else 0.9)
            samples = int(length * plan.sr)
            freq = np.full(samples, _midi_hz(note))
            tone = _harmonic_tone(freq, harmonics, plan.sr)
            tone *= _envelope(samples, plan.sr, 0.008, 0.08) * np.exp(-np.arange(samples) / plan.sr / (0.6 * length + 0.1))
            _add(out, bar_start + beat * period, tone, plan.sr, 0.4 + 0.6 * energy)
    return out


def _chord_notes(root: int, quality: str) -> list[int]:
    return [root + interval for interval in CHORD_INTERVALS[quality]] + [root + 12]


def _render_chords(plan: SongPlan, n: int) -> np.ndarray:
    out = np.zeros(n)
    period = plan.beat_period
    harmonics = _rolloff(plan.style.brightness, 10)
    bar_length = period * plan.meter.beats_per_bar
    for bar_start, (root, quality) in zip(plan.downbeat_times, plan.chords):
        energy = plan.section_at(bar_start + 1e-6).energy
        rhythm = plan.style.chord_rhythm
        if rhythm == "pad":
            hits = [(0.0, bar_length)]
        elif rhythm == "stab":
            hits = [(beat + 0.5, 0.3) for beat in range(plan.meter.beats_per_bar)]
            hits = [(start * period, length * period) for start, length in hits]
        else:   # oompah: chords on the beats after the downbeat
            hits = [(beat * period, 0.8 * period) for beat in range(1, plan.meter.beats_per_bar)]
        for offset, length in hits:
            samples = int(length * plan.sr)
            chord = np.zeros(samples)
            for note in _chord_notes(root, quality):
                detune = 1.0 + 0.002 * np.sin(np.arange(samples) * 2 * np.pi * 0.7 / plan.sr + note)
                chord += _harmonic_tone(_midi_hz(note) * detune, harmonics, plan.sr)
            chord *= _envelope(samples, plan.sr, 0.02 if rhythm == "pad" else 0.004, 0.05)
            _add(out, bar_start + offset, chord, plan.sr, 0.3 + 0.7 * energy)
    return out


def _vowel(text: str) -> str:
    for char in text.lower():
        if char in FORMANTS:
            return char
    return "a"


def _formant_gains(f0: float, vowel: str, n_harmonics: int) -> np.ndarray:
    freqs = f0 * np.arange(1, n_harmonics + 1)
    gains = np.zeros(n_harmonics)
    for centre, width in zip(FORMANTS[vowel], FORMANT_WIDTHS):
        gains += np.exp(-0.5 * ((freqs - centre) / width) ** 2)
    # Glottal source tilt: the lower harmonics carry most energy even off-formant.
    return gains * 0.7 + 0.3 / np.arange(1, n_harmonics + 1)


def melody_pitches(plan: SongPlan, syllables: Sequence[Syllable]) -> np.ndarray:
    """MIDI pitch per syllable: a seeded walk on the scale, pulled to chord tones on the beat."""
    rng = np.random.default_rng([plan.spec.seed, 7004])
    scale = np.array(SCALES[plan.spec.mode])
    tonic = plan.spec.key
    # Candidate notes: the scale from a fifth below the tonic to a tenth above.
    candidates = np.array([tonic + octave * 12 + step for octave in (-1, 0, 1) for step in scale])
    candidates = candidates[(candidates >= tonic - 5) & (candidates <= tonic + 16)]
    index = int(np.argmin(np.abs(candidates - (tonic + 4))))
    pitches = []
    for syllable in syllables:
        bar = int(np.clip(np.searchsorted(plan.downbeat_times, syllable.start, side="right") - 1, 0,
                          len(plan.chords) - 1))
        root, quality = plan.chords[bar]
        chord_classes = {(root + interval) % 12 for interval in CHORD_INTERVALS[quality]}
        beat_phase = (syllable.start - plan.beat_times[0]) / plan.beat_period
        on_beat = abs(beat_phase - round(beat_phase)) < 0.1
        index = int(np.clip(index + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(candidates) - 1))
        if on_beat or syllable.end - syllable.start > plan.beat_period:
            chord_tones = [i for i, note in enumerate(candidates) if note % 12 in chord_classes]
            index = min(chord_tones, key=lambda i: abs(i - index))
        pitches.append(candidates[index])
    return np.array(pitches, dtype=float)


def _render_lead(plan: SongPlan, syllables: Sequence[Syllable], rng: np.random.Generator,
                 n: int) -> np.ndarray:
    """Vowel formants on a harmonic source, a scoop into each note and vibrato on held notes."""
    out = np.zeros(n)
    sr = plan.sr
    n_harmonics = 24
    for syllable, pitch in zip(syllables, melody_pitches(plan, syllables)):
        samples = max(int((syllable.end - syllable.start) * sr), int(0.05 * sr))
        t = np.arange(samples) / sr
        scoop = -0.6 * np.exp(-t / 0.03)
        vibrato = 0.3 * np.sin(2 * np.pi * 5.5 * t) * np.clip((t - 0.15) / 0.2, 0.0, 1.0)
        freq = _midi_hz(pitch + scoop + vibrato)
        tone = _harmonic_tone(freq, _formant_gains(_midi_hz(pitch), _vowel(syllable.text), n_harmonics), sr)
        tone *= _envelope(samples, sr, 0.025, 0.06)
        consonant = int(0.02 * sr)
        tone[:consonant] += 0.15 * rng.standard_normal(consonant) * np.linspace(1, 0, consonant)
        _add(out, syllable.start, tone, sr)
    return out
