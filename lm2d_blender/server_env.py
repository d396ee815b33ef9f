"""The dance server's Python environment: found, checked or installed (standard library only, no
bpy: the preferences and operators call in here).

- find_interpreter(): the interpreter the server runs with. The one named in the preferences, else
  the first that exists of: the managed environment Install Server made, the Python behind an
  `lm2d` command on PATH, the .venv of the checkout the add-on runs from.
- check_command() / check_lines(): a probe run in that interpreter (it imports torch, which
  Blender never does) and the checklist it turns into, each failed line naming its fix.
- install_steps(): the command lines that create the managed environment and pip-install lm2d
  with CPU or CUDA torch. CommandJob runs steps like these (and the probe) in subprocesses,
  streaming their output, cancellable, never blocking the caller, who polls it from a timer.
"""
from __future__ import annotations

import glob
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

RUNNING, FINISHED, FAILED, CANCELLED = "RUNNING", "FINISHED", "FAILED", "CANCELLED"
PROBE_PREFIX = "LM2D-PROBE "
LOG_LINES = 400                       # output lines a job keeps (the preferences show the last few)
TORCH_INDEX = {"CPU": "https://download.pytorch.org/whl/cpu",
               "CUDA": "https://download.pytorch.org/whl/cu126"}
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the repository, when run from one

# Runs in the candidate interpreter: which lm2d, torch, device and default model it has.
PROBE = r"""
import json, os, sys
out = {"python": sys.executable, "python_version": sys.version.split()[0]}
try:
    import lm2d
    out["lm2d"] = lm2d.__version__
    out["lm2d_path"] = os.path.dirname(lm2d.__file__)
except Exception as err:
    out["lm2d_error"] = f"{type(err).__name__}: {err}"
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = bool(torch.cuda.is_available())
    out["cuda_device"] = torch.cuda.get_device_name(0) if out["cuda"] else None
except Exception as err:
    out["torch_error"] = f"{type(err).__name__}: {err}"
if "lm2d" in out:
    try:
        folder = os.path.join(out["lm2d_path"], "checkpoints", "default")   # lm2d.model.checkpoint's default
        with open(os.path.join(folder, "model.json"), encoding="utf-8") as handle:
            out["default_model_kind"] = json.load(handle)["kind"]
        out["default_model"] = str(folder)
    except Exception as err:
        out["default_model_error"] = f"{type(err).__name__}: {err}"
print("LM2D-PROBE " + json.dumps(out), flush=True)
"""

# Runs in the new environment's Python with another interpreter as argv[1]: lets the new
# environment import that one's packages (a .pth file listing its site-packages folders).
REUSE_PACKAGES = r"""
import json, os, site, subprocess, sys
other = subprocess.run([sys.argv[1], "-c", "import json, site; print(json.dumps(site.getsitepackages()))"],
                       capture_output=True, text=True, check=True)
folders = json.loads(other.stdout)
target = os.path.join(site.getsitepackages()[0], "lm2d-reused-packages.pth")
with open(target, "w", encoding="utf-8") as handle:
    handle.write("\n".join(folders) + "\n")
print(f"reusing the packages of {sys.argv[1]}: " + ", ".join(folders))
"""


def venv_python(env_dir: str) -> str:
    return os.path.join(env_dir, "Scripts", "python.exe") if os.name == "nt" else os.path.join(env_dir, "bin", "python")


