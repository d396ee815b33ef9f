"""Issue 17, items 1-3, 6-8, 11, 12: bounded rates and sizes, outputs that never destroy an input
or half-write, the finite-output guard, CLI numbers, write failures, checkpoint model.json and
file modes. Each bad input must be one line on stderr and exit code 2 (tests/test_hardening_inputs.py
has the lyrics parsers, the result reader, the protocol and the fuzz targets)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lm2d.cli import main
from lm2d.errors import LM2DError
from lm2d.safe_write import TEMP_PREFIX, atomic_open, atomic_output, check_output

SAMPLE = "motion/smpl_sample_127f.pkl"
SONG = "music/sorohanro_-_solo-trumpet-06.ogg"   # 5.3 s: the shortest real song
pytestmark = pytest.mark.usefixtures("private_cache")


def one_line_exit_2(capsys, *argv, fragment: str = "") -> str:
    """Run `lm2d argv` in-process; it must exit 2 with exactly one line on stderr."""
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as stop:   # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err, err
    return err


def amass(path: Path, rate) -> Path:
    np.savez(path, poses=np.zeros((50, 156)), trans=np.zeros((50, 3)), mocap_framerate=rate)
    return path


# --- 1. memory: rates and sizes are bounded before anything is allocated ---------------------------

@pytest.mark.parametrize("rate, fragment", [(1e-6, "between 1 and 1000"), (0, "between 1 and 1000"),
                                            (np.nan, "NaN"), (np.array([]), "between 1 and 1000")])
def test_amass_frame_rates_out_of_range_are_refused(tmp_path, capsys, rate, fragment):
    one_line_exit_2(capsys, "convert", amass(tmp_path / "a.npz", rate), "-o", tmp_path / "a.bvh", fragment=fragment)
    assert not (tmp_path / "a.bvh").exists()


@pytest.mark.parametrize("flag, value", [("--fps", "1e9"), ("--source-fps", "1e-9"), ("--fps", "inf"),
                                         ("--fps", "nan"), ("--fps", "0")])
def test_convert_rates_out_of_range_are_refused(tmp_path, capsys, flag, value):
    one_line_exit_2(capsys, "convert", amass(tmp_path / "a.npz", 60), "-o", tmp_path / "a.bvh", flag, value,
                    fragment=flag)


def test_a_resampled_motion_longer_than_the_limit_is_refused_before_resampling(tmp_path, capsys):
    np.savez(tmp_path / "long.npz", poses=np.zeros((1000, 72)), trans=np.zeros((1000, 3)), mocap_framerate=1.0)
    one_line_exit_2(capsys, "convert", tmp_path / "long.npz", "-o", tmp_path / "a.bvh", "--fps", "1000",
                    fragment="the limit is 30 min")


# --- 2. outputs never destroy inputs, never half-write ---------------------------------------------

def test_features_refuses_to_write_over_its_song(shared_data, tmp_path, capsys):
    song = tmp_path / "s.ogg"
    shutil.copy(shared_data / SONG, song)
    before = song.read_bytes()
    one_line_exit_2(capsys, "features", song, "-o", song, fragment="is also an input")
    one_line_exit_2(capsys, "features", song, "--beats-json", tmp_path / "." / "s.ogg", fragment="is also an input")
    os.link(song, tmp_path / "hard.npy")   # the same file under another name
    one_line_exit_2(capsys, "features", song, "-o", tmp_path / "hard.npy", fragment="is also an input")
    assert song.read_bytes() == before


def test_generate_refuses_to_write_over_its_lyrics_or_song(shared_data, tmp_path, capsys):
    lyrics = tmp_path / "X.npz"
    lyrics.write_text("[00:01.00]hello\n")
    one_line_exit_2(capsys, "generate", shared_data / SONG, "--lyrics", lyrics, "-o", lyrics,
                    fragment="is also an input")
    assert lyrics.read_text() == "[00:01.00]hello\n"
    os.symlink(lyrics, tmp_path / "link.npz")
    with pytest.raises(LM2DError, match="is also an input"):
        check_output(tmp_path / "link.npz", inputs=[lyrics])


def test_a_failing_writer_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "take.npz"
    target.write_bytes(b"the good one")
    with pytest.raises(ZeroDivisionError):
        with atomic_open(target) as stream:
            stream.write(b"half of a new one")
            1 / 0
    assert target.read_bytes() == b"the good one"
    assert [item.name for item in tmp_path.iterdir()] == ["take.npz"]


def test_a_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{TEMP_PREFIX}{int(dead.stdout)}-abc-take.npz"
    stale.write_bytes(b"x" * 1000)
    mine = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-live-take.npz"   # a write in progress: kept
    mine.write_bytes(b"y")
    with atomic_output(tmp_path / "other.bvh") as temp:
        temp.write_text("done")
    assert not stale.exists() and mine.exists() and (tmp_path / "other.bvh").read_text() == "done"


def test_a_disk_that_fills_up_mid_write_leaves_the_old_file_and_says_why(shared_data, tmp_path):
    """RLIMIT_FSIZE makes every write past 20 kB fail with EFBIG, as a full disk fails with ENOSPC."""
    old = tmp_path / "dance.bvh"
    old.write_text("the good one")
    limit = "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); " \
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
    done = subprocess.run([sys.executable, "-c", limit + "import sys; from lm2d.cli import main; sys.exit(main())",
                           "convert", str(shared_data / SAMPLE), "-o", str(old)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "could not be written: File too large; nothing was changed" in done.stderr
    assert old.read_text() == "the good one" and [item.name for item in tmp_path.iterdir()] == ["dance.bvh"]


def test_an_unwritable_output_is_refused_before_the_work(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    one_line_exit_2(capsys, "convert", amass(tmp_path / "a.npz", 60), "-o", blocker / "out.bvh",
                    fragment="is not a directory")


# --- 3. malformed results are never written ---------------------------------------------------------

@pytest.mark.parametrize("start, end", [(0.0, 0.01), (5.26, None)])
def test_a_part_shorter_than_two_frames_is_refused(start, end):
    from lm2d.pipeline import frame_range

    with pytest.raises(LM2DError, match="less than 2 frames"):
        frame_range(159, start, end, "song.ogg")   # 5.3 s of song


def test_one_frame_keeps_its_quaternion():
    import torch

    from lm2d.motion.rotation import quaternion_make_continuous

    q = torch.tensor([[[-1.0, 0.0, 0.0, 0.0]]])
    assert torch.equal(quaternion_make_continuous(q), q)


def test_non_finite_motions_are_never_written(tmp_path):
    from lm2d.motion.bvh import write_bvh
    from lm2d.motion.io import save_result_npz
    from lm2d.motion.representation import Motion

    rotmats = np.tile(np.eye(3), (10, 24, 1, 1))
    motion = Motion(np.full((10, 3), np.nan), rotmats, 30.0)
    for writer, name in ((save_result_npz, "t.npz"), (write_bvh, "t.bvh")):
        with pytest.raises(LM2DError, match="NaN or infinite"):
            writer(motion, tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_a_checkpoint_with_nan_weights_or_normaliser_is_refused(checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    from lm2d.model.checkpoint import load_checkpoint

    for prefix in ("normalizer.min", "model."):
        broken = tmp_path / prefix
        shutil.copytree(checkpoint, broken)
        tensors = load_file(str(broken / "model.safetensors"))
        key = next(name for name in sorted(tensors) if name.startswith(prefix))
        tensors[key] = tensors[key].clone().fill_(float("nan"))
        save_file(tensors, str(broken / "model.safetensors"))
        with pytest.raises(LM2DError, match=f"tensor '{key}' contains NaN"):
            load_checkpoint(broken)


def test_nan_guidance_is_refused(checkpoint, shared_data, tmp_path, capsys):
    for value in ("nan", "inf", "1e9"):
        one_line_exit_2(capsys, "generate", shared_data / SONG, "--checkpoint", checkpoint, "-o", tmp_path / "t.npz",
                        "--music-guidance", value, fragment="--music-guidance")


# --- 6. CLI numbers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("--seed", "9" * 23), ("--seed", "-1"), ("--seed", "9" * 5000),
                                         ("--end", "1e308"), ("--start", "nan"), ("--steps", "2.5")])
def test_cli_numbers_out_of_range(shared_data, tmp_path, capsys, flag, value):
    one_line_exit_2(capsys, "generate", shared_data / SONG, "-o", tmp_path / "t.npz", flag, value, fragment=flag)


def test_the_seed_range_is_the_servers():
    from lm2d.server.protocol import BadRequest, parse_request
    from lm2d.validate.numbers import seed

    assert seed(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(BadRequest, match="between 0 and"):
        parse_request(json.dumps({"type": "generate", "audio": "a.ogg", "output": "o.npz", "seed": 2**63}))
    with pytest.raises(BadRequest, match="between 0 and"):
        parse_request(json.dumps({"type": "generate", "audio": "a.ogg", "output": "o.npz", "seed": -1}))


# --- 7. write failures name their cause ------------------------------------------------------------

def test_export_reports_the_cause_not_blenders_last_line():
    from lm2d.blender_child import child_failure

    traceback = ("Traceback (most recent call last):\n  ...\nPermissionError: [Errno 13] Permission denied: '/x.fbx'\n"
                 "Location: /venv/bpy/ops.py:109\n")
    child = subprocess.CompletedProcess([], 1, "", traceback)
    assert child_failure(child) == "PermissionError: [Errno 13] Permission denied: '/x.fbx'"
    child = subprocess.CompletedProcess([], 2, "", "noise\nerror: /x.fbx: No space left on device\n")
    assert child_failure(child) == "/x.fbx: No space left on device"


# --- 8. checkpoint model.json ------------------------------------------------------------------------

@pytest.mark.parametrize("change, fragment", [
    (lambda meta: meta["training"].update(deep=json.loads("[" * 50 + "]" * 50)), None),
    (lambda meta: meta["config"].update(n_heads=0), "config n_heads must be between 1 and 64"),
    (lambda meta: meta["config"].update(dropout=5), "config dropout must be between 0 and 1"),
    (lambda meta: meta.update(training="abc"), '"training" must be an object'),
    (lambda meta: meta["config"].update(ff_dim=10**9), "config ff_dim must be between"),
    (lambda meta: meta["config"].update(n_frames=10**12), "config n_frames must be between"),
    (lambda meta: meta["config"].update(lyrics="no"), "config lyrics must be true or false"),
    (lambda meta: meta["config"].update(latent_dim=64), "tensors do not match"),
])
def test_model_json_fields_are_checked_before_the_network_is_built(checkpoint, tmp_path, change, fragment):
    from lm2d.model.checkpoint import load_checkpoint

    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    meta = json.loads((copy / "model.json").read_text())
    change(meta)
    (copy / "model.json").write_text(json.dumps(meta))
    if fragment is None:   # nesting within the limit loads
        assert load_checkpoint(copy).kind == "diffusion"
        return
    with pytest.raises(LM2DError, match=fragment):
        load_checkpoint(copy)


def test_model_json_nested_100000_deep_is_one_line(checkpoint, tmp_path):
    from lm2d.model.checkpoint import load_checkpoint

    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    text = (copy / "model.json").read_text()
    (copy / "model.json").write_text(text.replace('"training": {', '"deep": ' + "[" * 100_000 + "]" * 100_000
                                                  + ', "training": {', 1))
    with pytest.raises(LM2DError, match="nested 100001 levels deep"):
        load_checkpoint(copy)


# --- 11. file modes ------------------------------------------------------------------------------------

def test_outputs_respect_the_umask_and_an_existing_files_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "new.txt", "w") as stream:
            stream.write("x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644
        (tmp_path / "kept.txt").write_text("old")
        os.chmod(tmp_path / "kept.txt", 0o640)
        with atomic_open(tmp_path / "kept.txt", "w") as stream:
            stream.write("new")
        assert (tmp_path / "kept.txt").stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        with atomic_open(tmp_path / "private.txt", "w") as stream:
            stream.write("x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


# --- 12. precise reasons for odd paths -----------------------------------------------------------------

def test_symlink_loops_and_directories_are_named_as_such(tmp_path, capsys):
    os.symlink(tmp_path / "loop.pkl", tmp_path / "loop.pkl")
    one_line_exit_2(capsys, "convert", tmp_path / "loop.pkl", "-o", tmp_path / "o.bvh",
                    fragment="Too many levels of symbolic links")
    (tmp_path / "dir.pkl").mkdir()
    one_line_exit_2(capsys, "convert", tmp_path / "dir.pkl", "-o", tmp_path / "o.bvh", fragment="is a directory")


def test_a_truncated_mp3_is_one_line_without_decoder_noise(tmp_path, capfd):
    import soundfile as sf

    if "MP3" not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} writes no mp3")
    t = np.arange(22050 * 20) / 22050
    sf.write(tmp_path / "ok.mp3", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050, format="MP3")
    data = (tmp_path / "ok.mp3").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[:len(data) // 2])
    assert main(["features", str(tmp_path / "cut.mp3")]) == 2
    err = capfd.readouterr().err   # file-descriptor level: libmpg123 writes there, not to sys.stderr
    assert err.count("\n") == 1 and "is truncated" in err, err
