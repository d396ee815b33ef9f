"""The add-on preferences as drawn, mostly the server section: which Python the server runs with,
a checklist of what that environment has (Check), and Install Server, which makes a managed
environment when there is none.

The logic is in server_env.py; this module holds the one check and the one install of the session,
polls them from a bpy.app.timers function (Blender stays responsive; the preferences redraw as
lines arrive) and draws them. From scripts and in background mode, where timers never run, the
operators' execute() runs the job to its end instead."""
from __future__ import annotations

import os
import sys

import bpy

from . import server_env
from .model_kind import remember_loaded
from .prefs import addon_preferences, managed_env_dir
from .progress import redraw_panels
from .props import session_state
from .server_session import current_settings, preferred_python, shutdown

TIMER_STEP = 0.2       # seconds between polls of a running check or install
CHECK_TIMEOUT = 120.0  # importing torch the first time can take a while on a cold disk
INSTALL_TIMEOUT = 3 * 3600.0
LOG_SHOWN = 8          # install output lines the preferences show


class Setup:
    """The session's check and install jobs and what the last check found."""
    check: server_env.CommandJob | None = None
    interpreter: server_env.Interpreter | None = None
    lines: list[server_env.CheckLine] = []
    install: server_env.CommandJob | None = None


def running(job: server_env.CommandJob | None) -> bool:
    return job is not None and job.state == server_env.RUNNING


def detected_interpreter(context) -> server_env.Interpreter | None:
    preferences = addon_preferences(context)
    preferred = preferred_python(preferences) if preferences is not None else current_settings(context).python
    return server_env.find_interpreter(preferred, managed_env_dir())


def start_check(context) -> server_env.CommandJob | None:
    """Probe the interpreter the server would use; None when there is none (the checklist says so)."""
    Setup.interpreter = detected_interpreter(context)
    Setup.lines = []
    if Setup.interpreter is None or not os.path.isfile(Setup.interpreter.python):
        Setup.check = None
        finish_check(context)
        return None
    Setup.check = server_env.CommandJob([server_env.Step("Checking", server_env.check_command(
        Setup.interpreter.python), "")])
    return Setup.check


def finish_check(context) -> None:
    job = Setup.check
    probe = server_env.parse_probe(job.log) if job is not None else None
    failure = "" if job is None else (job.message or "\n".join(job.log[-3:]))
    device = current_settings(context).device.upper()
    Setup.lines = server_env.check_lines(Setup.interpreter, probe, device, failure)
    if probe is not None:
        remember_loaded(context, None, {"kind": probe.get("default_model_kind")})


def install_plan(context) -> server_env.InstallPlan:
    """What Install Server does with the preferences' choices. Raises ValueError naming the fix."""
    preferences = addon_preferences(context)
    addon_dir = os.path.dirname(os.path.abspath(__file__))
    package = server_env.package_source(addon_dir)
    if package is None:
        raise ValueError(f"{addon_dir}: this add-on ships no lm2d wheel (server_wheel/) and is not in a checkout; "
                         "reinstall the extension zip from `python build.py extension`")
    folder = bpy.path.abspath(preferences.wheel_folder) if preferences and preferences.wheel_folder else None
    reuse = bpy.path.abspath(preferences.reuse_python) if preferences and preferences.reuse_python else None
    if reuse and not os.path.isfile(reuse):
        raise ValueError(f"{reuse}: Reuse Packages From is not a Python interpreter; clear it or fix the path")
    return server_env.InstallPlan(env_dir=managed_env_dir(), package=package,
                                  torch=preferences.torch_variant if preferences else 'CPU',
                                  base_python=sys.executable, find_links=folder or None, reuse_from=reuse)


def start_install(context, plan: server_env.InstallPlan) -> server_env.CommandJob:
    """Raises ValueError when it cannot start (offline, one running already)."""
    if running(Setup.install):
        raise ValueError("the server is being installed already: wait for it or cancel it")
    if plan.needs_network and not bpy.app.online_access:
        raise ValueError(server_env.offline_message())
    shutdown()   # a server running from the environment being replaced
    Setup.install = server_env.CommandJob(server_env.install_steps(plan), env=server_env.install_environment())
    return Setup.install


def finish_install(context) -> None:
    """After an install: use the new environment and check it."""
    if Setup.install.state != server_env.FINISHED:
        return
    preferences = addon_preferences(context)
    if preferences is not None and preferences.python_path and not os.path.isfile(preferred_python(preferences)):
        preferences.python_path = ""   # a broken path would hide the new environment from detection
    if start_check(context) is not None:
        bpy.app.timers.register(_poll_check, first_interval=TIMER_STEP)


def _poll_check():
    if Setup.check is None or Setup.check.poll() != server_env.RUNNING:
        finish_check(bpy.context)
        redraw_panels(bpy.context)
        return None
    return TIMER_STEP


def _poll_install():
    if Setup.install is None:
        return None
    state = Setup.install.poll()
    redraw_panels(bpy.context)
    if state == server_env.RUNNING:
        return TIMER_STEP
    finish_install(bpy.context)
    return None


# --- operators -------------------------------------------------------------------------------------

