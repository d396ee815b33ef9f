"""The server's feature process (lm2d.feature_process): a spawned child computes songs'
features with the same values bit for bit as the server would, brings back errors as the same
one-line LM2DError, is replaced by the server's own features when it dies, and ends with the
server. Real processes, real audio."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lm2d.errors import LM2DError
from lm2d.feature_process import FeatureProcess, _song_features, _unpacked
from lm2d.song import Song
from raw_server import RawServer
from dance_data import server_environment

SONG = "music/sorohanro_-_solo-trumpet-06.ogg"


def test_the_child_computes_the_servers_features_bit_for_bit_and_a_dead_child_is_replaced(shared_data, tmp_path,
                                                                                             monkeypatch):
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))
    own = features_in_a_fresh_process(shared_data / SONG, tmp_path / "own.npz")
    process = FeatureProcess()
    try:
        child = process.wait_warm()
        assert child is not None and child != os.getpid()
        song = Song(shared_data / SONG, cache=False, features_from=process.features)
        for name in ("features", "beat_times", "tempo"):
            np.testing.assert_array_equal(getattr(song.features, name), own[name], err_msg=name)
        # The child computed and cached them (a cached song is read, not decoded, next time).
        cached = Song(shared_data / SONG, features_from=process.features).features
        assert list((tmp_path / "cache" / "features").glob("*.npz"))
        np.testing.assert_array_equal(cached.features, own["features"])
        os.kill(child, signal.SIGKILL)
        time.sleep(0.5)
        again = Song(shared_data / SONG, cache=False, features_from=process.features)
        # (this process's numpy may run another number of BLAS threads than the child, and the features
        # depend on it in the last bits: compare in the cached values' terms)
        assert again.features.features.shape == own["features"].shape
        np.testing.assert_allclose(again.features.features, own["features"], rtol=1e-5, atol=1e-4)
    finally:
        process.close()


def features_in_a_fresh_process(song: Path, out: Path) -> dict:
    """The features as a server process computes them: a fresh interpreter with this environment
    (OMP_NUM_THREADS sets numpy's BLAS threads, and the last bits of the features follow it)."""
    code = ("import sys, numpy as np; from lm2d.song import Song; f = Song(sys.argv[1], cache=False).features; "
            "np.savez(sys.argv[2], features=f.features, beat_times=f.beat_times, tempo=f.tempo)")
    subprocess.run([sys.executable, "-c", code, str(song), str(out)], check=True, timeout=300)
    with np.load(out) as data:
        return {key: data[key] for key in data.files}


def test_an_error_in_the_child_arrives_as_the_same_one_line_error(tmp_path):
    missing = tmp_path / "gone.ogg"
    outcome = _song_features(str(missing), 60.0, True)     # what the child sends back, pickled
    assert outcome[0] == "error"
    with pytest.raises(LM2DError) as raised:
        _unpacked(outcome)
    assert raised.value.code == "bad_input" and str(raised.value) == f"{missing}: no such audio file"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
def test_the_feature_process_ends_with_the_server(tmp_path):
    server = RawServer(server_environment(tmp_path / "cache"))
    try:
        hello, _ = server.request("hello", timeout=120)
        assert hello["type"] == "hello"
        deadline = time.monotonic() + 60
        while not children_of(server.process.pid):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        children = children_of(server.process.pid)
    finally:
        server.close()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{child}").exists() and "Z" not in Path(f"/proc/{child}/stat").read_text().split()[2]
              for child in children):
        assert time.monotonic() < deadline, children
        time.sleep(0.2)
