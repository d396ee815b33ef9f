"""The add-on's stdlib client against a real server process: round trip, cancelling a long song,
and surviving the server's death (error event for the pending request, automatic restart)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dance_data import server_environment, write_tiny_checkpoint

from lm2d_blender.client import ServerClient, ServerError

LONG_SONG = "songs/on_the_run/audio.ogg"      # 288 s: long-form generation over ~290 windows
SHORT_SONG = "music/sorohanro_-_solo-trumpet-06.ogg"
# Enough DDIM steps that a 288 s song takes far longer than the test waits; each step is short.
SLOW_STEPS = 1000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client")


@pytest.fixture(scope="module")
def checkpoint(workdir, shared_data) -> Path:
    return write_tiny_checkpoint(workdir / "tiny", shared_data)


@pytest.fixture(scope="module")
def client(workdir):
    """One client for the module; its teardown checks that stop() shuts the server down cleanly."""
    server = ServerClient(sys.executable, env=server_environment(workdir / "cache"))
    yield server
    assert server.stop(timeout=30) == 0 and not server.alive and server.pid is None
    assert any(event["type"] == "bye" for event in server.poll())


def wait_for_sampling(client: ServerClient, request_id: int, timeout: float = 120.0) -> list[dict]:
    """Events of request_id up to its first sampling progress (the long part has begun)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in client.poll():
            seen.append(event)
            if event.get("id") == request_id and event.get("stage") == "sampling" and event["fraction"] > 0:
                return seen
            assert not (event.get("id") == request_id and event["type"] in ("result", "error")), event
        time.sleep(0.01)
    raise AssertionError(f"no sampling progress within {timeout} s: {seen[-3:]}")


def load(client: ServerClient, checkpoint: Path) -> dict:
    return client.request("load", checkpoint=str(checkpoint), device="cpu", timeout=120)


def test_round_trip_through_the_client(client, checkpoint, workdir, shared_data):
    hello = client.request("hello", timeout=120)
    assert hello["protocol"] == 1
    assert load(client, checkpoint)["loads"] == 1
    song = shared_data / SHORT_SONG
    progress = []
    result = client.request("generate", audio=str(song), output=str(workdir / "take.npz"), steps=2, seed=1,
                            on_event=progress.append, timeout=120)
    assert result["type"] == "result"
    with np.load(result["path"]) as take:
        assert abs(take["local_quaternions"].shape[0] - 30 * sf.info(song).duration) <= 1
    assert {event["stage"] for event in progress} == {"features", "sampling", "writing"}


def test_cancel_during_a_long_song_answers_within_a_second(client, checkpoint, workdir, shared_data):
    load(client, checkpoint)
    request_id = client.send("generate", audio=str(shared_data / LONG_SONG), output=str(workdir / "long.npz"),
                             steps=SLOW_STEPS)
    wait_for_sampling(client, request_id)
    assert client.request("hello", timeout=30)["model"] == "tiny"  # answered at once, mid-job
    cancelled_at = time.monotonic()
    client.cancel(request_id)
    final = client.wait(request_id, timeout=30)
    assert final["type"] == "cancelled", final
    assert time.monotonic() - cancelled_at < 1.0
    assert not (workdir / "long.npz").exists()
    assert client.request("hello")["loads"] == 1   # the model stayed loaded


def test_a_killed_server_fails_the_pending_request_and_restarts(client, checkpoint, workdir, shared_data):
    load(client, checkpoint)
    first_pid = client.pid
    request_id = client.send("generate", audio=str(shared_data / LONG_SONG), output=str(workdir / "killed.npz"),
                             steps=SLOW_STEPS)
    wait_for_sampling(client, request_id)
    client.kill()
    final = client.wait(request_id, timeout=30)
    assert (final["type"], final["code"]) == ("error", "server_died"), final
    assert "the server stopped" in final["message"]

    hello = client.request("hello", timeout=120)   # starts a fresh server
    assert client.pid != first_pid and hello["loads"] == 0
    assert load(client, checkpoint)["loads"] == 1
    result = client.request("generate", audio=str(shared_data / SHORT_SONG), output=str(workdir / "after.npz"),
                            steps=1, timeout=120)
    assert result["type"] == "result" and Path(result["path"]).is_file()


def test_error_events_raise_server_error_with_the_message(client, workdir):
    with pytest.raises(ServerError, match="no such audio file") as caught:
        client.request("generate", audio=str(workdir / "missing.ogg"), output=str(workdir / "x.npz"))
    assert caught.value.code == "bad_input"
    with pytest.raises(ServerError, match="'seed' must be int") as caught:
        client.request("generate", audio="a.ogg", output="x.npz", seed="one")
    assert caught.value.code == "bad_request"


def test_a_missing_interpreter_is_reported_before_starting(tmp_path):
    client = ServerClient(str(tmp_path / "no-python"))
    with pytest.raises(ServerError, match="interpreter was not found") as caught:
        client.request("hello")
    assert caught.value.code == "no_interpreter"