class LM2D_OT_check_environment(bpy.types.Operator):
    bl_idname = "lm2d.check_environment"
    bl_label = "Check Server Environment"
    bl_description = ("Find the Python the dance server runs with and list what it has: lm2d, torch, the "
                      "device, CUDA and the default model, with the fix for anything missing")
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        return not running(Setup.check)

    def invoke(self, context, event):
        if start_check(context) is not None:
            bpy.app.timers.register(_poll_check, first_interval=TIMER_STEP)
        return {'FINISHED'}

    def execute(self, context):
        job = start_check(context)
        if job is not None:
            job.wait(CHECK_TIMEOUT)
            finish_check(context)
        failed = [line for line in Setup.lines if not line.ok]
        for line in failed:
            self.report({'WARNING'}, f"{line.label}: {line.detail} — {line.fix}")
        return {'FINISHED'} if not failed else {'CANCELLED'}


class LM2D_OT_install_server(bpy.types.Operator):
    bl_idname = "lm2d.install_server"
    bl_label = "Install Server"
    bl_description = ("Create a Python environment for the dance server in the add-on's user folder and "
                      "install lm2d with torch (CPU or CUDA, as chosen) into it; downloads about 1-3 GB "
                      "unless Install From Folder is set")
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        return not running(Setup.install)

    def _start(self, context):
        try:
            return start_install(context, install_plan(context))
        except ValueError as err:
            self.report({'ERROR'}, str(err))
            return None

    def invoke(self, context, event):
        if self._start(context) is None:
            return {'CANCELLED'}
        bpy.app.timers.register(_poll_install, first_interval=TIMER_STEP)
        return {'FINISHED'}

    def execute(self, context):
        job = self._start(context)
        if job is None:
            return {'CANCELLED'}
        job.wait(INSTALL_TIMEOUT)
        if job.state != server_env.FINISHED:
            self.report({'ERROR'}, job.message)
            return {'CANCELLED'}
        finish_install(context)
        if Setup.check is not None:
            Setup.check.wait(CHECK_TIMEOUT)
            finish_check(context)
        return {'FINISHED'}


class LM2D_OT_cancel_install(bpy.types.Operator):
    bl_idname = "lm2d.cancel_install"
    bl_label = "Cancel Install"
    bl_description = "Stop installing the dance server's environment (Install Server starts it afresh)"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        return running(Setup.install)

    def execute(self, context):
        Setup.install.cancel()
        return {'FINISHED'}


# --- drawing -----------------------------------------------------------------------------------------

def draw_preferences(preferences, context) -> None:
    layout = preferences.layout
    layout.use_property_split = True
    layout.prop(preferences, "smpl_body_path")   # what new dancers wear (body.py)
    box = layout.box()
    box.label(text="Dance Server", icon='SCRIPT')
    box.prop(preferences, "python_path")
    interpreter = detected_interpreter(context)
    box.label(text=f"Uses {interpreter.python} ({interpreter.source})" if interpreter
              else "No server Python found: install one below, or set Python Interpreter",
              icon='CHECKMARK' if interpreter else 'ERROR')
    box.prop(preferences, "checkpoint_path")
    box.prop(preferences, "device")
    checking = running(Setup.check)
    box.operator(LM2D_OT_check_environment.bl_idname, text="Checking…" if checking else "Check",
                 icon='CHECKMARK')
    for line in Setup.lines:
        row = box.row()
        row.label(text=f"{line.label}: {line.detail}", icon='CHECKMARK' if line.ok else 'ERROR')
        if line.fix:
            box.label(text=f"    Fix: {line.fix}")

    box = layout.box()
    box.label(text="Install Server", icon='PACKAGE')
    box.prop(preferences, "torch_variant", expand=True)
    box.prop(preferences, "wheel_folder")
    box.prop(preferences, "reuse_python")
    if not preferences.wheel_folder and not bpy.app.online_access:
        for text in ("Blender is offline: allow Online Access in Preferences › System › Network,",
                     "or set Install From Folder to a folder of wheels"):
            box.label(text=text, icon='INFO')
    job = Setup.install
    if running(job):
        box.progress(factor=job.progress, type='BAR', text=job.step.label if job.step else "")
        box.operator(LM2D_OT_cancel_install.bl_idname, icon='CANCEL')
    else:
        box.operator(LM2D_OT_install_server.bl_idname, icon='IMPORT')
    if job is not None:
        if job.state in (server_env.FAILED, server_env.CANCELLED):
            box.label(text=job.message, icon='ERROR')
        column = box.column(align=True)
        for line in job.log[-LOG_SHOWN:]:
            column.label(text=line)


CLASSES = (LM2D_OT_check_environment, LM2D_OT_install_server, LM2D_OT_cancel_install)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()


def unregister() -> None:
    for poll in (_poll_check, _poll_install):
        if bpy.app.timers.is_registered(poll):
            bpy.app.timers.unregister(poll)
    if Setup.install is not None:
        Setup.install.cancel()
    if Setup.check is not None:
        Setup.check.cancel()
    Setup.check = Setup.install = None
    Setup.lines = []
    _unregister_classes()
