"""Songs synthesised with numpy: the plan (meter, beats, sections, chords, energy); song_audio.py plays it.

Everything is deterministic per `SongSpec` (seed included). A song is made in two steps so that
lyrics can be timed to it before any audio exists:

    plan = plan_song(spec)                      # beats, downbeats, sections, chords (no audio)
    audio = song_audio.render_song(plan, syllables)   # float32 mono at plan.sr

The plan is the ground truth the corpus keeps (beat and downbeat times, section energies).
Tempo is in beats per minute of the counted pulse; in 6/8 the pulse is the dotted quarter
(two beats a bar, three eighths a beat), which is how people dance to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

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
