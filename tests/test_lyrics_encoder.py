"""The lyric text encoder (offline all-MiniLM-L6-v2) and frame-aligned lyric tokens."""
from __future__ import annotations

import numpy as np
import pytest

from lm2d.errors import LM2DError
from lm2d.features import FPS
from lm2d.lyrics import (SongLyricTokens, TextEncoder, encode_song_lyrics, line_embedding_per_frame,
                         load_lyrics, window_tokens)
from lm2d.lyrics.encoder import default_model_dir


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))


def forward_counter(encoder):
    calls = []
    handle = encoder.model.register_forward_hook(lambda *args: calls.append(1))
    return calls, handle


def test_default_encoder_is_minilm_with_identity(encoder):
    assert encoder.dim == 384
    identity = encoder.identity
    assert identity["name"] == "sentence-transformers/all-MiniLM-L6-v2" and identity["dim"] == 384
    assert len(identity["sha"]) == 16 and int(identity["sha"], 16) >= 0


def test_line_tokens_are_contextual_without_special_tokens(encoder):
    text = "Dance with me tonight"
    tokens, spans = encoder.encode_line_tokens(text)
    assert tokens.dtype == np.float32 and tokens.shape == (len(spans), 384)
    assert [text[start:end] for start, end in spans] == ["Dance", "with", "me", "tonight"]
    # Contextual: the same word in another line gets another vector.
    other_tokens, _ = encoder.encode_line_tokens("me and my shadow")
    assert not np.allclose(tokens[2], other_tokens[0], atol=1e-3)


def test_sentence_embedding_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    texts = ["So far away from home", "I wish I were back in school"]
    reference = SentenceTransformer(str(default_model_dir()), device="cpu").encode(texts)
    ours = np.stack([encoder.encode_sentence(text) for text in texts])
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert np.linalg.norm(ours, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    love, also_love, market = (encoder.encode_sentence(t) for t in
                               ["I love to dance", "Dancing is what I love", "The stock market fell today"])
    assert love @ also_love > love @ market + 0.2


def test_encodings_are_deterministic_and_cached(encoder, tmp_path):
    text = "A line nobody encoded before in this session"
    calls, handle = forward_counter(encoder)
    try:
        first = encoder.encode_line_tokens(text)
        assert len(calls) == 1 and list((tmp_path / "cache" / "lyrics").glob("*.npz"))
        encoder.encode_line_tokens(text)
        assert len(calls) == 1  # memory cache
        encoder.memory_cache.clear()
        from_disk = encoder.encode_line_tokens(text)
        assert len(calls) == 1  # disk cache
        np.testing.assert_array_equal(from_disk[0], first[0])
        encoder.memory_cache.clear()
        for entry in (tmp_path / "cache" / "lyrics").glob("*.npz"):
            entry.unlink()
        recomputed = encoder.encode_line_tokens(text)
        assert len(calls) == 2
        np.testing.assert_allclose(recomputed[0], first[0], atol=1e-6)
    finally:
        handle.remove()


def test_batched_encoding_equals_one_at_a_time(encoder, tmp_path):
    texts = ["short", "a much longer line so that the batch needs padding for the first one"]
    batched = encoder.encode_lines(texts)
    single = []
    for text in texts:
        encoder.memory_cache.clear()
        for entry in (tmp_path / "cache" / "lyrics").glob("*.npz"):
            entry.unlink()
        single.extend(encoder.encode_lines([text]))
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.tokens, b.tokens, atol=1e-5)
        np.testing.assert_allclose(a.sentence, b.sentence, atol=1e-5)


