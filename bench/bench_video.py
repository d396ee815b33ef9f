"""Video -> motion on renders of known motion (tools/render_motion_video.py): a 3 s choreographer
dance on the wooden figure, 480x640 at 30 FPS, seen by a front and a 3/4 camera, and 10 s of a
real dance (CMU 55_01 from ../shared/data/motion, imported by lm2d import-mocap), which neither the
choreographer nor the lifter's training renders contain.

Accuracy: PA-MPJPE (lm2d.evaluation.video_accuracy) against the rendered truth, with the shipped
landmark lifter (the default) and without it, foot skating of the result vs the truth's, frames in
vs out. Speed: the pose model's frames/s on those videos (model
load included), the fit's frames/s on a 1-minute landmark track (the 3 s track tiled), and a
3-minute video's time end to end extrapolated from these two rates. Writes PNGs of the input and
the fitted motion to bench/video_frames/ to look at.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RENDER = ROOT / "tools" / "render_motion_video.py"
PICTURES = ROOT / "bench" / "video_frames"
SECONDS = 3.0
REAL_DANCE = ROOT.parent / "shared" / "data" / "motion" / "cmu_55_01_dance.fbx"
REAL_SECONDS = 10.0
FIT_TRACK_FRAMES = 1800          # 1 minute at 30 FPS
LOOK_AT_FRAME = 45


def render(result: Path, output: Path, camera: str, *extra: str) -> None:
    subprocess.run([sys.executable, str(RENDER), str(result), "-o", str(output), "--camera", camera, *extra],
                   check=True, capture_output=True, timeout=900)


def tiled(landmarks, frames: int):
    from lm2d.video.landmarks import Landmarks

    # Back and forth, so the track has no jump where the copies meet.
    order = np.concatenate([np.arange(landmarks.n_frames), np.arange(landmarks.n_frames)[::-1]])
    index = np.resize(order, frames)
    return Landmarks(np.arange(frames) / landmarks.fps, landmarks.world[index], landmarks.image[index],
                     landmarks.visibility[index], landmarks.found[index], landmarks.fps, landmarks.width,
                     landmarks.height)


def scores(landmarks, truth) -> tuple[str, np.ndarray]:
    """PA-MPJPE with the lifter, without it, and of the raw landmarks, in cm; the joints with the lifter."""
    from lm2d.evaluation.video_accuracy import pa_mpjpe
    from lm2d.video.convert import landmarks_to_motion
    from lm2d.video.landmarks import raw_body_joints

    with_lifter = landmarks_to_motion(landmarks).motion.joints()
    without = landmarks_to_motion(landmarks, lifter=None).motion.joints()
    raw = raw_body_joints(landmarks)
    text = " vs ".join(f"{100 * pa_mpjpe(joints, truth[:len(joints)]):.1f}" for joints in (with_lifter, without, raw))
    return text + " cm", with_lifter


def run() -> list[tuple[str, str]]:
    from lm2d.corpus.choreographer import choreograph
    from lm2d.evaluation.video_accuracy import foot_skating, pa_mpjpe
    from lm2d.motion.io import save_result_npz
    from lm2d.motion.skeleton import rest_positions
    from lm2d.video.convert import landmarks_to_motion
    from lm2d.video.landmarks import estimate_landmarks

    rows = []
    PICTURES.mkdir(exist_ok=True)
    truth_motion = choreograph(np.arange(0.25, SECONDS, 0.5), SECONDS, energy=1.0, style="pop", seed=3)
    truth = truth_motion.joints()
    landmark_rates = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["LM2D_CACHE"] = str(scratch / "cache")     # the pose model really runs
        save_result_npz(truth_motion, scratch / "truth.npz")
        for camera in ("front", "three_quarter"):
            video = scratch / f"{camera}.mp4"
            render(scratch / "truth.npz", video, camera)
            started, cpu = time.perf_counter(), time.process_time()
            landmarks = estimate_landmarks(video)           # LM2D_CACHE is a fresh folder: the model runs
            landmark_rates.append((landmarks.n_frames / (time.perf_counter() - started),
                                   landmarks.n_frames / (time.process_time() - cpu)))
            result = landmarks_to_motion(landmarks)
            joints = result.motion.joints()
            save_result_npz(result.motion, scratch / f"{camera}_fit.npz")
            rows += [(f"{camera}: PA-MPJPE, fit with lifter vs without vs raw MediaPipe landmarks (target <= 6 cm)",
                      scores(landmarks, truth)[0]),
                     (f"{camera}: foot skating, result vs truth (target <= truth + 1 cm/s)",
                      f"{100 * foot_skating(joints):.1f} vs {100 * foot_skating(truth):.1f} cm/s"),
                     (f"{camera}: frames in -> out (30 FPS); frames with nobody seen",
                      f"{landmarks.n_frames} -> {result.motion.n_frames} (truth {len(truth)}); "
                      f"{int((~landmarks.found).sum())}"),
                     (f"{camera}: pose model on 480x640 (model load included), wall / CPU time",
                      "%.1f / %.1f frames/s" % landmark_rates[-1])]
            render(scratch / "truth.npz", PICTURES / f"{camera}_input.png", camera, "--still", str(LOOK_AT_FRAME))
            # The fitted world is the camera's own frame (x right, y away): seen from the front camera
            # it should look like the input.
            render(scratch / f"{camera}_fit.npz", PICTURES / f"{camera}_fitted.png", "front", "--still",
                   str(LOOK_AT_FRAME))

        # A second dance (3.6 s, seed 0) with deep side leans: how much the score depends on the dance.
        other = choreograph(np.arange(0.25, 3.6, 0.5), 3.6, energy=1.0, style="pop", seed=0)
        save_result_npz(other, scratch / "other.npz")
        render(scratch / "other.npz", scratch / "other.mp4", "front")
        other_landmarks = estimate_landmarks(scratch / "other.mp4")
        truth_other = other.joints()
        rows.append(("second dance (3.6 s, seed 0, leans), front: PA-MPJPE with lifter vs without vs raw landmarks",
                     scores(other_landmarks, truth_other)[0]))
        rows.append(("  the same dance, a figure standing still",
                     f"{100 * pa_mpjpe(np.broadcast_to(rest_positions(), truth_other.shape), truth_other):.1f} cm"))

        if REAL_DANCE.is_file():
            from lm2d.mocap import import_mocap

            real = import_mocap(REAL_DANCE, end=REAL_SECONDS).motion
            save_result_npz(real, scratch / "real.npz")
            for camera in ("front", "three_quarter"):
                render(scratch / "real.npz", scratch / f"real_{camera}.mp4", camera)
                text, joints = scores(estimate_landmarks(scratch / f"real_{camera}.mp4"), real.joints())
                rows += [(f"real dance (CMU 55_01, {REAL_SECONDS:g} s), {camera}: PA-MPJPE with lifter vs without "
                          f"vs raw landmarks", text),
                         (f"  its foot skating, result vs truth (the dancer's feet slide and swivel)",
                          f"{100 * foot_skating(joints):.1f} vs {100 * foot_skating(real.joints()):.1f} cm/s")]

        long_track = tiled(landmarks, FIT_TRACK_FRAMES)
        started, cpu = time.perf_counter(), time.process_time()
        landmarks_to_motion(long_track)
        fit_rates = (FIT_TRACK_FRAMES / (time.perf_counter() - started), FIT_TRACK_FRAMES / (time.process_time() - cpu))
    landmark_rates = np.min(landmark_rates, axis=0)
    wall, cpu = (5400 / landmark_rates[i] + 5400 / fit_rates[i] for i in (0, 1))
    rows += [("fit + ground, 1-minute track (1800 frames, 300 + 100 iterations), wall / CPU time",
              "%.1f / %.1f frames/s" % fit_rates),
             ("3-minute 30 FPS video end to end, wall / CPU time (EXTRAPOLATED from the rates above; target < 600 s)",
              f"{wall:.0f} / {cpu:.0f} s"),
             ("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}"),
             ("pictures of input and fit (frame 45)", "bench/video_frames/*.png")]
    return rows


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
