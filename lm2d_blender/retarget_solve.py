"""The retarget solve in plain numpy: from a source armature's pose (armature-space matrices per
frame) and a bone map to the target's pose-bone basis matrices. No bpy: retarget.py samples the
source's keys and bakes the result (the method is described there).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .bone_maps import Rig, classify
from .rotation import heading_alignment, kabsch, nearest_rotation, rotation_part, shortest_arc

DEGENERATE_FRACTION = 1e-3   # rest offsets shorter than this fraction of the rig's size give no direction


class ArmatureRest(NamedTuple):
    """What retargeting needs of an armature, bones ordered parents first."""
    rig: Rig
    rest: np.ndarray     # (B, 4, 4) bone.matrix_local: rest pose in armature space
    world: np.ndarray    # (4, 4) the object's matrix_world

    @property
    def rest_world(self) -> np.ndarray:
        return self.world @ self.rest

    def index(self, name: str) -> int:
        return self.rig.names.index(name)


class TargetMotion(NamedTuple):
    bones: list[int]          # keyed target bones, parents first
    basis: np.ndarray         # (T, len(bones), 4, 4) pose-bone basis matrices
    root: int                 # the bone whose location is keyed (root motion)


def local_rest(rest: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Each bone's rest matrix relative to its parent's (the root's: armature space)."""
    return np.array([rest[b] if p < 0 else np.linalg.inv(rest[p]) @ rest[b] for b, p in enumerate(parents)])


def forward_kinematics(rest: np.ndarray, parents: Sequence[int], basis: np.ndarray) -> np.ndarray:
    """(T, B, 4, 4) armature-space pose matrices, Blender's rule
    pose(b) = pose(parent) · rest(parent)⁻¹ · rest(b) · basis(b)."""
    relative = local_rest(rest, parents)
    pose = np.empty_like(basis)
    for b, p in enumerate(parents):
        chain = relative[b] if p < 0 else pose[:, p] @ relative[b]
        pose[:, b] = chain @ basis[:, b]
    return pose


def _nearest_mapped_ancestor(rig: Rig, bone: int, mapped) -> int:
    parent = rig.parents[bone]
    while parent >= 0 and parent not in mapped:
        parent = rig.parents[parent]
    return parent


def ancestors_and_self(rig: Rig, bone: int) -> list[int]:
    chain = []
    while bone >= 0:
        chain.append(bone)
        bone = rig.parents[bone]
    return chain


def rest_alignment(source: ArmatureRest, target: ArmatureRest,
                   sources_of: dict[int, list[int]]) -> dict[int, np.ndarray]:
    """Per mapped target bone, the world rotation A that turns its rest onto the source's rest
    (module docstring, step 2). `sources_of`: target bone -> its source bones, root-most first."""
    source_heads, target_heads = source.rest_world[:, :3, 3], target.rest_world[:, :3, 3]
    source_eps = DEGENERATE_FRACTION * np.ptp(source_heads, axis=0).max()
    target_eps = DEGENERATE_FRACTION * np.ptp(target_heads, axis=0).max()
    alignment: dict[int, np.ndarray] = {}
    for bone in sorted(sources_of):                       # rig order: parents first
        ancestor = _nearest_mapped_ancestor(target.rig, bone, sources_of)
        inherited = alignment.get(ancestor, np.eye(3))
        from_vectors, to_vectors = [], []
        for child in sources_of:
            if _nearest_mapped_ancestor(target.rig, child, sources_of) != bone:
                continue
            t = target_heads[child] - target_heads[bone]
            s = source_heads[sources_of[child][0]] - source_heads[sources_of[bone][0]]
            if np.linalg.norm(t) > target_eps and np.linalg.norm(s) > source_eps:
                from_vectors.append(t / np.linalg.norm(t))
                to_vectors.append(s / np.linalg.norm(s))
        if ancestor < 0 and from_vectors:
            alignment[bone] = heading_alignment(np.array(from_vectors), np.array(to_vectors))
        elif len(from_vectors) >= 2:
            alignment[bone] = kabsch(np.array(from_vectors), np.array(to_vectors))
        elif from_vectors:
            alignment[bone] = shortest_arc(inherited @ from_vectors[0], to_vectors[0]) @ inherited
        else:
            alignment[bone] = inherited
    return alignment


