"""Replay issue 17's list of hostile inputs against a checkout and count what went wrong.

Every case runs the real thing in a child process (the `lm2d` CLI, the server, the add-on's result
reader), each under a 6 GiB address-space limit so a runaway allocation fails instead of taking
the machine. Counted per case and in total: tracebacks on stderr, exit codes other than 0/2,
stderr longer than one line, input or pre-existing output files changed, temp files left behind,
server errors with code "internal", and peak RSS of the child.

    python bench/stress_inputs.py [--tree DIR] [--write]
      --tree   the checkout to test (default: this one); e.g. /work/main for the "before" numbers
      --write  put the summary into bench/RESULTS.md (section "stress inputs")
Not part of the test suite: it takes minutes (tests/test_hardening*.py are the fast regressions).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
MEMORY_CAP = 6 * 2**30
PY = sys.executable


@dataclass
class Outcome:
    name: str
    rc: int
    stderr_lines: int
    traceback: bool
    changed: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    internal: bool = False
    legitimate: bool = False      # a good input: exit 0 expected (every other case must be refused)

    @property
    def bad(self) -> list[str]:
        problems = []
        if self.traceback:
            problems.append("traceback")
        if self.rc not in (0, 2):
            problems.append(f"exit {self.rc}")
        if self.rc == 2 and self.stderr_lines != 1:
            problems.append(f"{self.stderr_lines} error lines")
        if self.changed:
            problems.append("changed " + ", ".join(self.changed))
        if self.internal:
            problems.append("internal error")
        if self.rc == 0 and not self.legitimate:
            problems.append("bad input accepted")
        return problems


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def limits(fsize: int | None):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        if fsize is not None:
            import signal
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return apply


class Runner:
    def __init__(self, tree: Path, work: Path):
        self.tree, self.work, self.outcomes = tree, work, []
        self.env = dict(os.environ, PYTHONPATH=f"{tree / 'server'}{os.pathsep}{tree}", OMP_NUM_THREADS="1",
                        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", LM2D_CACHE=str(work / "cache"))

    def run(self, name: str, argv: list, keep: list[Path] = (), fsize: int | None = None, stdin: str | None = None,
            legitimate: bool = False) -> subprocess.CompletedProcess:
        before = {path: digest(path) for path in keep}
        process = subprocess.Popen([str(a) for a in argv], env=self.env, cwd=self.work, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=limits(fsize))
        try:
            out, err = process.communicate(stdin, timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # the largest child so far
        changed = [path.name for path, value in before.items() if digest(path) != value]
        internal = '"internal"' in out
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if not line.startswith("warning: ")]   # warnings may come first
        outcome = Outcome(name, process.returncode, len(errors), "Traceback" in err, changed, peak, internal,
                          legitimate)
        self.outcomes.append(outcome)
        print(f"{'FAIL' if outcome.bad else 'ok  '} {name}: rc {process.returncode} "
              f"{'; '.join(outcome.bad)} | {lines[-1][:110] if lines else ''}", flush=True)
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def server_session(self, name: str, requests: list[tuple[str, object]], fsize: int | None = None,
                       keep: list[Path] = ()) -> list[dict]:
        """Send each request line and wait (up to 120 s) for its final event (None: for any event);
        returns those events. A missing answer is recorded as a problem."""
        import queue
        import threading

        before = {path: digest(path) for path in keep}
        process = subprocess.Popen([PY, "-m", "lm2d.server"], env=self.env, cwd=self.work, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=limits(fsize))
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
        answers, missing = [], []
        for text, request_id in requests:
            process.stdin.write(text + "\n")
            process.stdin.flush()
            while True:
                try:
                    event = json.loads(lines.get(timeout=120))
                except queue.Empty:
                    missing.append(text[:40])
                    break
                if event["type"] in ("progress", "warning"):
                    continue
                if request_id is None or event.get("id") == request_id:
                    answers.append(event)
                    break
        _out, err = process.communicate('{"type": "shutdown"}\n', timeout=120)
        changed = [path.name for path, value in before.items() if digest(path) != value]
        internal = any(event.get("code") == "internal" for event in answers)
        outcome = Outcome(name, 0 if not missing else 1, 0, "Traceback" in err, changed,
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, internal, legitimate=True)
        self.outcomes.append(outcome)
        print(f"{'FAIL' if outcome.bad else 'ok  '} {name}: {'; '.join(outcome.bad)} unanswered: {missing}", flush=True)
        return answers

    def lm2d(self, name: str, *args, **options):
        return self.run(name, [PY, "-m", "lm2d", *args], **options)

    def addon_read(self, name: str, path: Path):
        code = ("import sys\nfrom lm2d_blender.result_file import read_result, ResultFileError\n"
                "try:\n    read_result(sys.argv[1])\nexcept ResultFileError as err:\n"
                "    print(f'error: {err}', file=sys.stderr); sys.exit(2)\n")
        return self.run(f"add-on reader: {name}", [PY, "-c", code, path])


# --- inputs -------------------------------------------------------------------------------------------

def make_song(path: Path, seconds: float = 20.0) -> Path:
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    clicks = (np.sin(2 * np.pi * 440 * t) * (np.mod(t, 0.5) < 0.05) * 0.5).astype(np.float32)
    sf.write(path, clicks + 0.05 * np.sin(2 * np.pi * 110 * t).astype(np.float32), rate)
    return path


def make_checkpoint(folder: Path, shared: Path) -> Path:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_server import write_tiny_checkpoint

    return write_tiny_checkpoint(folder, shared)


def good_result(path: Path) -> dict:
    sys.path.insert(0, str(HERE.parent / "server"))
    from lm2d.motion.io import save_result_npz
    from lm2d.motion.representation import Motion

    save_result_npz(Motion(np.zeros((20, 3)), np.tile(np.eye(3), (20, 24, 1, 1)), 30.0), path, [(0.0, 0.3, "la")])
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def lying_header(path: Path, frames: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (frames, 3)})
        archive.writestr("root_translation.npy", header.getvalue() + bytes(24))
    return path


def zip_bomb(path: Path, unpacked: int = (1 << 30) + (64 << 20)) -> Path:
    """A result whose root_translation unpacks to just over the 1 GiB limit (about 1 MB on disk)."""
    frames = unpacked // 24
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("root_translation.npy", "w", force_zip64=True) as member:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (frames, 3)})
        member.write(header.getvalue())
        chunk = bytes(1 << 24)
        for _ in range(frames * 24 // len(chunk)):
            member.write(chunk)
        member.write(bytes(frames * 24 % len(chunk)))
    return path


def replay(runner: Runner, shared: Path) -> None:
    work = runner.work
    song = make_song(work / "ok20.wav")
    ckpt = make_checkpoint(work / "tiny", shared)
    lm2d = runner.lm2d

    # 1. memory
    for rate in (1e-6, 0):
        np.savez(work / f"a{rate}.npz", poses=np.zeros((50, 156)), trans=np.zeros((50, 3)), mocap_framerate=rate)
        lm2d(f"1 convert mocap_framerate={rate}", "convert", work / f"a{rate}.npz", "-o", work / "a.bvh")
    np.savez(work / "a.npz", poses=np.zeros((50, 156)), trans=np.zeros((50, 3)), mocap_framerate=60)
    for flag, value in (("--fps", "1e9"), ("--source-fps", "1e-9"), ("--fps", "inf")):
        lm2d(f"1 convert {flag} {value}", "convert", work / "a.npz", "-o", work / "a.bvh", flag, value)

    # 2. outputs that destroy inputs or half-write
    lm2d("2 features -o SONG", "features", song, "-o", song, keep=[song])
    lm2d("2 features --beats-json SONG", "features", song, "--beats-json", song, keep=[song])
    (work / "X.npz").write_text("[00:01.00]hello\n")
    lm2d("2 generate --lyrics X -o X", "generate", song, "--checkpoint", ckpt, "--lyrics", work / "X.npz", "-o",
         work / "X.npz", keep=[work / "X.npz"])
    old = {suffix: work / f"old{suffix}" for suffix in (".npy", ".bvh", ".npz")}
    for path in old.values():
        path.write_text("a good file the user made")
    lm2d("2/7 features on a full disk", "features", song, "-o", old[".npy"], fsize=2000, keep=[old[".npy"]])
    lm2d("2/7 convert on a full disk", "convert", shared / "motion/smpl_sample_127f.pkl", "-o", old[".bvh"],
         fsize=20000, keep=[old[".bvh"]])
    lm2d("2/7 generate on a full disk", "generate", song, "--checkpoint", ckpt, "-o", old[".npz"], fsize=60000,
         keep=[old[".npz"]])
    if subprocess.run([PY, "-c", "import bpy"], capture_output=True).returncode == 0:
        take = work / "take.npz"
        good_result(take)
        (work / "old.fbx").write_text("a good file the user made")
        lm2d("2/7 export on a full disk", "export", take, "-o", work / "old.fbx", fsize=20000, keep=[work / "old.fbx"])

    # 3. malformed results
    lm2d("3 generate --end 0.01", "generate", song, "--checkpoint", ckpt, "-o", work / "t.npz", "--end", "0.01")
    lm2d("3 generate --start 19.99", "generate", song, "--checkpoint", ckpt, "-o", work / "t.npz", "--start", "19.99")
    for value in ("nan", "inf"):
        lm2d(f"3 generate --music-guidance {value}", "generate", song, "--checkpoint", ckpt, "-o", work / "t.npz",
             "--music-guidance", value)
    from safetensors.torch import load_file, save_file
    for prefix in ("model.", "normalizer."):
        broken = work / f"nan-{prefix}"
        subprocess.run(["cp", "-r", ckpt, broken], check=True)
        tensors = load_file(str(broken / "model.safetensors"))
        key = next(name for name in sorted(tensors) if name.startswith(prefix))
        tensors[key] = tensors[key].clone().fill_(float("nan"))
        save_file(tensors, str(broken / "model.safetensors"))
        lm2d(f"3 checkpoint with NaN {prefix}", "generate", song, "--checkpoint", broken, "-o", work / "t.npz")

    # 4-5. lyrics
    lyrics = {
        "nan.json": '{"segments": [{"start": "nan", "end": 2, "text": "a"}]}',
        "negative.json": '{"segments": [{"start": -1, "end": 2, "text": "a"}]}',
        "bpm_nan.txt": "#TITLE:x\n#BPM:nan\n: 0 4 0 la\nE\n", "gap_nan.txt": "#TITLE:x\n#BPM:120\n#GAP:nan\n: 0 4 0 la\nE\n",
        "gap_huge.txt": "#TITLE:x\n#BPM:120\n#GAP:1e400\n: 0 4 0 la\nE\n", "bpm_tiny.txt": "#TITLE:x\n#BPM:1e-320\n: 0 4 0 la\nE\n",
        "minutes.lrc": "[" + "9" * 400 + ":00.00]la\n", "word.lrc": "[00:01.00]<" + "9" * 400 + ":00.00>la\n",
        "length.lrc": "[length:" + "9" * 400 + ":00]\n[00:01.00]la\n", "offset.lrc": "[offset:" + "9" * 400 + "]\n[00:01.00]la\n",
        "digits.lrc": "[" + "9" * 5000 + ":00.00]la\n", "digits.txt": "#TITLE:x\n#BPM:120\n: " + "9" * 5000 + " 4 0 la\nE\n",
        "field.csv": "start,end,text\n0,1," + "a" * 140_000 + "\n", "deep.json": "[" * 100_000 + "]" * 100_000,
    }
    for name, text in lyrics.items():
        (work / name).write_text(text)
        for fmt in ("json", "lrc"):   # a huge [length:] tag is only a fallback: ignoring it is right
            lm2d(f"4/5 lyrics {name} --format {fmt}", "lyrics", work / name, "--format", fmt,
                 legitimate=name == "length.lrc")
    lm2d("4 generate with NaN lyric times", "generate", song, "--checkpoint", ckpt, "--lyrics", work / "nan.json",
         "-o", work / "t.npz")

    # 6. CLI numbers
    for flag, value in (("--seed", "9" * 23), ("--end", "1e308"), ("--start", "nan"), ("--seed", "-1")):
        lm2d(f"6 generate {flag} {value[:12]}", "generate", song, "--checkpoint", ckpt, "-o", work / "t.npz", flag, value)

    # 7. an unwritable place (read-only /proc)
    lm2d("7 generate -o /proc/take.npz", "generate", song, "--checkpoint", ckpt, "-o", "/proc/take.npz")

    # 8. model.json
    meta = json.loads((ckpt / "model.json").read_text())
    changes = {"n_heads 0": ("config", "n_heads", 0), "dropout 5": ("config", "dropout", 5),
               "training abc": (None, "training", "abc"), "ff_dim 1e9": ("config", "ff_dim", 10**9),
               "n_frames 1e12": ("config", "n_frames", 10**12), "lyrics no": ("config", "lyrics", "no")}
    for name, (section, key, value) in changes.items():
        copy = work / f"ckpt-{name.replace(' ', '-')}"
        subprocess.run(["cp", "-r", ckpt, copy], check=True)
        changed = json.loads(json.dumps(meta))
        (changed[section] if section else changed)[key] = value
        (copy / "model.json").write_text(json.dumps(changed))
        lm2d(f"8 model.json {name}", "generate", song, "--checkpoint", copy, "-o", work / "t.npz")
    deep = work / "ckpt-deep"
    subprocess.run(["cp", "-r", ckpt, deep], check=True)
    (deep / "model.json").write_text(json.dumps(meta).replace('"training": {', '"deep": ' + "[" * 100_000 + "]" * 100_000
                                                              + ', "training": {', 1))
    lm2d("8 model.json nested 100000 deep", "generate", song, "--checkpoint", deep, "-o", work / "t.npz")

    # 9. the add-on's result reader
    arrays = good_result(work / "good.npz")
    (work / "empty.npz").write_bytes(b"")
    runner.addon_read("0-byte file", work / "empty.npz")
    runner.addon_read("header claiming 10^12 frames", lying_header(work / "lying.npz", 10**12))
    runner.addon_read("zip bomb (1.06 GiB unpacked)", zip_bomb(work / "bomb.npz"))
    bad = {"fps='thirty'": {"fps": np.array("thirty")}, "complex fps": {"fps": np.array(30 + 1j)},
           "fps=inf": {"fps": np.array(np.inf)}, "fps=1e-6": {"fps": np.array(1e-6)}, "fps=1e6": {"fps": np.array(1e6)},
           "scalar lyric arrays": {"lyric_lines": np.array("a"), "lyric_starts": np.array(0.0), "lyric_ends": np.array(1.0)},
           "NaN lyric times": {"lyric_starts": np.array([np.nan])},
           "string quaternions": {"local_quaternions": arrays["local_quaternions"].astype(str)},
           "NaN quaternions": {"local_quaternions": arrays["local_quaternions"] * np.nan},
           "NaN roots": {"root_translation": arrays["root_translation"] * np.nan},
           "NaN rest positions": {"rest_positions": arrays["rest_positions"] * np.nan},
           "all-zero quaternions": {"local_quaternions": arrays["local_quaternions"] * 0}}
    for name, change in bad.items():
        path = work / f"bad-{len(runner.outcomes)}.npz"
        np.savez(path, **dict(arrays, **change))
        runner.addon_read(name, path)
        lm2d(f"9 convert (lm2d's reader): {name}", "convert", path, "-o", work / "r.bvh")

    # 10. the protocol (one server session per list of requests; each final event is waited for)
    events = runner.server_session("10 protocol session", [
        ('{"type": "cancel", "id": "c1", "target": "g1"}', "c1"),
        (json.dumps({"type": "lyrics", "id": "g1", "path": str(work / "nan.json")}), "g1"),
        ('{"type": "generate", "id": "n", "audio": "a.ogg", "output": "o.npz", "music_guidance": NaN}', "n"),
        ('{"type": "cancel", "id": "c2"}', "c2"),
        ('{"type": "hello", "id": ' + "9" * 5000 + "}", None)])
    finals = {event.get("id"): event for event in events}
    checks = {"cancel of a not-running id answered": "c1" in finals,
              "that id is not cancelled later": finals.get("g1", {}).get("code") == "bad_input",
              "NaN guidance: clear message": "finite" in finals.get("n", {}).get("message", ""),
              "cancel with an id gets a final event": "c2" in finals,
              "5000-digit id is bad_request": events[-1:] and events[-1].get("code") == "bad_request"}
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} 10 {name}")
        runner.outcomes.append(Outcome(f"10 {name}", 0 if ok else 1, 0, False, legitimate=True))
    events = runner.server_session("7 server generate on a full disk", [
        (json.dumps({"type": "load", "id": 1, "checkpoint": str(ckpt)}), 1),
        (json.dumps({"type": "generate", "id": 2, "audio": str(song), "output": str(old[".npz"])}), 2)],
        fsize=60000, keep=[old[".npz"]])
    print(f"     server full disk: {events[-1:]}")

    # 11. file modes
    os.umask(0o022)
    lm2d("11 convert (mode)", "convert", shared / "motion/smpl_sample_127f.pkl", "-o", work / "mode.bvh",
         legitimate=True)
    mode = (work / "mode.bvh").stat().st_mode & 0o777
    print(f"{'ok  ' if mode == 0o644 else 'FAIL'} 11 new output mode {oct(mode)}")
    runner.outcomes.append(Outcome("11 new output mode 0644", 0 if mode == 0o644 else 1, 0, False, legitimate=True))

    # 12. minor
    os.symlink(work / "loop.pkl", work / "loop.pkl")
    lm2d("12 symlink loop", "convert", work / "loop.pkl", "-o", work / "o.bvh")
    (work / "dir.pkl").mkdir()
    lm2d("12 directory named dir.pkl", "convert", work / "dir.pkl", "-o", work / "o.bvh")

    leftovers = [path.name for path in work.iterdir() if ".tmp" in path.name or ".partial" in path.name
                 or path.name.startswith(".lm2d-partial-")]
    runner.outcomes.append(Outcome(f"temp files left: {leftovers}", 1 if leftovers else 0, 0, False, legitimate=True))


def summary(runner: Runner, tree: Path) -> str:
    outcomes = runner.outcomes
    failed = [o for o in outcomes if o.bad]
    rows = [("cases", len(outcomes)), ("tracebacks", sum(o.traceback for o in outcomes)),
            ("exit codes other than 0/2", sum(o.rc not in (0, 2) for o in outcomes)),
            ("exit 2 with other than one error line (warnings aside)", sum(o.rc == 2 and o.stderr_lines != 1 for o in outcomes)),
            ("inputs or existing outputs changed", sum(bool(o.changed) for o in outcomes)),
            ("server 'internal' errors", sum(o.internal for o in outcomes)),
            ("bad inputs accepted (exit 0)", sum(o.rc == 0 and not o.legitimate for o in outcomes)),
            ("peak RSS of any child", f"{max(o.peak_rss_mb for o in outcomes):.0f} MB"),
            ("cases with any problem", len(failed))]
    commit = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %cs"], capture_output=True,
                            text=True).stdout.strip()
    lines = [f"Checkout {tree.name} at {commit}; each child capped at {MEMORY_CAP / 2**30:g} GiB of address space.",
             "", "| measurement | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if failed:
        lines += ["", "Cases with problems: " + "; ".join(f"{o.name} ({', '.join(o.bad)})" for o in failed)]
    return "\n".join(lines)


def write_results(text: str) -> None:
    results = HERE / "RESULTS.md"
    body = results.read_text()
    head = "## stress inputs (issue 17; bench/stress_inputs.py)"
    section = f"{head}\n\n{text}\n"
    if head in body:
        start = body.index(head)
        end = body.find("\n## ", start + 1)
        body = body[:start] + section + ("" if end < 0 else body[end + 1:])
    else:
        body = body.rstrip("\n") + "\n\n" + section
    results.write_text(body)


def main() -> int:
    global MEMORY_CAP
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=HERE.parent)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--memory-cap", type=float, default=MEMORY_CAP / 2**30, metavar="GIB",
                        help="address-space limit of each child (default 6)")
    args = parser.parse_args()
    MEMORY_CAP = int(args.memory_cap * 2**30)
    with tempfile.TemporaryDirectory(prefix="lm2d-stress-") as work:
        runner = Runner(args.tree.resolve(), Path(work))
        replay(runner, args.shared)
        text = summary(runner, args.tree.resolve())
    print(text)
    if args.write:
        write_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
