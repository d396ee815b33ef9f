"""Audio for a planned song (music_synth.plan_song): drums, bass, chords and a vocal-like lead
that sings given syllables, mixed with numpy and written as Ogg Vorbis or WAV.

    audio = render_song(plan, syllables)        # float32 mono at plan.sr
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

from lm2d.corpus.music_synth import CHORD_INTERVALS, FORMANTS, FORMANT_WIDTHS, SCALES, SongPlan, Syllable
from lm2d.errors import LM2DError


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
