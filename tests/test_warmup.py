"""Warm-up and cheaper first calls: the background warm-up's bookkeeping, hello's warm-up states
from a real server, cold and warm servers giving the same dance bit for bit, the rehearsal dance
giving way to requests (and its stop check never stopping theirs), numba's on-disk
cache living in lm2d's cache folder across processes, and the faster paths of features and audio
matching librosa's own calls bit for bit."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from lm2d.errors import Cancelled, LM2DError
from lm2d.server.warmup import FAILED, PENDING, READY, RUNNING, SKIPPED, Warmup
from dance_data import server_environment, write_tiny_checkpoint
from raw_server import RawServer

SONG = "music/sorohanro_-_solo-trumpet-06.ogg"   # 5.3 s
SEGMENTS = [{"start": 0.5, "end": 2.5, "text": "warm it up"}, {"start": 3.0, "end": 5.0, "text": "and go"}]


def test_warmup_runs_its_tasks_in_order_and_reports_each_state():
    release, order = threading.Event(), []

    def slow():
        order.append("slow")
        assert release.wait(30)

    def broken():
        order.append("broken")
        raise LM2DError("no encoder here")

    def gives_way():
        order.append("gives way")
        raise Cancelled()

    warmup = Warmup([("slow", slow), ("broken", broken), ("gives way", gives_way),
                     ("last", lambda: order.append("last"))])
    assert set(warmup.states().values()) == {PENDING}
    warmup.start()
    deadline = time.monotonic() + 30
    while warmup.states()["slow"] != RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert warmup.states() == {"slow": RUNNING, "broken": PENDING, "gives way": PENDING, "last": PENDING}
    assert not warmup.wait(0.05)
    release.set()
    assert warmup.wait(30)
    # A failed task costs only its time, one that gave way to a request is skipped: the next still runs.
    assert warmup.states() == {"slow": READY, "broken": FAILED, "gives way": SKIPPED, "last": READY}
    assert order == ["slow", "broken", "gives way", "last"] and set(warmup.seconds()) == {"slow", "last"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, shared_data) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("warmup") / "tiny", shared_data)


def same_audio_other_bytes(source: Path, folder: Path) -> tuple[Path, Path]:
    """The song as two WAV files with the same samples but different bytes (the second has an
    empty JUNK chunk), so a feature cache keyed by content computes the second afresh."""
    import soundfile as sf

    samples, rate = sf.read(source, dtype="float32")
    first, second = folder / "song.wav", folder / "song_again.wav"
    sf.write(first, samples, rate, subtype="FLOAT")
    data = bytearray(first.read_bytes()) + b"JUNK" + (4).to_bytes(4, "little") + bytes(4)
    data[4:8] = (len(data) - 8).to_bytes(4, "little")
    second.write_bytes(bytes(data))
    return first, second


def test_a_request_mid_warm_up_and_one_after_it_give_the_same_dance(checkpoint, shared_data, tmp_path):
    cold_song, warm_song = same_audio_other_bytes(shared_data / SONG, tmp_path)
    server = RawServer(server_environment(tmp_path / "cache"))
    takes = {}

    def generate(song: Path, name: str) -> None:
        event, _ = server.request("generate", timeout=300, audio=str(song), output=str(tmp_path / name),
                                  seed=11, steps=2, segments=SEGMENTS)
        assert event["type"] == "result", event
        with np.load(tmp_path / name) as take:
            takes[name] = {key: take[key] for key in take.files}

    try:
        hello, _ = server.request("hello", timeout=120)
        assert set(hello["warmup"]) == {"features", "lyrics", "dance", "model"}
        assert hello["warmup"]["model"] == hello["warmup"]["dance"] == PENDING   # the rehearsal waits for a load
        assert set(hello["warmup"].values()) <= {PENDING, RUNNING, READY}
        # Generate at once: features and the encoder are still warming up.
        assert server.request("load", checkpoint=str(checkpoint), device="cpu")[0]["type"] == "loaded"
        generate(cold_song, "cold.npz")
        deadline = time.monotonic() + 300
        # The rehearsal either ran after the cold song or gave way to it.
        while not set(hello["warmup"].values()) <= {READY, SKIPPED}:
            assert time.monotonic() < deadline, hello
            time.sleep(0.2)
            hello, _ = server.request("hello")
        assert hello["warmup"]["features"] == hello["warmup"]["lyrics"] == hello["warmup"]["model"] == READY
        generate(warm_song, "warm.npz")
        assert server.request("hello")[0]["loads"] == 1
        # prepare: a song's features into the cache ahead of its generate; bad songs as any request.
        prepared, _ = server.request("prepare", audio=str(shared_data / SONG))
        assert prepared["type"] == "prepared" and prepared["frames"] == 161, prepared
        assert list((tmp_path / "cache" / "features").glob("*.npz"))
        missing, _ = server.request("prepare", audio=str(tmp_path / "nope.ogg"))
        assert (missing["type"], missing["code"]) == ("error", "bad_input") and "nope.ogg" in missing["message"]
    finally:
        server.close()
    cold, warm = takes["cold.npz"], takes["warm.npz"]
    assert cold.keys() == warm.keys() and "joint_positions" in cold
    for name in cold:
        np.testing.assert_array_equal(cold[name], warm[name], err_msg=name)


def test_the_rehearsal_dances_a_whole_synthetic_song_and_gives_way_to_requests(checkpoint, tmp_path, monkeypatch):
    from lm2d.sampling.denoisers import stopping
    from lm2d.server.engine import Engine
    from lm2d.server.warmup import REHEARSAL_SECONDS

    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))
    engine = Engine(warm=False)
    engine.load(str(checkpoint), "cpu")
    motion = engine.rehearse()
    assert abs(motion.n_frames - REHEARSAL_SECONDS * 30) <= 1 and np.isfinite(motion.local_rotmats).all()
    assert not (tmp_path / "cache" / "features").exists()      # the synthetic song is not cached
    with engine.serving(), pytest.raises(Cancelled):          # a request is running: it stops at once
        engine.rehearse()

    # The rehearsal's stop check sits on the shared model, but stops only its own thread's calls.
    model, inside, done = engine.loaded.model, threading.Event(), threading.Event()
    x = torch.zeros(1, model.config.n_frames, model.config.channels)
    music = torch.zeros(1, model.config.n_frames, model.config.music_dim)

    outcome = []

    def rehearsal_thread():
        with stopping(model, lambda: True), torch.no_grad():
            inside.set()
            done.wait(30)
            try:
                model(x, torch.zeros(1), music)
                outcome.append("ran")
            except Cancelled:
                outcome.append("cancelled")

    thread = threading.Thread(target=rehearsal_thread)
    thread.start()
    assert inside.wait(30)
    with torch.no_grad():
        assert torch.isfinite(model(x, torch.zeros(1), music)).all()   # the request's call runs
    done.set()
    thread.join(30)
    assert outcome == ["cancelled"]                                   # the rehearsal's own call stops


def run_python(code: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_numba_keeps_compiled_code_in_lm2ds_cache_folder_across_processes(tmp_path):
    """lm2d points numba's cache (where librosa's cache=True functions go) at LM2D_CACHE/numba.
    A function of our own shows the round trip: compiled and saved by one process, loaded by the next."""
    module = tmp_path / "src" / "tiny_kernel.py"
    module.parent.mkdir()
    module.write_text("import numba\n\n@numba.njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env |= {"LM2D_CACHE": str(tmp_path / "cache"), "NUMBA_DEBUG_CACHE": "1",
            "PYTHONPATH": os.pathsep.join([str(module.parent), env.get("PYTHONPATH", "")])}
    code = ("import lm2d, numba, tiny_kernel; print('cache dir', numba.config.CACHE_DIR); "
            "print('result', tiny_kernel.twice(21))")
    first = run_python(code, env)
    assert f"cache dir {tmp_path / 'cache' / 'numba'}" in first and "result 42" in first
    assert "data saved to" in first and list((tmp_path / "cache" / "numba").rglob("*.nbi"))
    second = run_python(code, env)
    assert "data loaded from" in second and "data saved to" not in second and "result 42" in second
    # A cache folder the user chose for numba themselves wins.
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "theirs")
    assert f"cache dir {tmp_path / 'theirs'}" in run_python(code, env)


def test_a_song_without_lyrics_never_imports_transformers(checkpoint, shared_data, tmp_path):
    code = (f"import sys; from lm2d.cli import main; "
            f"assert main(['generate', {str(shared_data / SONG)!r}, '--checkpoint', {str(checkpoint)!r}, "
            f"'-o', {str(tmp_path / 'take.npz')!r}, '--steps', '1']) == 0; "
            f"print('transformers loaded:', 'transformers' in sys.modules)")
    output = run_python(code, dict(os.environ, LM2D_CACHE=str(tmp_path / "cache")))
    assert "transformers loaded: False" in output


def test_mono_mix_and_shared_log_mel_equal_librosas_own_calls(shared_data):
    from lm2d.audio import _mix_to_mono, load_audio
    from lm2d.features import HOP_LENGTH, N_MFCC, SAMPLE_RATE, features_from_array

    rng = np.random.default_rng(0)
    for channels in (1, 2, 6):
        samples = rng.standard_normal((48001, channels)).astype(np.float32)
        np.testing.assert_array_equal(_mix_to_mono(samples), librosa.to_mono(samples.T))

    y, rate = load_audio(shared_data / SONG)
    features = features_from_array(y, rate).features
    onsets = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    mfcc = librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=N_MFCC, hop_length=HOP_LENGTH)
    np.testing.assert_array_equal(features[:, 0], onsets.astype(np.float32))
    np.testing.assert_array_equal(features[:, 1:1 + N_MFCC], mfcc.T.astype(np.float32))