class LegChain(NamedTuple):
    target: tuple[int, int, int]    # hip (thigh), knee (shin), ankle (foot) bones
    source: tuple[int, int, int]


def leg_chains(source: ArmatureRest, sources_of: dict[int, list[int]]) -> list[LegChain]:
    """The legs whose hip, knee and ankle the map carries from the source to the target."""
    target_of: dict[int, int] = {}
    for bone in sorted(sources_of):
        for source_bone in sources_of[bone]:
            target_of.setdefault(source_bone, bone)
    parts = classify(source.rig)
    legs = []
    for side in ("left", "right"):
        joints = tuple(parts.get(f"{side}_{joint}", [-1])[0] for joint in ("hip", "knee", "ankle"))
        if all(joint in target_of for joint in joints):
            legs.append(LegChain(tuple(target_of[joint] for joint in joints), joints))
    return legs


def limb_length(heads: np.ndarray, chain: Sequence[int]) -> float:
    return float(sum(np.linalg.norm(heads[b] - heads[a]) for a, b in zip(chain, chain[1:])))


def hip_height(heads: np.ndarray, root: int, mapped: Sequence[int]) -> float:
    """Rest height (world Z) of the root bone's head above the lowest mapped joint."""
    return float(heads[root, 2] - heads[list(mapped), 2].min())


