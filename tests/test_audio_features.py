"""Audio loading and EDGE's 35-dim music features, on the real songs in ../shared/data."""
from __future__ import annotations

import json
import os

import librosa
import numpy as np
import pytest
import soundfile as sf

import lm2d.audio
import lm2d.features
from lm2d.audio import audio_duration, load_audio
from lm2d.cli import main
from lm2d.errors import LM2DError
from lm2d.features import (BEAT_COLUMN, CHROMA_COLUMNS, FEATURE_DIM, FEATURE_NAMES, FPS, HOP_LENGTH,
                           MFCC_COLUMNS, ONSET_COLUMN, ONSET_PEAK_COLUMN, SAMPLE_RATE, extract_features,
                           features_from_array)

ON_THE_RUN = "songs/on_the_run/audio.ogg"
VIBE_ACE = "music/Kevin_MacLeod_-_Vibe_Ace.ogg"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LM2D_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def real_songs(shared_data):
    songs = sorted((shared_data / "music").glob("*.ogg")) + [shared_data / ON_THE_RUN]
    assert len(songs) >= 6
    return songs


@pytest.fixture(scope="module")
def stereo_clip(shared_data, tmp_path_factory):
    """The first 20 s of the 44.1 kHz stereo song as a wav: exercises mono mixing and resampling."""
    samples, rate = sf.read(shared_data / ON_THE_RUN, frames=20 * 44100, dtype="float32")
    assert samples.shape[1] == 2 and rate == 44100
    path = tmp_path_factory.mktemp("clip") / "on_the_run_20s.wav"
    sf.write(path, samples, rate, subtype="FLOAT")
    return path


def frames_marked(column: np.ndarray) -> np.ndarray:
    return np.flatnonzero(column == 1.0)


# --- features of real songs -----------------------------------------------------------------

def test_every_real_song_gives_30_fps_features_of_its_length(real_songs):
    for song in real_songs:
        music = extract_features(song, cache=False)
        duration = audio_duration(song)
        assert music.features.shape == (music.n_frames, FEATURE_DIM) and music.features.dtype == np.float32
        assert abs(music.n_frames - FPS * duration) <= 1, song.name
        assert music.duration == pytest.approx(duration, abs=1 / SAMPLE_RATE * 2)
        assert np.isfinite(music.features).all(), song.name
        assert set(np.unique(music.features[:, [ONSET_PEAK_COLUMN, BEAT_COLUMN]])) <= {0.0, 1.0}
        # beat_times are exactly the frames marked in the beat column
        np.testing.assert_allclose(music.beat_times * FPS, frames_marked(music.features[:, BEAT_COLUMN]),
                                   atol=1e-6)
        assert 40 <= music.tempo <= 240 and len(music.beat_times) >= music.duration * 40 / 60 - 2, song.name


