"""DanceDataset on small real datasets (dance_data.write_dataset): slices of the shared music, the
shared SMPL sample tiled to the audio length, and LRC files."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from dance_data import AUDIO_FRAMES, CLIPS, CLIP_SECONDS, MOTION_FRAMES, TINY, write_audio, write_clip, write_dataset, write_motion

from lm2d.errors import LM2DError, LM2DWarning
from lm2d.model.config import ModelConfig
from lm2d.train.dataset import DanceDataset, clip_cache_entry, find_clips



def windows_per_clip(frames: int, n_frames: int, stride: int) -> int:
    return (frames - n_frames) // stride + 1




@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory, shared_data, cache_root) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dance_data"), shared_data)




@pytest.mark.parametrize("stride", [30, 45])
def test_windows_have_the_documented_shapes_and_count(dataset_root, encoder, stride):
    dataset = DanceDataset(dataset_root, "train", TINY, stride=stride, encoder=encoder)

    usable = min(AUDIO_FRAMES, MOTION_FRAMES)
    assert [clip.n_frames for clip in dataset.clips] == [usable] * 3
    assert len(dataset) == 3 * windows_per_clip(usable, TINY.n_frames, stride)
    k, n = TINY.max_lyric_tokens, TINY.n_frames
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["x"].shape == (n, 151) and item["x"].dtype == np.float32
        assert item["music"].shape == (n, 35)
        assert item["lyric_emb"].shape == (k, 384)
        assert item["lyric_frames"].shape == (k,) and item["lyric_mask"].shape == (k,)
        assert item["lyric_mask"].dtype == bool
        assert np.abs(item["x"]).max() <= 1.0 and np.isfinite(item["music"]).all()
    # Min/max normalisation over the split reaches both ends of every non-constant channel.
    everything = np.concatenate([dataset[i]["x"] for i in range(len(dataset))])
    varying = everything.std(0) > 0                     # the windows cover every frame here
    assert np.allclose(everything[:, varying].min(0), -1, atol=1e-5)
    assert np.allclose(everything[:, varying].max(0), 1, atol=1e-5)
    # Windows follow the clip order: the first clip ("hungarian", sorted) has no lyrics.
    per_clip = windows_per_clip(usable, n, stride)
    assert not any(dataset[i]["lyric_mask"].any() for i in range(per_clip))
    sung = [dataset[i] for i in range(per_clip, 3 * per_clip)]
    assert any(item["lyric_mask"].any() for item in sung)
    for item in sung:
        assert (item["lyric_frames"][item["lyric_mask"]] < n + 1e-3).all()


def test_lyric_tokens_sit_where_the_lrc_times_them(dataset_root, encoder):
    dataset = DanceDataset(dataset_root, "train", TINY, stride=30, encoder=encoder)
    sugar = [(i, start) for i, (clip, start) in enumerate(dataset.windows) if dataset.clips[clip].clip_id == "sugar"]
    first_line, song_end = 30.0, MOTION_FRAMES     # "Tiptoe softly" starts at 1.0 s = frame 30
    for index, start in sugar:
        item = dataset[index]
        times = item["lyric_frames"][item["lyric_mask"]]
        assert (np.diff(times) >= 0).all()                      # in time order
        assert ((start + times >= first_line) & (start + times < song_end)).all()
        assert not item["lyric_emb"][~item["lyric_mask"]].any()  # padding is zeros
    first = dataset[sugar[0][0]]                                 # frames 0-59: the first line has begun
    assert first["lyric_mask"].any() and first["lyric_frames"][first["lyric_mask"]].min() >= first_line


def test_music_only_model_gets_no_lyric_tokens(dataset_root):
    config = ModelConfig(**{**TINY.to_dict(), "lyrics": False})
    item = DanceDataset(dataset_root, "train", config, stride=60)[0]
    assert item["lyric_emb"].shape == (0, 384) and item["lyric_mask"].shape == (0,)


def test_clip_cache_is_reused_and_follows_the_files(dataset_root, encoder):
    DanceDataset(dataset_root, "train", TINY, stride=30, encoder=encoder)
    files = {f.clip_id: f for f in find_clips(dataset_root, "train")}
    entry = clip_cache_entry(files["vibe"])
    with np.load(entry) as cached:
        x, music = cached["x"], cached["music"]
    # A second dataset reads the cached arrays instead of recomputing them: mark them to tell.
    np.savez(entry, x=x, music=np.full_like(music, 0.25))
    try:
        again = DanceDataset(dataset_root, "train", TINY, stride=30, encoder=encoder)
        vibe = next(i for i, (clip, _) in enumerate(again.windows) if again.clips[clip].clip_id == "vibe")
        assert (again[vibe]["music"] == 0.25).all()
    finally:
        np.savez(entry, x=x, music=music)
    # The key is the content: another motion file for the same clip is a different entry.
    other = files["vibe"].motion.with_name("other.pkl")
    other.write_bytes(files["vibe"].motion.read_bytes() + b"\0")
    try:
        assert clip_cache_entry(files["vibe"].__class__("vibe", files["vibe"].audio, other)) != entry
    finally:
        other.unlink()


def test_gesture_frames_mark_the_lyric_gestures_windows(dataset_root, encoder):
    from lm2d.evaluation.gesture_classifier import split_gesture_events

    events = split_gesture_events(dataset_root, "train")
    spin = [event for event in events["vibe"] if event.gesture == "spin"]
    assert spin, events["vibe"]     # "spin around and jump" calls for a spin
    dataset = DanceDataset(dataset_root, "train", TINY, stride=30, encoder=encoder, gesture_events=events)
    vibe = [clip.clip_id for clip in dataset.clips].index("vibe")
    marked = np.zeros(dataset.clips[vibe].n_frames, bool)
    for index, (clip_index, start) in enumerate(dataset.windows):
        item = dataset[index]
        assert item["gesture_frames"].shape == (TINY.n_frames,) and item["gesture_frames"].dtype == bool
        if clip_index == vibe:
            marked[start:start + TINY.n_frames] |= item["gesture_frames"]
    start, end = round(spin[0].start * 30), round(spin[0].end * 30)
    assert marked[start:end].all() and not marked[:round(events["vibe"][0].start * 30)].any()
    assert "gesture_frames" not in DanceDataset(dataset_root, "train", TINY, stride=30, encoder=encoder)[0]


def test_test_split_uses_the_train_normalizer(dataset_root, encoder):
    train = DanceDataset(dataset_root, "train", TINY, stride=60, encoder=encoder)
    test = DanceDataset(dataset_root, "test", TINY, stride=60, encoder=encoder, normalizer=train.normalizer)
    assert test.normalizer is train.normalizer
    assert len(test) == windows_per_clip(MOTION_FRAMES, TINY.n_frames, 60)


def test_length_mismatch_warns_and_crops_to_the_shorter(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))
    write_clip(tmp_path / "data" / "train" / "long_motion", shared_data, CLIPS[2][1], 5.0, None,
               motion_seconds=CLIP_SECONDS + 1.5)
    config = ModelConfig(**{**TINY.to_dict(), "lyrics": False})
    with pytest.warns(LM2DWarning, match=r"motion\.pkl: motion has 285 frames but the audio 241"):
        dataset = DanceDataset(tmp_path / "data", "train", config, stride=30)
    assert dataset.clips[0].n_frames == AUDIO_FRAMES


def test_aist_layout_loads_with_null_lyrics(tmp_path, shared_data, cache_root, encoder):
    root = tmp_path / "aist"
    (root / "motions").mkdir(parents=True)
    (root / "wavs").mkdir()
    (root / "splits").mkdir()
    names = ["gHO_sBM_cAll_d19_mHO0_ch01", "gJB_sBM_cAll_d07_mJB1_ch02", "gHO_sBM_cAll_d20_mHO0_ch03"]
    write_audio(root / "wavs" / "mHO0.wav", shared_data / "music" / CLIPS[0][1], 30.0)
    write_audio(root / "wavs" / "mJB1.wav", shared_data / "music" / CLIPS[1][1], 40.0)
    for name in names:
        write_motion(root / "motions" / f"{name}.pkl", shared_data, CLIP_SECONDS)
    (root / "splits" / "crossmodal_train.txt").write_text("\n".join(names) + "\n")
    (root / "ignore_list.txt").write_text(names[2] + "\n")

    dataset = DanceDataset(root, "train", TINY, stride=60, encoder=encoder)
    assert [clip.clip_id for clip in dataset.clips] == names[:2]
    assert len(dataset) == 2 * windows_per_clip(MOTION_FRAMES, TINY.n_frames, 60)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["lyric_emb"].shape == (TINY.max_lyric_tokens, 384) and not item["lyric_mask"].any()

    (root / "splits" / "crossmodal_test.txt").write_text("gHO_sBM_cAll_d19_mHO0_ch01\ngBR_sBM_cAll_d04_mBR0_ch01\n")
    with pytest.raises(LM2DError, match=r"crossmodal_test\.txt:2: .*gBR_sBM_cAll_d04_mBR0_ch01\.pkl is missing"):
        find_clips(root, "test")


def test_bad_layouts_name_the_problem(tmp_path, shared_data):
    with pytest.raises(LM2DError, match="dataset directory not found"):
        find_clips(tmp_path / "nowhere", "train")
    (tmp_path / "train" / "clip1").mkdir(parents=True)
    with pytest.raises(LM2DError, match=r"no 'test' split"):
        find_clips(tmp_path, "test")
    with pytest.raises(LM2DError, match=r"clip1: no audio file"):
        find_clips(tmp_path, "train")
    write_audio(tmp_path / "train" / "clip1" / "audio.wav", shared_data / "music" / CLIPS[0][1], 0.0, 1.0)
    (tmp_path / "train" / "clip1" / "motion.pkl").write_bytes(b"x")
    (tmp_path / "train" / "clip1" / "motion.npz").write_bytes(b"x")
    with pytest.raises(LM2DError, match=r"more than one motion file: motion\.npz, motion\.pkl"):
        find_clips(tmp_path, "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (tmp_path / "train" / "clip1" / "motion.npz").unlink()
        assert find_clips(tmp_path, "train")[0].lyrics is None
