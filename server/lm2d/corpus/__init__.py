"""The training corpus builder and the procedural choreographer.

- music_synth: songs synthesised with numpy (drums, bass, chords, a singing lead), with their
  ground truth (beats, downbeats, sections and energy).
- lyrics_writer: original lyric lines timed word by word to a song's beats (enhanced LRC).
- choreographer (+ rig, poses): beats, energy and lyrics -> an SMPL dance with grounded,
  non-skating feet, moving on the beats; a deterministic baseline generator in its own right.
- gestures: the lyric keyword -> gesture table (GESTURE_KEYWORDS) and how each is danced.
- build: `lm2d corpus --out DIR`, a corpus in docs/DATASET.md's layout plus corpus.json.
"""
from lm2d.corpus.choreographer import choreograph
from lm2d.corpus.gestures import GESTURE_KEYWORDS, GESTURES, GestureEvent, gesture_events

__all__ = ["GESTURES", "GESTURE_KEYWORDS", "GestureEvent", "choreograph", "gesture_events"]
