"""Timed lyrics: parsing every common format into one structure (segments, words), the text
encoder, and frame-aligned token embeddings for the model."""
from lm2d.lyrics.encoder import TextEncoder
from lm2d.lyrics.lrc import lyrics_to_lrc
from lm2d.lyrics.parse import load_lyrics
from lm2d.lyrics.segments import Lyrics, Segment, Word, lyrics_to_json
from lm2d.lyrics.tokens import SongLyricTokens, encode_song_lyrics, line_embedding_per_frame, window_tokens

__all__ = ["Lyrics", "Segment", "SongLyricTokens", "TextEncoder", "Word", "encode_song_lyrics",
           "line_embedding_per_frame", "load_lyrics", "lyrics_to_json", "lyrics_to_lrc", "window_tokens"]
