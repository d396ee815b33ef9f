"""The SMPL skeleton as the add-on sees it: joint names, parents and rest positions (Z-up, metres).

The add-on runs without the lm2d server, so it ships the skeleton as smpl_skeleton.json;
tests/test_addon.py checks that file against lm2d.motion.skeleton so the two never drift."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

SHIPPED_SKELETON_PATH = Path(__file__).with_name("smpl_skeleton.json")


class Skeleton(NamedTuple):
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]        # parent index per joint, -1 for the root
    rest_positions: np.ndarray      # (J, 3) float64, Z-up metres

    def to_json(self) -> str:
        return json.dumps({"joint_names": list(self.joint_names), "parents": list(self.parents),
                           "rest_positions": self.rest_positions.tolist()})

    @classmethod
    def from_json(cls, text: str) -> "Skeleton":
        data = json.loads(text)
        return cls.from_arrays(data["joint_names"], data["parents"], data["rest_positions"])

    @classmethod
    def from_arrays(cls, joint_names, parents, rest_positions) -> "Skeleton":
        skeleton = cls(tuple(str(name) for name in joint_names), tuple(int(p) for p in parents),
                       np.asarray(rest_positions, dtype=np.float64).reshape(-1, 3))
        skeleton.check()
        return skeleton

    def check(self) -> None:
        """Raise ValueError unless the arrays describe one tree with parents listed before children."""
        count = len(self.joint_names)
        if len(self.parents) != count or len(self.rest_positions) != count:
            raise ValueError(f"skeleton has {count} names, {len(self.parents)} parents and "
                             f"{len(self.rest_positions)} rest positions")
        if len(set(self.joint_names)) != count:
            raise ValueError("skeleton joint names are not unique")
        roots = [j for j, parent in enumerate(self.parents) if parent < 0]
        if roots != [0]:
            raise ValueError(f"skeleton must have exactly one root, joint 0 (found roots {roots})")
        for joint, parent in enumerate(self.parents[1:], start=1):
            if not 0 <= parent < joint:
                raise ValueError(f"joint {self.joint_names[joint]!r} has parent {parent}, "
                                 "which is not an earlier joint")

    def children(self, joint: int) -> list[int]:
        return [j for j, parent in enumerate(self.parents) if parent == joint]


def shipped_skeleton() -> Skeleton:
    data = json.loads(SHIPPED_SKELETON_PATH.read_text(encoding="utf-8"))
    joints = data["joints"]
    return Skeleton.from_arrays([j["name"] for j in joints], [j["parent"] for j in joints],
                                [j["rest_position"] for j in joints])