def _runnable(path: str) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def python_of_command(command: str) -> str | None:
    """The interpreter of a console script such as `lm2d` (its #! line), or the python beside it."""
    try:
        with open(command, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    if first.startswith("#!") and "python" in first:
        return first[2:].strip().split()[0]
    beside = os.path.join(os.path.dirname(command), "python.exe" if os.name == "nt" else "python")
    return beside if _runnable(beside) else None


@dataclass(frozen=True)
class Interpreter:
    python: str
    source: str   # preferences | managed | PATH | checkout


def candidates(preferred: str, managed_env: str) -> list[Interpreter]:
    """Where a server Python may be, in the order they are tried."""
    found = [Interpreter(preferred, "preferences")] if preferred else []
    found.append(Interpreter(venv_python(managed_env), "managed"))
    command = shutil.which("lm2d")
    if command and python_of_command(command):
        found.append(Interpreter(python_of_command(command), "PATH"))
    found.append(Interpreter(venv_python(os.path.join(CHECKOUT, ".venv")), "checkout"))
    return found


def find_interpreter(preferred: str, managed_env: str) -> Interpreter | None:
    """The preferences' interpreter when set (even if missing: the error then names it), else the
    first candidate that exists; None when there is none."""
    if preferred:
        return Interpreter(preferred, "preferences")
    return next((each for each in candidates("", managed_env) if _runnable(each.python)), None)


def default_model_folder(python: str) -> str | None:
    """The default model of the lm2d an interpreter would import, found on disk without running
    it: in its environment's site-packages, or in the checkout whose .venv it is (an editable
    install). None when not found there (the probe still finds it)."""
    root = os.path.dirname(os.path.dirname(python))
    patterns = [os.path.join(root, "lib", "python3*", "site-packages"), os.path.join(root, "Lib", "site-packages")]
    places = [folder for pattern in patterns for folder in sorted(glob.glob(pattern))]
    if os.path.normpath(root) == os.path.normpath(os.path.join(CHECKOUT, ".venv")):
        places.insert(0, os.path.join(CHECKOUT, "server"))
    for place in places:
        folder = os.path.join(place, "lm2d", "checkpoints", "default")
        if os.path.isfile(os.path.join(folder, "model.json")):
            return folder
    return None


# --- the checklist ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckLine:
    label: str
    ok: bool
    detail: str
    fix: str = ""


def check_command(python: str) -> list[str]:
    return [python, "-c", PROBE]


def parse_probe(log: list[str]) -> dict | None:
    for line in reversed(log):
        if line.startswith(PROBE_PREFIX):
            return json.loads(line[len(PROBE_PREFIX):])
    return None


def check_lines(interpreter: Interpreter | None, probe: dict | None, device: str, failure: str = "") -> list[CheckLine]:
    """The checklist from a probe's answer (None: it did not run; failure says why)."""
    install = "press Install Server below"
    if interpreter is None:
        return [CheckLine("Python interpreter", False, "none found (no managed environment, no lm2d on PATH, "
                          "no checkout .venv)", f"{install}, or set Python Interpreter")]
    where = f"{interpreter.python} ({interpreter.source})"
    if not _runnable(interpreter.python):
        return [CheckLine("Python interpreter", False, f"{interpreter.python}: not found",
                          f"fix the Python Interpreter path, clear it to detect one, or {install}")]
    if probe is None:
        return [CheckLine("Python interpreter", False, f"{where} did not run: {failure}",
                          f"choose another Python Interpreter, or {install}")]
    lines = [CheckLine("Python interpreter", True, f"{where}, Python {probe['python_version']}")]
    if "lm2d" in probe:
        lines.append(CheckLine("lm2d", True, f"version {probe['lm2d']} in {probe['lm2d_path']}"))
    else:
        lines.append(CheckLine("lm2d", False, f"not importable: {probe.get('lm2d_error', '?')}",
                               f"{install} (a managed environment), or choose an environment with lm2d"))
    if "torch" in probe:
        device_name = f"CUDA ({probe['cuda_device']})" if probe.get("cuda") else "CPU"
        lines.append(CheckLine("torch", True, f"version {probe['torch']}, runs on {device_name}"))
    else:
        lines.append(CheckLine("torch", False, f"not importable: {probe.get('torch_error', '?')}", install))
    if probe.get("cuda"):
        lines.append(CheckLine("CUDA", True, f"available: {probe['cuda_device']}"))
    elif device == "CUDA":
        lines.append(CheckLine("CUDA", False, "not available to this torch, but Device is CUDA",
                               "set Device to Auto or CPU, or install the server with CUDA torch"))
    else:
        lines.append(CheckLine("CUDA", True, "not available: the server runs on the CPU"))
    if "default_model_kind" in probe:
        kind = "distilled" if probe["default_model_kind"] == "consistency" else probe["default_model_kind"]
        lines.append(CheckLine("Default model", True, f"{kind}, {probe['default_model']}"))
    elif "lm2d" in probe:
        lines.append(CheckLine("Default model", False, f"missing: {probe.get('default_model_error', '?')}",
                               f"reinstall lm2d ({install}), or set Checkpoint"))
    return lines


# --- installing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    label: str
    command: list[str]
    fix: str   # what the user does when this step fails


@dataclass(frozen=True)
class InstallPlan:
    env_dir: str                   # the managed environment to create
    package: str                   # lm2d to install: a wheel (shipped in the extension) or a checkout
    torch: str = "CPU"             # CPU | CUDA
    base_python: str = sys.executable   # creates the environment (Blender's own Python)
    find_links: str | None = None  # a folder of wheels: install from it alone, no network
    reuse_from: str | None = None  # an interpreter whose packages (torch...) the new environment may use

    @property
    def needs_network(self) -> bool:
        return self.find_links is None


def shipped_wheel(addon_dir: str) -> str | None:
    """The lm2d wheel the extension zip ships (tools/build_extension.py puts it in server_wheel/)."""
    folder = os.path.join(addon_dir, "server_wheel")
    wheels = sorted(name for name in os.listdir(folder) if name.endswith(".whl")) if os.path.isdir(folder) else []
    return os.path.join(folder, wheels[-1]) if wheels else None


def package_source(addon_dir: str) -> str | None:
    """What Install Server installs: the shipped wheel, else the checkout the add-on runs from."""
    wheel = shipped_wheel(addon_dir)
    if wheel:
        return wheel
    return CHECKOUT if os.path.isfile(os.path.join(CHECKOUT, "pyproject.toml")) else None


def install_steps(plan: InstallPlan) -> list[Step]:
    python = venv_python(plan.env_dir)
    source = ["--no-index", "--find-links", plan.find_links] if plan.find_links else []
    offline_fix = ("check the internet connection and proxy settings, then press Install Server again"
                   if plan.needs_network else f"put the missing wheels in {plan.find_links}")
    steps = [Step("Creating the environment",
                  [plan.base_python, "-m", "venv", "--clear",
                   *(["--without-pip"] if plan.reuse_from else []), plan.env_dir],
                  f"make {os.path.dirname(plan.env_dir)} writable (free disk space), then press Install Server again")]
    if plan.reuse_from:
        steps.append(Step("Reusing installed packages", [python, "-c", REUSE_PACKAGES, plan.reuse_from],
                          f"choose another Reuse Packages From interpreter (now {plan.reuse_from})"))
    torch_index = [] if plan.find_links else ["--index-url", TORCH_INDEX[plan.torch]]
    steps.append(Step(f"Installing torch ({plan.torch})",
                      [python, "-m", "pip", "install", "--disable-pip-version-check", *source, *torch_index, "torch"],
                      offline_fix))
    steps.append(Step("Installing lm2d and its dependencies",
                      [python, "-m", "pip", "install", "--disable-pip-version-check", *source, plan.package],
                      offline_fix))
    if plan.reuse_from:
        # pip counts an lm2d among the reused packages as installed: put this one in the environment.
        steps.append(Step("Installing this lm2d in the environment",
                          [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
                           "--force-reinstall", *source, plan.package], offline_fix))
    return steps


def install_environment() -> dict:
    """The environment install steps run in: the new environment's own packages, not the caller's."""
    env = dict(os.environ, PIP_PROGRESS_BAR="off")
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def offline_message() -> str:
    return ("Blender is set to work offline, and Install Server downloads torch and lm2d's other packages "
            "(about 1 GB for CPU torch, 3 GB for CUDA): allow online access in Preferences › System › Network "
            "(or start Blender with --online-mode) and press Install Server again; or set Install From Folder "
            "to a folder of wheels; or set Python Interpreter to an environment that has lm2d")


# --- running commands in the background ----------------------------------------------------------

@dataclass
class CommandJob:
    """Steps run one after another, each a subprocess whose output (stdout and stderr) streams
    into `log`. poll() never blocks: call it from a timer. The job ends FINISHED, FAILED (message
    names the step, its last output and the fix) or CANCELLED."""
    steps: list[Step]
    env: dict | None = None
    log: list[str] = field(default_factory=list)
    state: str = RUNNING
    message: str = ""
    _index: int = -1
    _process: subprocess.Popen | None = None
    _lines: queue.Queue = field(default_factory=queue.Queue)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._next_step()

    @property
    def step(self) -> Step | None:
        return self.steps[self._index] if 0 <= self._index < len(self.steps) else None

    @property
    def progress(self) -> float:
        return 1.0 if self.state == FINISHED else max(self._index, 0) / max(len(self.steps), 1)

    def _say(self, line: str) -> None:
        self.log.append(line)
        del self.log[:-LOG_LINES]

    def _next_step(self) -> None:
        self._index += 1
        if self._index >= len(self.steps):
            self.state = FINISHED
            return
        step = self.steps[self._index]
        self._say(f"== {step.label}")
        env = dict(os.environ if self.env is None else self.env, PYTHONUNBUFFERED="1")
        try:
            self._process = subprocess.Popen(step.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                                             errors="replace", bufsize=1, env=env)
        except OSError as err:
            self._fail(f"{step.label}: {step.command[0]}: {err.strerror or err}")
            return
        self._reader = threading.Thread(target=self._read, args=(self._process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)   # the end of this process's output

    def poll(self) -> str:
        if self.state != RUNNING:
            return self.state
        ended = False
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                ended = True
            else:
                self._say(line)
        if ended:
            code = self._process.wait()
            if code != 0:
                last = next((line for line in reversed(self.log) if line.strip() and not line.startswith("==")), "")
                self._fail(f"{self.step.label} failed (exit code {code}): {last.strip()} — fix: {self.step.fix}")
            else:
                self._next_step()
        return self.state

    def _fail(self, message: str) -> None:
        self.state, self.message = FAILED, message
        self._say(message)

    def cancel(self) -> None:
        if self.state != RUNNING:
            return
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self.state, self.message = CANCELLED, f"cancelled during: {self.step.label}"
        self._say(self.message)

    def wait(self, timeout: float, tick: Callable[[], None] | None = None) -> str:
        """Poll until the job ends (scripts and tests); cancels it after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.poll() == RUNNING:
            if time.monotonic() > deadline:
                self.cancel()
                break
            if tick is not None:
                tick()
            time.sleep(0.05)
        return self.state
