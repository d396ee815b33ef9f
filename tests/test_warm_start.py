"""The add-on warms the server up before the user asks for a dance: drawing the Dance panel (or
choosing a song) only schedules a timer; the timer starts a real `python -m lm2d.server`, loads
the preferences' model and shows the server's warm-up state until it is ready. Real bpy
(background mode, where timers never fire, so the test calls the timer itself)."""
from __future__ import annotations

import sys
import time

import bpy
import pytest

import lm2d_blender
from lm2d_blender import server_session, warm_start
from lm2d_blender.generation_settings import scene_generation_settings
from lm2d_blender.jobs import FINISHED, start_generation
from lm2d_blender.props import session_state
from lm2d_blender.server_session import ServerSettings
from dance_data import write_tiny_checkpoint

SONG = "music/sorohanro_-_solo-trumpet-06.ogg"


@pytest.fixture()
def addon(tmp_path, shared_data, monkeypatch):
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", shared_data)
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))   # the server copies this environment
    bpy.ops.wm.read_factory_settings(use_empty=True)
    lm2d_blender.register()
    server_session.use_settings(ServerSettings(sys.executable, str(checkpoint), "cpu"))
    yield bpy.context
    lm2d_blender.unregister()                                     # stops the server
    server_session.use_settings(None)


def drive_timer(deadline_seconds: float = 300) -> list[str]:
    """Call the warm-start timer as Blender would, until it unregisters itself; the panel lines seen."""
    seen, deadline = [], time.monotonic() + deadline_seconds
    interval = warm_start.tick()
    while interval is not None:
        assert time.monotonic() < deadline, seen
        line = session_state(bpy.context).warmup
        if not seen or seen[-1] != line:
            seen.append(line)
        time.sleep(interval)
        interval = warm_start.tick()
    return seen + [session_state(bpy.context).warmup]


def test_choosing_a_song_warms_the_server_and_prepares_the_song(addon, shared_data, tmp_path):
    assert not bpy.app.timers.is_registered(warm_start.tick) and server_session._session is None
    settings = addon.scene.lm2d
    settings.audio_source, settings.audio_path = 'FILE', str(shared_data / SONG)   # the update asks for it
    assert bpy.app.timers.is_registered(warm_start.tick)
    assert server_session._session is None        # nothing started yet: that is the timer's job
    warm_start.request(addon)                     # what every panel redraw calls: still one timer, no job
    seen = drive_timer()
    assert seen[-1] == "Dance server ready", seen
    assert any(line.startswith("Dance server warming up") for line in seen), seen
    # The chosen song's features were prepared in the server's cache before Generate.
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 1

    session = server_session.session(addon)
    hello_id = session.send("hello")
    events = session.take([hello_id], wait=30)
    warmup = events[0]["warmup"] if events else {}
    assert warmup.pop("dance", None) in ("ready", "skipped"), events   # skipped: gave way to the prepare
    assert warmup == {"features": "ready", "lyrics": "ready", "model": "ready"}
    assert (events[0]["model"], events[0]["loads"]) == ("tiny", 1)
    session.forget([hello_id])

    # A second request for warm-up schedules nothing (Blender drops a timer that returned None;
    # background mode never ran it, so drop it here), and the warm server generates.
    bpy.app.timers.unregister(warm_start.tick)
    warm_start.request(addon)
    assert not bpy.app.timers.is_registered(warm_start.tick)
    settings.lyrics_source, settings.target, settings.steps = 'NONE', 'NEW', '1'
    job = start_generation(addon, scene_generation_settings(addon), str(tmp_path / "take.npz"))
    assert job.run_to_end(addon) == FINISHED, job.message
    job.finish(addon)
    assert session.client.pid is not None and job.model == "tiny"


def test_without_an_interpreter_the_panel_says_the_server_did_not_start(addon):
    server_session.use_settings(ServerSettings("/nonexistent/bin/python3"))
    warm_start.request(addon)
    assert warm_start.tick() is None
    assert session_state(addon).warmup.startswith("Dance server not started: /nonexistent/bin/python3")
