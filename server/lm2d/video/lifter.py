"""The landmark lifter: a small temporal network that reads MediaPipe's landmarks of a clip and
says where SMPL's joints are, relative to the pelvis in the camera's level frame (x right, y away,
z up; metres, SMPL's rest proportions). lm2d.video.fit fits the skeleton to these joints as well
as to the landmarks.

Why: the pose model's own landmarks sit 7-11 cm from the truth after alignment on rendered dances
(docs/METRICS.md), mostly in ways that repeat (bent knees read as straight, a side bend read as a
turn: every limb drawn in towards the body), and MediaPipe's hips, shoulders and ankles are not
SMPL's joint centres. A lifter trained on renders of known motion learns those regularities, as
VideoPose3D-style lifting networks learn them from motion-capture studios' videos.

Input per frame (FEATURES values): the 33 world landmarks as MediaPipe gives them (hip-centred
metres, Z-up), the 33 image landmarks in pixels about the hips' midpoint divided by the picture's
torso length (so neither the camera's distance nor the video's size matters), and the 33
visibilities. The network: a 1x1 convolution in, residual blocks of dilated temporal convolutions
(dilations 1, 2, 4 with kernel 5: about one second of context), a 1x1 convolution out to 24x3.
Trained by `lm2d train-lifter` on tools/make_lifter_data.py's renders (with mirrored copies);
weights ship as safetensors + JSON under lm2d/checkpoints/lifter.
"""
from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from lm2d.errors import LM2DError
from lm2d.motion.skeleton import NUM_JOINTS, mirrored_joints
from lm2d.video.landmarks import INDEX, MIRROR, NUM_LANDMARKS, Landmarks, torso_lengths
from lm2d.weights import load_described, save_described

FEATURES = NUM_LANDMARKS * 6
LIFTER_FPS = 30.0              # the frame rate it is trained and run at
KIND, FORMAT_VERSION = "landmark_lifter", 1
DEFAULT_LIFTER = Path(__file__).resolve().parents[1] / "checkpoints" / "lifter" / "lifter"


@dataclass(frozen=True)
class LifterConfig:
    hidden: int = 128
    kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.1


