"""`lm2d corpus --danced DIR`: the user's own real dances join the corpus as they are."""
from __future__ import annotations

import json
import shutil

import numpy as np

from lm2d.cli import main as lm2d_main
from lm2d.motion.io import load_motion, load_result_npz, save_result_npz


def test_danced_songs_join_the_corpus_unchanged(shared_data, tmp_path, capsys):
    song = tmp_path / "danced" / "Trumpet Solo"
    song.mkdir(parents=True)
    shutil.copyfile(shared_data / "music" / "sorohanro_-_solo-trumpet-06.ogg", song / "audio.ogg")
    dance = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")      # 2.1 s of real SMPL capture
    save_result_npz(dance, song / "motion.npz")
    (song / "lyrics.lrc").write_text("[00:00.50]play it loud\n[00:03.00]\n", encoding="utf-8")

    out = tmp_path / "corpus"
    assert lm2d_main(["corpus", "--out", str(out), "--songs", "0", "--no-shared-data",
                      "--danced", str(song.parent)]) == 0
    err = capsys.readouterr().err
    assert "the dance lasts 2.1 s and the song 5.3 s: training uses the shorter" in err
    clip = out / "test" / "danced_trumpet_solo"          # the only song: held out
    assert sorted(p.name for p in clip.iterdir()) == ["audio.ogg", "lyrics.lrc", "motion.npz"]
    assert (clip / "audio.ogg").read_bytes() == (song / "audio.ogg").read_bytes()
    written, lines = load_result_npz(clip / "motion.npz")
    np.testing.assert_allclose(written.joints(), dance.joints(), atol=1e-5)
    assert [text for _, _, text in lines] == ["play it loud"]
    record = json.loads((out / "corpus.json").read_text())["clips"][0]
    assert record["source"] == "danced" and record["dance_style"] == "real" and record["gesture_events"] == []
    assert record["frames"] == dance.n_frames and record["folder"] == "Trumpet Solo"


def test_danced_folder_errors_name_the_file(tmp_path, capsys):
    assert lm2d_main(["corpus", "--out", str(tmp_path / "c"), "--songs", "0", "--no-shared-data",
                      "--danced", str(tmp_path / "none")]) == 2
    assert f"{tmp_path / 'none'}: danced songs folder not found" in capsys.readouterr().err
    (tmp_path / "danced" / "song").mkdir(parents=True)
    (tmp_path / "danced" / "song" / "audio.ogg").write_bytes(b"")
    assert lm2d_main(["corpus", "--out", str(tmp_path / "c"), "--songs", "0", "--no-shared-data",
                      "--danced", str(tmp_path / "danced")]) == 2
    assert "no motion file" in capsys.readouterr().err