def test_columns_equal_librosa_computed_independently(stereo_clip):
    """EDGE's recipe written out with librosa.load, column group by column group."""
    music = extract_features(stereo_clip, cache=False)
    y, _ = librosa.load(stereo_clip, sr=SAMPLE_RATE)
    envelope = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE)
    mfcc = librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=20)
    chroma = librosa.feature.chroma_cens(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, n_chroma=12)
    peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=SAMPLE_RATE, hop_length=HOP_LENGTH,
                                       tightness=100)

    assert music.n_frames == len(envelope) == 1 + len(y) // HOP_LENGTH
    np.testing.assert_allclose(music.features[:, ONSET_COLUMN], envelope, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(music.features[:, MFCC_COLUMNS], mfcc.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(music.features[:, CHROMA_COLUMNS], chroma.T, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(frames_marked(music.features[:, ONSET_PEAK_COLUMN]), peaks)
    np.testing.assert_array_equal(frames_marked(music.features[:, BEAT_COLUMN]), beats)
    np.testing.assert_allclose(music.beat_times, librosa.frames_to_time(beats, sr=SAMPLE_RATE))
    # EDGE's column order: [onset envelope, 20 MFCC, 12 chroma CENS, onset peak, beat]
    assert (ONSET_COLUMN, MFCC_COLUMNS, CHROMA_COLUMNS, ONSET_PEAK_COLUMN, BEAT_COLUMN) == (
        0, slice(1, 21), slice(21, 33), 33, 34)
    assert len(FEATURE_NAMES) == FEATURE_DIM == 35


@pytest.mark.parametrize("frames", [None, 1, 2, 3])
def test_tuning_estimated_in_two_halves_is_librosas_to_the_bit(stereo_clip, frames):
    """The chroma's tuning is estimated half the frames per thread; it must be librosa's
    estimate_tuning of the whole (to the bit: a tuning a hair off moves every CQT bin)."""
    from concurrent.futures import ThreadPoolExecutor

    y, _ = librosa.load(stereo_clip, sr=SAMPLE_RATE)
    magnitude = np.abs(librosa.stft(y, hop_length=HOP_LENGTH))[:, :frames]
    whole = librosa.estimate_tuning(S=magnitude, sr=SAMPLE_RATE, bins_per_octave=36)
    with ThreadPoolExecutor(1) as pool:
        assert lm2d.features._estimate_tuning(magnitude, pool) == whole


@pytest.mark.parametrize("bpm", [100, 128])
def test_click_track_tempo_is_tracked_from_the_audio(bpm):
    rate = 22050
    click_times = np.arange(0.5, 20.0, 60 / bpm)
    clicks = librosa.clicks(times=click_times, sr=rate, length=20 * rate)
    music = features_from_array(clicks.astype(np.float32), rate)
    assert music.tempo == pytest.approx(bpm, rel=0.02)
    # every tracked beat sits on a click (within one frame)
    nearest = np.abs(music.beat_times[:, None] - click_times[None, :]).min(axis=1)
    assert len(music.beat_times) >= 0.8 * len(click_times) and nearest.max() <= 1.5 / FPS


def test_wav_flac_ogg_mp3_of_one_signal_give_the_same_features(shared_data, tmp_path):
    samples, rate = sf.read(shared_data / VIBE_ACE, frames=22050 * 12, dtype="float32")
    music = {}
    for ext in ("wav", "flac", "ogg", "mp3"):  # libsndfile >= 1.1 writes and reads mp3
        sf.write(tmp_path / f"same.{ext}", samples, rate)
        music[ext] = extract_features(tmp_path / f"same.{ext}", cache=False)
    reference = music["wav"].features
    for ext, lossy in (("flac", False), ("ogg", True), ("mp3", True)):
        features = music[ext].features
        assert features.shape == reference.shape, ext
        mfcc_error = np.linalg.norm((features - reference)[:, MFCC_COLUMNS]) / np.linalg.norm(reference[:, MFCC_COLUMNS])
        onset_correlation = np.corrcoef(features[:, ONSET_COLUMN], reference[:, ONSET_COLUMN])[0, 1]
        assert mfcc_error < (0.1 if lossy else 1e-3), ext
        assert onset_correlation > (0.95 if lossy else 0.9999), ext
        assert music[ext].tempo == pytest.approx(music["wav"].tempo, rel=0.02), ext
        beat_shift = np.abs(music[ext].beat_times[:, None] - music["wav"].beat_times[None, :]).min(axis=1)
        assert np.median(beat_shift) <= 1 / FPS + 1e-9, ext


def test_load_audio_mixes_to_mono_at_15360_hz(stereo_clip):
    y, rate = load_audio(stereo_clip)
    assert rate == SAMPLE_RATE and y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(20 * SAMPLE_RATE, abs=2)


# --- cache ----------------------------------------------------------------------------------

def test_cache_hit_returns_identical_features_without_recomputing(shared_data, private_cache, monkeypatch):
    song = shared_data / "music/sorohanro_-_solo-trumpet-06.ogg"
    first = extract_features(song)
    entries = list((private_cache / "features").glob("*.npz"))
    assert len(entries) == 1
    written_at = entries[0].stat().st_mtime_ns

    def must_not_recompute(*args, **kwargs):
        raise AssertionError("features recomputed despite a cache entry")

    monkeypatch.setattr(lm2d.features, "features_from_array", must_not_recompute)
    second = extract_features(song)
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.beat_times, first.beat_times)
    assert (second.tempo, second.duration, second.fps) == (first.tempo, first.duration, first.fps)
    assert entries[0].stat().st_mtime_ns == written_at
    with np.load(entries[0], allow_pickle=False) as stored:  # plain arrays, no pickle
        assert stored["features"].shape == first.features.shape


def test_cache_key_follows_content_and_damaged_entry_is_recomputed(shared_data, tmp_path, private_cache):
    samples, rate = sf.read(shared_data / VIBE_ACE, frames=22050 * 4, dtype="float32")
    song = tmp_path / "song.wav"
    sf.write(song, samples, rate)
    first = extract_features(song)
    sf.write(song, samples[::-1].copy(), rate)  # same name, new content -> new entry
    reversed_song = extract_features(song)
    entries = sorted((private_cache / "features").glob("*.npz"))
    assert len(entries) == 2
    assert not np.array_equal(first.features, reversed_song.features)
    for entry in entries:
        entry.write_bytes(b"not a zip file")
    again = extract_features(song)
    np.testing.assert_array_equal(again.features, reversed_song.features)


# --- bad input: one LM2DError naming the file; exit 2 with one line from the CLI ---------------

def _write_clip(path, shared_data, seconds=6):
    """The first seconds of a real song, written in path's format."""
    samples, rate = sf.read(shared_data / VIBE_ACE, frames=22050 * seconds, dtype="float32")
    sf.write(path, samples, rate)


def _write_truncated(path, fraction, shared_data):
    """A real clip cut off after `fraction` of its bytes, as an interrupted download would be."""
    whole = path.with_name("whole" + path.suffix)
    _write_clip(whole, shared_data)
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


BAD_INPUTS = {
    "missing": (lambda path, data: None, "song.wav", "no such audio file"),
    "directory": (lambda path, data: path.mkdir(), "song.wav", "is not a file"),
    "empty": (lambda path, data: path.write_bytes(b""), "song.ogg", "is empty"),
    "text_as_ogg": (lambda path, data: path.write_text("just some lyrics\n" * 50), "song.ogg", "cannot be decoded"),
    "text_as_mp3": (lambda path, data: path.write_text("just some lyrics\n" * 50), "song.mp3", "cannot be decoded"),
    "truncated_wav": (lambda path, data: _write_truncated(path, 0.5, data), "song.wav", "is truncated"),
    "truncated_ogg": (lambda path, data: _write_truncated(path, 0.5, data), "song.ogg", "is truncated"),
    "truncated_ogg_header": (lambda path, data: _write_truncated(path, 0.05, data), "song.ogg", "cannot be decoded"),
    "truncated_flac": (lambda path, data: _write_truncated(path, 0.5, data), "song.flac", "cannot be decoded"),
    "truncated_mp3": (lambda path, data: _write_truncated(path, 0.5, data), "song.mp3", "is truncated"),
    "silent": (lambda path, data: sf.write(path, np.zeros((22050 * 4, 2), np.float32), 22050), "song.wav", "is silent"),
    "unsupported": (lambda path, data: sf.write(path, np.ones(100), 22050, format="WAV"), "song.xyz",
                    "unsupported audio format '.xyz'"),
    "no_frames": (lambda path, data: sf.write(path, np.zeros(0, np.float32), 22050), "song.wav", "no audio frames"),
    "too_short": (lambda path, data: _write_clip(path, data, seconds=2), "song.flac",
                  "is only 2.0 s long; a song needs at least 3 s"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_audio_raises_one_line_naming_the_file(case, tmp_path, shared_data, capsys):
    make, name, expected = BAD_INPUTS[case]
    path = tmp_path / name
    make(path, shared_data)
    with pytest.raises(LM2DError) as raised:
        extract_features(path)
    message = str(raised.value)
    assert str(path) in message and expected in message and "\n" not in message

    assert main(["features", str(path), "-o", str(tmp_path / "out.npy")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and str(path) in stderr and expected in stderr
    assert not (tmp_path / "out.npy").exists()


def test_song_over_the_limit_names_length_and_limit(shared_data, capsys):
    song = shared_data / ON_THE_RUN
    with pytest.raises(LM2DError, match=r"is 288\.\d s long; the limit is 60 s") as raised:
        load_audio(song, max_seconds=60)
    assert str(song) in str(raised.value)
    assert main(["features", str(song), "--max-seconds", "60"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "the limit is 60 s" in stderr


def test_mp3_is_read_by_soundfile(shared_data, tmp_path):
    assert lm2d.audio.soundfile_reads_mp3(), f"libsndfile {sf.__libsndfile_version__} lacks mp3 (needs >= 1.1)"
    mp3 = tmp_path / "clip.mp3"
    _write_clip(mp3, shared_data)
    y, rate = load_audio(mp3)
    assert rate == SAMPLE_RATE and abs(len(y) / rate - 6.0) < 0.1 and audio_duration(mp3) == pytest.approx(6.0, abs=0.1)


def test_mp3_without_libsndfile_support_falls_back_to_audioread(tmp_path, monkeypatch):
    """As on an old libsndfile: soundfile fails, audioread is tried, and the error says what to install."""
    monkeypatch.setattr(lm2d.audio, "soundfile_reads_mp3", lambda: False)
    broken = tmp_path / "broken.mp3"
    broken.write_text("not an mp3\n" * 100)
    with pytest.raises(LM2DError, match="has no mp3 support .*ffmpeg") as raised:
        load_audio(broken)
    assert str(broken) in str(raised.value)


# --- command --------------------------------------------------------------------------------

def test_features_command_writes_array_and_beats(shared_data, tmp_path, capsys):
    song = shared_data / "music/sorohanro_-_solo-trumpet-06.ogg"
    output, beats_json = tmp_path / "feats.npy", tmp_path / "beats.json"
    assert main(["features", str(song), "-o", str(output), "--beats-json", str(beats_json)]) == 0
    music = extract_features(song)
    saved = np.load(output, allow_pickle=False)
    assert saved.dtype == np.float32
    np.testing.assert_array_equal(saved, music.features)
    summary = json.loads(beats_json.read_text())
    assert summary["n_frames"] == music.n_frames and summary["fps"] == FPS
    assert summary["tempo"] == pytest.approx(music.tempo)
    np.testing.assert_allclose(summary["beat_times"], music.beat_times, atol=1e-5)
    printed = capsys.readouterr().out
    assert f"{music.n_frames} frames" in printed and f"{len(music.beat_times)} beats" in printed
    assert f"tempo {music.tempo:.1f} BPM" in printed and f"{music.duration:.2f} s" in printed


def test_features_command_rejects_missing_output_folder(shared_data, tmp_path, capsys):
    target = tmp_path / "no_such_folder" / "feats.npy"
    assert main(["features", str(shared_data / VIBE_ACE), "-o", str(target)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "no_such_folder" in stderr and "does not exist" in stderr
    assert not os.path.exists(target)


def test_a_song_is_decoded_once_for_untimed_lyrics_and_features(shared_data, tmp_path, monkeypatch):
    """Placing plain-text lyrics and extracting the features read one Song: one decode, and the
    features equal the file's own (extract_features)."""
    import lm2d.song
    from lm2d.lyrics import load_lyrics
    from lm2d.song import Song

    decodes = []
    real_decode = lm2d.song.decode_audio
    monkeypatch.setattr(lm2d.song, "decode_audio", lambda *args: decodes.append(args[0]) or real_decode(*args))
    lyrics = tmp_path / "plain.txt"
    lyrics.write_text("blow the horn\nhear it ring\n")
    song = Song(shared_data / "music" / "sorohanro_-_solo-trumpet-06.ogg", cache=False)
    with pytest.warns(UserWarning):
        placed = load_lyrics(lyrics, song)
    features = song.features
    assert len(decodes) == 1 and len(placed.segments) == 2
    assert placed.segments[-1].end <= song.duration + 0.1
    np.testing.assert_array_equal(features.features, extract_features(song.path, cache=False).features)