class LandmarkLifter(nn.Module):
    def __init__(self, config: LifterConfig = LifterConfig()):
        super().__init__()
        self.config = config
        self.read = nn.Conv1d(FEATURES, config.hidden, 1)
        self.blocks = nn.ModuleList(nn.Sequential(
            nn.GELU(), nn.Conv1d(config.hidden, config.hidden, config.kernel, padding=d * (config.kernel // 2),
                                 dilation=d, padding_mode="replicate"),
            nn.GELU(), nn.Dropout(config.dropout), nn.Conv1d(config.hidden, config.hidden, 1))
            for d in config.dilations)
        self.write = nn.Conv1d(config.hidden, NUM_JOINTS * 3, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, N, FEATURES) -> (B, N, 24, 3) pelvis-relative joints."""
        x = self.read(features.transpose(1, 2))
        for block in self.blocks:
            x = x + block(x)
        joints = self.write(x).transpose(1, 2)
        return joints.reshape(*joints.shape[:2], NUM_JOINTS, 3)


def lifter_features(world: np.ndarray, image: np.ndarray, visibility: np.ndarray, width: int,
                    height: int) -> np.ndarray:
    """(N, FEATURES) float32 from (N, 33, 3) world, (N, 33, 2) normalised image landmarks, (N, 33)
    visibilities and the picture's size."""
    pixels = image * np.array([width, height], dtype=np.float64)
    hips = pixels[:, [INDEX["left_hip"], INDEX["right_hip"]]].mean(axis=1, keepdims=True)
    torso = np.maximum(torso_lengths(pixels), 1.0)[:, None, None]
    return np.concatenate([world.reshape(len(world), -1), ((pixels - hips) / torso).reshape(len(world), -1),
                           visibility], axis=1).astype(np.float32)


def mirrored(world: np.ndarray, image: np.ndarray, visibility: np.ndarray, joints: np.ndarray | None = None):
    """The same clip seen in a mirror: x negated (image x flipped), left and right exchanged."""
    world = world[:, MIRROR] * np.array([-1.0, 1.0, 1.0])
    image = image[:, MIRROR] * np.array([-1.0, 1.0]) + np.array([1.0, 0.0])
    flipped = (world, image, visibility[:, MIRROR])
    return flipped if joints is None else (*flipped, mirrored_joints(joints))


def lift(lifter: LandmarkLifter, landmarks: Landmarks) -> np.ndarray:
    """(N, 24, 3) pelvis-relative joints in the camera's level frame for every frame of `landmarks`.
    The network reads LIFTER_FPS (its convolutions span frames, so a 20 or 60 FPS video is
    resampled to it and the result back to the video's frame times)."""
    features = lifter_features(landmarks.world, landmarks.image, landmarks.visibility, landmarks.width,
                               landmarks.height)
    times = landmarks.times - landmarks.times[0]
    steady = np.arange(int(np.floor(times[-1] * LIFTER_FPS + 1e-6)) + 1) / LIFTER_FPS
    with torch.no_grad():
        joints = lifter(torch.from_numpy(resampled(features, times, steady))[None])[0].double().numpy()
    return resampled(joints.reshape(len(steady), -1), steady, times).reshape(-1, NUM_JOINTS, 3)


def resampled(rows: np.ndarray, times: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Rows (T, D) at `times` linearly interpolated to `new_times` (held at the ends)."""
    if len(rows) == 1:
        return np.repeat(rows, len(new_times), axis=0)
    position = np.interp(new_times, times, np.arange(len(times)))
    low = np.minimum(np.floor(position).astype(int), len(rows) - 2)
    blend = (position - low)[:, None].astype(rows.dtype)
    return rows[low] * (1 - blend) + rows[low + 1] * blend


def save_lifter(lifter: LandmarkLifter, path: str | os.PathLike, notes: dict | None = None) -> Path:
    config = asdict(lifter.config)
    config["dilations"] = list(config["dilations"])
    return save_described(lifter, path, KIND, config, FORMAT_VERSION, notes)


def load_lifter(path: str | os.PathLike | None = None) -> LandmarkLifter:
    """The lifter at `path` (default: the shipped one), in eval mode."""
    def build(config: dict, meta_path: Path) -> LandmarkLifter:
        try:
            return LandmarkLifter(LifterConfig(**{**config, "dilations": tuple(config.get("dilations", ()))}))
        except TypeError as err:
            raise LM2DError(f"not a landmark lifter config: {err}", path=meta_path) from err
    return load_described(DEFAULT_LIFTER if path is None else path, KIND, "landmark lifter", build)


@functools.lru_cache(maxsize=1)
def shipped_lifter() -> LandmarkLifter:
    """The lifter lm2d ships, loaded once per process."""
    return load_lifter()


# --- training -------------------------------------------------------------------------------------

@dataclass
class LifterClip:
    features: np.ndarray        # (N, FEATURES)
    joints: np.ndarray          # (N, 24, 3)


def read_lifter_data(folder: str | os.PathLike) -> dict[str, list[LifterClip]]:
    """clip name -> [the clip, its mirror image] from tools/make_lifter_data.py's OUT folder."""
    clips = {}
    for path in sorted(Path(folder).glob("*.npz")):
        with np.load(path) as data:
            world, image, visibility = data["world"], data["image"], data["visibility"]
            width, height, joints = int(data["width"]), int(data["height"]), data["truth"].astype(np.float64)
        views = [(world, image, visibility, joints), mirrored(world, image, visibility, joints)]
        clips[path.stem] = [LifterClip(lifter_features(w, i, v, width, height), j.astype(np.float32))
                            for w, i, v, j in views]
    if not clips:
        raise LM2DError("no lifter data (.npz files from tools/make_lifter_data.py) in this folder", path=folder)
    return clips


def joint_error(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean joint distance, metres."""
    return (predicted - truth).norm(dim=-1).mean()


def train_lifter(clips: list[LifterClip], steps: int = 3000, batch: int = 32, window: int = 81,
                 learning_rate: float = 1e-3, seed: int = 0, config: LifterConfig = LifterConfig(),
                 progress: Callable[[int, float], None] | None = None) -> LandmarkLifter:
    """Adam with a cosine decay on random windows of the clips; progress(step, loss) every 100 steps."""
    generator = np.random.default_rng(seed)
    torch.manual_seed(seed)
    lifter = LandmarkLifter(config).train()
    optimizer = torch.optim.AdamW(lifter.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=learning_rate * 0.02)
    usable = [clip for clip in clips if len(clip.features) >= window]
    if not usable:
        raise LM2DError(f"no lifter clip is {window} frames long (the training window)")
    lengths = np.array([len(clip.features) for clip in usable], dtype=np.float64)
    for step in range(1, steps + 1):
        picks = generator.choice(len(usable), batch, p=lengths / lengths.sum())
        starts = [generator.integers(0, len(usable[i].features) - window + 1) for i in picks]
        features = torch.from_numpy(np.stack([usable[i].features[s:s + window] for i, s in zip(picks, starts)]))
        joints = torch.from_numpy(np.stack([usable[i].joints[s:s + window] for i, s in zip(picks, starts)]))
        loss = joint_error(lifter(features), joints)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None and step % 100 == 0:
            progress(step, float(loss.detach()))
    return lifter.eval()
