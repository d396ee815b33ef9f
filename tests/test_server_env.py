"""The server's environment found, checked and installed, in real bpy with real subprocesses: the
managed environment is created from a locally built lm2d wheel (pip --no-index, no network; torch
and the other dependencies are reused from this test's environment rather than downloaded), the
checklist turns green, and a dance is generated through it."""
from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import bpy
import pytest

import lm2d_blender
from lm2d_blender import prefs, server_env, server_session, server_setup
from lm2d_blender.server_session import ServerSettings

REPO = Path(__file__).resolve().parents[1]
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)   # the Python this venv was made from


def load_build_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_extension", REPO / "tools" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_python(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture()
def addon(tmp_path, monkeypatch):
    """The add-on registered; its managed environment and results in tmp_path."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    managed = str(tmp_path / "server-env")
    for module in (prefs, server_session, server_setup):
        monkeypatch.setattr(module, "managed_env_dir", lambda: managed)
    lm2d_blender.register()
    yield bpy.context
    lm2d_blender.unregister()
    server_session.use_settings(None)


def test_interpreters_are_found_in_order(tmp_path, monkeypatch):
    managed = tmp_path / "managed"
    on_path = tmp_path / "bin"
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setattr(server_env, "CHECKOUT", str(tmp_path / "checkout"))
    assert server_env.find_interpreter("", str(managed)) is None
    checkout = fake_python(tmp_path / "checkout" / ".venv" / "bin" / "python")
    assert server_env.find_interpreter("", str(managed)) == server_env.Interpreter(str(checkout), "checkout")
    lm2d_python = fake_python(tmp_path / "env" / "bin" / "python")
    command = fake_python(on_path / "lm2d")
    command.write_text(f"#!{lm2d_python}\nfrom lm2d.cli import main\n")
    assert server_env.find_interpreter("", str(managed)) == server_env.Interpreter(str(lm2d_python), "PATH")
    made = fake_python(Path(server_env.venv_python(str(managed))))
    assert server_env.find_interpreter("", str(managed)) == server_env.Interpreter(str(made), "managed")
    # A path set in the preferences wins, even a wrong one: the checklist then names it.
    assert server_env.find_interpreter("/no/python", str(managed)) == server_env.Interpreter("/no/python", "preferences")
    lines = server_env.check_lines(server_env.Interpreter("/no/python", "preferences"), None, "AUTO")
    assert [(line.label, line.ok) for line in lines] == [("Python interpreter", False)]
    assert "/no/python: not found" in lines[0].detail and "Install Server" in lines[0].fix


def test_a_python_without_lm2d_gets_red_lines_that_name_the_fix(addon, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)   # (this test's tree would make lm2d importable)
    server_session.use_settings(ServerSettings(BASE_PYTHON))
    assert bpy.ops.lm2d.check_environment() == {'CANCELLED'}   # something is missing
    lines = {line.label: line for line in server_setup.Setup.lines}
    assert lines["Python interpreter"].ok and BASE_PYTHON in lines["Python interpreter"].detail
    assert not lines["lm2d"].ok and "ModuleNotFoundError" in lines["lm2d"].detail
    assert "press Install Server" in lines["lm2d"].fix


def test_install_needs_online_access_or_a_wheel_folder(addon):
    assert not bpy.app.online_access    # the bpy module runs offline, as Blender does until allowed
    plan = server_env.InstallPlan(env_dir=server_setup.managed_env_dir(), package=str(REPO))
    with pytest.raises(ValueError, match="Blender is set to work offline, .*: allow online access in "
                                         "Preferences › System › Network .* or set Install From Folder"):
        server_setup.start_install(addon, plan)
    assert not os.path.exists(plan.env_dir) or not os.listdir(plan.env_dir)


def test_cancelling_an_install_stops_it_at_once():
    wait = "import time; print('go', flush=True); time.sleep(60)"
    job = server_env.CommandJob([server_env.Step("Waiting", [sys.executable, "-c", wait], ""),
                                 server_env.Step("Never", [sys.executable, "-c", "print('no')"], "")])
    while job.poll() == server_env.RUNNING and "go" not in job.log:
        time.sleep(0.01)
    job.cancel()
    assert job.state == server_env.CANCELLED and job.message == "cancelled during: Waiting"
    assert "no" not in job.log


def test_a_failing_step_names_the_step_its_output_and_the_fix():
    job = server_env.CommandJob([server_env.Step("Installing torch (CPU)", [sys.executable, "-c",
                                 "import sys; print('ERROR: No matching distribution found for torch'); sys.exit(1)"],
                                 "check the internet connection")])
    assert job.wait(60) == server_env.FAILED
    assert job.message == ("Installing torch (CPU) failed (exit code 1): ERROR: No matching distribution found for "
                           "torch — fix: check the internet connection")


def test_install_from_a_wheel_folder_then_check_is_green_and_a_dance_is_generated(addon, tmp_path, monkeypatch,
                                                                                  shared_data):
    wheels = tmp_path / "wheels"
    wheel = load_build_tool().build_server_wheel(wheels)
    plan = server_env.InstallPlan(env_dir=server_setup.managed_env_dir(), package=str(wheel),
                                  find_links=str(wheels), reuse_from=sys.executable)
    assert not plan.needs_network
    monkeypatch.delenv("PYTHONPATH", raising=False)   # the server must run the installed lm2d, not this tree's
    job = server_setup.start_install(addon, plan)
    assert job.wait(600) == server_env.FINISHED, "\n".join(job.log)
    assert [line for line in job.log if line.startswith("== ")] == [
        "== Creating the environment", "== Reusing installed packages", "== Installing torch (CPU)",
        "== Installing lm2d and its dependencies", "== Installing this lm2d in the environment"]

    # Nothing set in the preferences: the managed environment is found and checked.
    python = server_env.venv_python(plan.env_dir)
    assert server_setup.detected_interpreter(addon) == server_env.Interpreter(python, "managed")
    server_session.use_settings(ServerSettings(python))
    from lm2d_blender.model_kind import guidance_is_baked
    assert guidance_is_baked(addon)    # the shipped default, found in the environment before any check
    assert bpy.ops.lm2d.check_environment() == {'FINISHED'}
    lines = {line.label: line for line in server_setup.Setup.lines}
    assert list(lines) == ["Python interpreter", "lm2d", "torch", "CUDA", "Default model"]
    assert all(line.ok for line in lines.values()), lines
    assert f"in {plan.env_dir}" in lines["lm2d"].detail               # its own lm2d, from the wheel
    assert lines["Default model"].detail.startswith("distilled")
    assert addon.window_manager.lm2d.default_model_kind == "consistency"   # the guidance sliders grey out

    settings = addon.scene.lm2d
    settings.audio_source, settings.audio_path = 'FILE', str(shared_data / "music" / "sorohanro_-_solo-trumpet-06.ogg")
    monkeypatch.setattr("lm2d_blender.jobs.results_dir", lambda: str(tmp_path))
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))
    server_session.use_settings(ServerSettings(python, None, "cpu"))
    assert bpy.ops.lm2d.generate() == {'FINISHED'}
    assert addon.active_object.animation_data.nla_tracks


class RecordingLayout:
    """Stands in for bpy.types.UILayout (which only exists while Blender draws a window): records
    what a draw function shows, in order, each item with the layout it went into (for `enabled`)."""

    def __init__(self, shown: list):
        self.shown = shown
        self.enabled = True

    def box(self, **options):
        return RecordingLayout(self.shown)

    row = column = box

    def prop(self, owner, name, **options):
        getattr(owner, name)   # the property exists
        self.shown.append(("prop", name, self))

    def label(self, text="", icon='NONE'):
        self.shown.append(("label", text, icon))

    def operator(self, idname, text="", icon='NONE'):
        assert panel_registered(idname), idname
        self.shown.append(("operator", idname))

    def progress(self, factor=0.0, type='BAR', text=""):
        self.shown.append(("progress", round(factor, 2), text))


def panel_registered(idname: str) -> bool:
    from lm2d_blender.panel import operator_registered

    return operator_registered(idname)


def test_preferences_show_the_interpreter_the_checklist_and_the_offline_hint(addon, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.delenv("PYTHONPATH", raising=False)
    server_session.use_settings(ServerSettings(BASE_PYTHON))
    bpy.ops.lm2d.check_environment()
    shown: list = []
    preferences = SimpleNamespace(layout=RecordingLayout(shown), python_path="", checkpoint_path="", device='AUTO',
                                  torch_variant='CPU', wheel_folder="", reuse_python="", smpl_body_path="")
    monkeypatch.setattr(server_setup, "detected_interpreter", lambda context: server_env.Interpreter(BASE_PYTHON, "PATH"))
    server_setup.draw_preferences(preferences, addon)
    labels = [item for item in shown if item[0] == "label"]
    assert ("label", f"Uses {BASE_PYTHON} (PATH)", 'CHECKMARK') in labels
    assert any(text.startswith("lm2d: not importable") and icon == 'ERROR' for _, text, icon in labels)
    assert any(text.startswith("    Fix: press Install Server") for _, text, _ in labels)
    assert any(text.startswith("Blender is offline: allow Online Access") for _, text, _ in labels)
    assert ("operator", "lm2d.install_server") in shown and ("operator", "lm2d.check_environment") in shown


def test_a_server_python_without_lm2d_is_reported_with_the_fix():
    from lm2d_blender.client import ServerClient, ServerError

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    client = ServerClient(BASE_PYTHON, env=env)
    try:
        with pytest.raises(ServerError, match=f"{BASE_PYTHON} has no lm2d: press Install Server in the add-on "
                                              "preferences"):
            client.request("hello", timeout=60)
    finally:
        client.stop()
    with pytest.raises(ServerError, match="no Python for the dance server was found: press Install Server"):
        ServerClient("").start()