def two_bone_ik(hip: np.ndarray, goal: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                upper_offset: np.ndarray, lower_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (T, 3, 3) of a thigh and shin turned as little as possible so that the chain
    from `hip` ends on `goal` ((T, 3) each; the nearest reachable point when out of reach), bending
    in the plane the chain already bends in. *_offset: each segment's rest vector in its bone's
    world-rest frame (rotation·offset is the posed segment)."""
    l1, l2 = np.linalg.norm(upper_offset), np.linalg.norm(lower_offset)
    e1 = upper @ upper_offset / l1
    e2 = lower @ lower_offset / l2
    to_goal = goal - hip
    distance = np.linalg.norm(to_goal, axis=-1, keepdims=True)
    u = to_goal / np.maximum(distance, 1e-12)
    reach = np.clip(distance, abs(l1 - l2) + 1e-6 * (l1 + l2), (1 - 1e-6) * (l1 + l2))
    bend = e1 - np.sum(e1 * u, axis=-1, keepdims=True) * u          # the knee's side of the hip-goal line
    straight = np.linalg.norm(bend, axis=-1) < 1e-9
    if np.any(straight):   # a straight leg bends no way in particular: any perpendicular will do
        bend[straight] = np.cross(u[straight], np.eye(3)[np.argmin(np.abs(u[straight]), axis=-1)])
    bend /= np.linalg.norm(bend, axis=-1, keepdims=True)
    cos = (l1 * l1 + reach * reach - l2 * l2) / (2 * l1 * reach)
    thigh_direction = cos * u + np.sqrt(np.clip(1 - cos * cos, 0.0, 1.0)) * bend
    shin_direction = (hip + reach * u - (hip + l1 * thigh_direction)) / l2
    return shortest_arc(e1, thigh_direction) @ upper, shortest_arc(e2, shin_direction) @ lower


def solve_target_motion(source: ArmatureRest, source_pose: np.ndarray, target: ArmatureRest,
                        pairs: Sequence[tuple[str, str]], plant_feet: bool = True) -> TargetMotion:
    """The target's pose-bone basis matrices that reproduce `source_pose` ((T, Bs, 4, 4), armature
    space) under `pairs` of (source, target) bone names. plant_feet: legs by two-bone IK onto the
    source's ankles (scaled), so feet slide no more than the source's; otherwise legs copy the
    source's bone directions like every other bone."""
    sources_of: dict[int, list[int]] = {}
    for source_name, target_name in pairs:
        sources_of.setdefault(target.index(target_name), []).append(source.index(source_name))
    for bones in sources_of.values():
        bones.sort(key=source.rig.depth)
    mapped = sorted(sources_of)
    root = next(b for b in mapped if _nearest_mapped_ancestor(target.rig, b, sources_of) < 0)

    # Desired world rotations (step 2).
    source_world = source.world @ source_pose                          # (T, Bs, 4, 4)
    source_rest = rotation_part(source.rest_world)
    target_rest = rotation_part(target.rest_world)
    deltas = rotation_part(source_world) @ np.swapaxes(source_rest, -1, -2)   # D(t) per source bone
    alignment = rest_alignment(source, target, sources_of)
    desired = {}
    for bone, sources in sources_of.items():
        delta = deltas[:, sources[0]] if len(sources) == 1 else nearest_rotation(deltas[:, sources].sum(axis=1))
        desired[bone] = delta @ alignment[bone] @ target_rest[bone]

    # Root motion (step 3): the hip joints' midpoint (else the root's head) about each origin,
    # scaled by leg length (else hip height).
    source_heads, target_heads = source.rest_world[:, :3, 3], target.rest_world[:, :3, 3]
    legs = leg_chains(source, sources_of)
    if legs:
        scale = (np.mean([limb_length(target_heads, leg.target) for leg in legs])
                 / np.mean([limb_length(source_heads, leg.source) for leg in legs]))
        source_anchor, target_anchor = [leg.source[0] for leg in legs], [leg.target[0] for leg in legs]
    else:
        all_sources = [s for bones in sources_of.values() for s in bones]
        scale = (hip_height(target_heads, root, mapped)
                 / hip_height(source_heads, sources_of[root][0], all_sources))
        source_anchor, target_anchor = [sources_of[root][0]], [root]

    def to_target(world_points: np.ndarray) -> np.ndarray:
        return target.world[:3, 3] + scale * (world_points - source.world[:3, 3])

    anchor_path = to_target(source_world[:, source_anchor][..., :3, 3].mean(axis=1))
    root_turn = desired[root] @ target_rest[root].T                       # the root's world delta
    root_path = anchor_path - root_turn @ (target_heads[target_anchor].mean(axis=0) - target_heads[root])

    # Local basis matrices over the keyed set (step 5), legs by IK on the way (step 4).
    leg_of_thigh = {leg.target[0]: leg for leg in legs} if plant_feet else {}
    keyed = sorted({a for b in mapped for a in ancestors_and_self(target.rig, b)})
    relative = local_rest(target.rest, target.rig.parents)
    object_rotation = rotation_part(target.world)
    world_inverse = np.linalg.inv(target.world)
    frames = len(source_pose)
    pose = {}
    basis = np.empty((frames, len(keyed), 4, 4))
    for k, bone in enumerate(keyed):
        parent = target.rig.parents[bone]
        chain = np.broadcast_to(relative[bone], (frames, 4, 4)) if parent < 0 else pose[parent] @ relative[bone]
        if bone in leg_of_thigh:
            thigh, shin, ankle = leg_of_thigh[bone].target
            desired[thigh], desired[shin] = two_bone_ik(
                (target.world @ chain)[:, :3, 3], to_target(source_world[:, leg_of_thigh[bone].source[2], :3, 3]),
                desired[thigh], desired[shin], target_rest[thigh].T @ (target_heads[shin] - target_heads[thigh]),
                target_rest[shin].T @ (target_heads[ankle] - target_heads[shin]))
        local = np.broadcast_to(np.eye(4), (frames, 4, 4)).copy()
        if bone in desired:
            local[:, :3, :3] = np.swapaxes(chain[:, :3, :3], -1, -2) @ object_rotation.T @ desired[bone]
        if bone == root:
            head = world_inverse[:3, :3] @ root_path.T + world_inverse[:3, 3:4]      # armature space, (3, T)
            local[:, :3, 3] = (np.swapaxes(chain[:, :3, :3], -1, -2) @ (head.T - chain[:, :3, 3])[..., None])[..., 0]
        basis[:, k] = local
        pose[bone] = chain @ local
    return TargetMotion(keyed, basis, root)