def test_any_local_bert_folder_works(tmp_path, encoder):
    """A user's own BERT-style checkpoint (bert-base-uncased gives 768); here a tiny random one."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "dance", "with", "me"]))
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(vocab_size=8, hidden_size=48, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(folder)
    tiny = TextEncoder(folder)
    assert tiny.dim == 48
    assert tiny.identity["name"] == "tiny-bert" and tiny.identity["dim"] == 48
    assert tiny.identity["sha"] != encoder.identity["sha"]
    tokens, spans = tiny.encode_line_tokens("Dance with me")
    assert tokens.shape == (3, 48) and spans.tolist() == [[0, 5], [6, 10], [11, 13]]
    assert tiny.encode_sentence("Dance with me").shape == (48,)


@pytest.mark.parametrize("make", ["missing", "empty", "broken"])
def test_bad_encoder_folder(tmp_path, make):
    folder = tmp_path / "encoder"
    if make != "missing":
        folder.mkdir()
    if make == "broken":
        (folder / "config.json").write_text("{\"model_type\": \"bert\", \"hidden_size\": 8}")
    with pytest.raises(LM2DError, match=r"encoder: (is not a text encoder folder|cannot load the text encoder)"):
        TextEncoder(folder)


# --- frame-aligned tokens -----------------------------------------------------------------

def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_word_timed_tokens_sit_at_word_centres(encoder, tmp_path):
    lyrics = load_lyrics(write(tmp_path, "w.lrc", "[00:01.00]<00:01.00>Hello <00:02.00>everybody<00:03.00>\n"
                                                  "[00:04.00]<00:04.00>go<00:05.00>\n[00:06.00]\n"))
    song = encode_song_lyrics(lyrics, encoder)
    tokens, spans = encoder.encode_line_tokens("Hello everybody")
    assert song.embeddings.shape == (len(tokens) + 1, 384)
    expected = [1.5 * FPS] * sum(1 for start, _ in spans if start < 6) + [2.5 * FPS] * sum(1 for s, _ in spans if s >= 6)
    np.testing.assert_allclose(song.frames[: len(tokens)], expected)
    assert song.frames[-1] == pytest.approx(4.5 * FPS)
    np.testing.assert_array_equal(song.line_index, [0] * len(tokens) + [1])
    np.testing.assert_allclose(song.line_start_frames, [30, 120])
    np.testing.assert_allclose(song.line_end_frames, [120, 180])


def test_line_timed_tokens_spread_evenly_over_the_line(encoder, tmp_path):
    lyrics = load_lyrics(write(tmp_path, "l.srt", "1\n00:00:02,000 --> 00:00:04,000\nfour words in here\n"))
    song = encode_song_lyrics(lyrics, encoder)
    n = len(song.frames)
    np.testing.assert_allclose(song.frames, 60 + 60 * (np.arange(n) + 0.5) / n, rtol=1e-6)


def test_window_tokens_and_per_frame_line_embeddings(encoder, tmp_path, shared_data):
    lyrics = load_lyrics(shared_data / "songs" / "on_the_run" / "song.txt")
    song = encode_song_lyrics(lyrics, encoder)
    assert np.all(np.diff(song.frames) >= 0) and song.frames[0] == pytest.approx((11.25 + 11.401) / 2 * FPS, rel=1e-4)
    assert song.frames[-1] < 288 * FPS and song.line_embeddings.shape == (len(lyrics.segments), 384)

    start, length = 330, 150  # 11 s to 16 s: the first line and the start of the second
    embeddings, frames, mask = window_tokens(song, start, length, max_tokens=64)
    inside = (song.frames >= start) & (song.frames < start + length)
    assert mask.sum() == inside.sum() > 0
    assert np.all((frames[mask] >= 0) & (frames[mask] < length)) and not frames[~mask].any()
    np.testing.assert_array_equal(embeddings[mask], song.embeddings[inside])
    assert not embeddings[~mask].any()

    few, few_frames, few_mask = window_tokens(song, start, length, max_tokens=4)
    assert few_mask.all()
    kept = song.frames[inside][[0, round((inside.sum() - 1) / 3), round(2 * (inside.sum() - 1) / 3), -1]]
    np.testing.assert_allclose(few_frames, kept - start)

    per_frame, active = line_embedding_per_frame(song, start, length)
    first_start, first_end = song.line_start_frames[0], song.line_end_frames[0]
    second_start = song.line_start_frames[1]
    for offset in range(length):
        frame = start + offset
        if first_start <= frame < first_end:
            assert active[offset]
            np.testing.assert_array_equal(per_frame[offset], song.line_embeddings[0])
        elif second_start <= frame:
            assert active[offset]
            np.testing.assert_array_equal(per_frame[offset], song.line_embeddings[1])
        else:
            assert not active[offset] and not per_frame[offset].any()
    assert not active[0] and active[-1]  # 11.0 s is before "So"; 16 s is inside line two


def test_song_tokens_save_and_load(encoder, tmp_path):
    lyrics = load_lyrics(write(tmp_path, "a.lrc", "[00:01.00]one line\n[00:02.00]and another\n[00:03.00]\n"))
    song = encode_song_lyrics(lyrics, encoder)
    song.save(tmp_path / "tokens.npz")
    loaded = SongLyricTokens.load(tmp_path / "tokens.npz")
    for name in ("embeddings", "frames", "line_index", "line_embeddings", "line_start_frames", "line_end_frames"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(song, name))
