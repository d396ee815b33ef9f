"""Retargeting a take from one armature (the SMPL dancer) onto any humanoid rig, baked into a new take.

Method: world-space rotation deltas with a per-bone rest alignment, all frames at once in numpy.
1. The source pose comes from the take's own keys (sampled per frame) through numpy forward
   kinematics on the source's rest matrices, so no frame_set per frame (a 3-minute take would
   spend seconds there) and no constraints or helper objects in the scene.
2. Each mapped target bone b follows the world rotation delta of its source bone(s) s:
       target_world(t) = D(t) · A_b · target_rest_world,  D(t) = source_world(t) · source_rest_world⁻¹
   (several sources: the chordal mean of their deltas). A_b aligns the rests: it carries the
   target's rest directions from b to its mapped child joints onto the source's (Kabsch over all
   children, the shortest arc for one, the parent's alignment for none), so an A-pose rig follows a
   T-pose source with its arms where the source's are, and bone rolls never matter. The root bone
   (pelvis) is aligned by heading only: every rig's rest stands upright, and rigs disagree by tens
   of degrees about where the hip joints sit around the hips bone's head (CMU's in front of it,
   SMPL's behind), which a full alignment would read as a pitched pelvis.
3. Root motion: the midpoint of the target's hip joints follows the source's about the target
   object's origin as the source's does about its own, scaled by the ratio of leg lengths
   (hip-knee-ankle at rest; without mapped legs, the top mapped bone and hip heights). Both origins
   are taken to be on the floor: Blender's rig convention and the floor of LM2D takes. The hip
   joints, not the root bone's head, are matched because rigs put the hips bone's head anywhere
   between the waist and below the hip joints.
4. Legs (plant_feet, the default): with different thigh/shin proportions, copied leg rotations put
   the feet elsewhere than the (scaled) source's and planted feet slide. A two-bone IK per leg turns
   thigh and shin as little as possible so the ankle lands on the scaled source ankle, bending in
   the plane the copied leg bends in; the foot keeps its copied world rotation.
5. Local rotations follow from each target bone's parent chain (numpy FK over the target rest
   matrices). The keyed set is the mapped bones plus every ancestor of one (keyed at rest), so the
   take evaluates to exactly this pose whatever lower NLA tracks hold. Bones are assumed to inherit
   their parents' rotation and scale normally, and bones outside the keyed set (fingers, face) keep
   whatever else animates them.
The new action goes on the target the way keys.py puts a take on the SMPL dancer: a new NLA track
on top, and the active action unless the user has one of their own (that one is never touched)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import bpy
import numpy as np
from bpy_extras import anim_utils
from mathutils import Matrix

from .bone_maps import Rig, classify
from .keys import (TAKE_FPS_PROP, TAKE_PROP, TAKE_START_PROP, add_nla_track, fcurve_maker, show_take,
                   take_slot, next_take_number, set_linear_keys)
from .operators_generate import TAKE_AUDIO_PROP, current_take
from .quaternions import continuous_signs

RETARGET_SOURCE_PROP = "lm2d_retargeted_from"   # on retargeted takes: "armature / action" they came from
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


def armature_rig(obj) -> Rig:
    return Rig.from_pairs((bone.name, bone.parent.name if bone.parent else None) for bone in obj.data.bones)


def armature_rest(obj) -> ArmatureRest:
    rig = armature_rig(obj)
    rest = np.array([np.array(obj.data.bones[name].matrix_local) for name in rig.names])
    return ArmatureRest(rig, rest, np.array(obj.matrix_world))


# --- rotations in numpy ------------------------------------------------------------------------

def rotation_part(matrices: np.ndarray) -> np.ndarray:
    """The 3×3 rotation of (…, 4, 4) or (…, 3, 3) matrices, object scale divided out."""
    rotation = matrices[..., :3, :3]
    return rotation / np.linalg.norm(rotation, axis=-2, keepdims=True)


def nearest_rotation(matrices: np.ndarray) -> np.ndarray:
    """The rotation nearest each (…, 3, 3) matrix (Frobenius): U·diag(1, 1, det)·Vᵀ of its SVD."""
    u, _, vt = np.linalg.svd(matrices)
    fix = np.ones(matrices.shape[:-1])
    fix[..., -1] = np.sign(np.linalg.det(u @ vt))
    return (u * fix[..., None, :]) @ vt


def kabsch(from_vectors: np.ndarray, to_vectors: np.ndarray) -> np.ndarray:
    """The rotation R minimising Σ|R·from − to|² over (n, 3) vectors, n ≥ 2."""
    return nearest_rotation(to_vectors.T @ from_vectors)


def heading_alignment(from_vectors: np.ndarray, to_vectors: np.ndarray) -> np.ndarray:
    """The turn about world Z that best carries the (n, 3) vectors' floor-plane parts onto the others'."""
    a, b = from_vectors[:, :2], to_vectors[:, :2]
    angle = np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b))
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def skew(v: np.ndarray) -> np.ndarray:
    """(…, 3, 3) cross-product matrices: skew(a) @ b == a × b."""
    x, y, z = np.moveaxis(v, -1, 0)
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)


def shortest_arc(from_vectors: np.ndarray, to_vectors: np.ndarray) -> np.ndarray:
    """(…, 3, 3): the smallest rotation carrying each unit vector onto the other (Rodrigues); for
    opposite vectors, the half turn about an axis perpendicular to them."""
    a, b = np.broadcast_arrays(np.asarray(from_vectors, np.float64), np.asarray(to_vectors, np.float64))
    cos = np.sum(a * b, axis=-1)[..., None, None]
    k = skew(np.cross(a, b))
    rotation = np.eye(3) + k + k @ k / np.maximum(1.0 + cos, 1e-12)
    opposite = cos[..., 0, 0] < -1.0 + 1e-9
    if np.any(opposite):
        helper = np.eye(3)[np.argmin(np.abs(a[opposite]), axis=-1)]
        p = np.cross(a[opposite], helper)
        p /= np.linalg.norm(p, axis=-1, keepdims=True)
        rotation[opposite] = 2.0 * p[..., :, None] * p[..., None, :] - np.eye(3)
    return rotation


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(…, 4) quaternions (w, x, y, z), any length, to (…, 3, 3) rotations."""
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(…, 3, 3) rotations to (…, 4) unit quaternions (w, x, y, z), from the largest of the four
    candidate components (numerically safe everywhere)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = np.stack([
        np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 - m00 - m11 + m22], -1),
    ], -2)
    best = np.argmax(np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                               1 - m00 - m11 + m22], -1), axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """(…, 3) Euler angles (X, Y, Z values) in Blender's order 'XYZ' (X applied first) to rotations."""
    def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        out = np.zeros(angle.shape + (3, 3))
        out[..., axis, axis] = 1.0
        out[..., i, i], out[..., i, j], out[..., j, i], out[..., j, j] = c, -s, s, c
        return out

    matrix = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3))
    for letter in order:
        axis = "XYZ".index(letter)
        matrix = axis_rotation(axis, angles[..., axis]) @ matrix
    return matrix


def compose(location: np.ndarray, rotation: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T, 4, 4) matrices T·R·S from (T, 3), (T, 3, 3) and (T, 3)."""
    out = np.zeros(location.shape[:-1] + (4, 4))
    out[..., :3, :3] = rotation * scale[..., None, :]
    out[..., :3, 3] = location
    out[..., 3, 3] = 1.0
    return out


# --- the source pose from a take's keys --------------------------------------------------------

def source_take(obj):
    """The take to retarget from an armature: its LM2D take (see operators_generate.current_take),
    else its active action. None when it has neither."""
    take = current_take(obj)
    if take is None and obj.animation_data is not None:
        take = obj.animation_data.action
    return take


def take_frames(action) -> np.ndarray:
    first, last = action.frame_range
    return np.arange(int(round(first)), int(round(last)) + 1, dtype=np.float64)


def _action_fcurves(obj, action) -> dict:
    """(data_path, index) -> F-curve of `action` for `obj`: the slot the object uses the action
    with (active or on an NLA strip), else the action's first slot; Action.fcurves before 4.4."""
    if not hasattr(action, "slots"):
        return {(fc.data_path, fc.array_index): fc for fc in action.fcurves}
    slot = None
    animation = obj.animation_data
    if animation is not None:
        if animation.action == action:
            slot = animation.action_slot
        for track in animation.nla_tracks:
            for strip in track.strips:
                if slot is None and strip.action == action:
                    slot = strip.action_slot
    slot = slot or (action.slots[0] if len(action.slots) else None)
    channelbag = slot and anim_utils.action_get_channelbag_for_slot(action, slot)
    return {(fc.data_path, fc.array_index): fc for fc in channelbag.fcurves} if channelbag else {}


def sample_fcurve(fcurve, frames: np.ndarray) -> np.ndarray:
    points = fcurve.keyframe_points
    co = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get("co", co)
    co = co.reshape(-1, 2)
    if len(co) == len(frames) and not fcurve.modifiers and np.allclose(co[:, 0], frames):
        return co[:, 1].astype(np.float64)   # a key on every frame (LM2D takes): the keys are the samples
    return np.array([fcurve.evaluate(frame) for frame in frames])


def _sample_channel(fcurves: dict, path: str, current, frames: np.ndarray) -> np.ndarray:
    """(T, len(current)): the channel's keys, or its current value where it has no F-curve."""
    return np.stack([sample_fcurve(fcurves[(path, i)], frames) if (path, i) in fcurves
                     else np.full(len(frames), float(value)) for i, value in enumerate(current)], axis=-1)


def sample_pose_basis(obj, action, rig: Rig, frames: np.ndarray) -> np.ndarray:
    """(T, B, 4, 4) pose-bone basis matrices (location, rotation in the bone's mode, scale) that
    `action` keys on `obj`'s bones at `frames`."""
    fcurves = _action_fcurves(obj, action)
    basis = np.empty((len(frames), len(rig.names), 4, 4))
    for b, name in enumerate(rig.names):
        pose_bone = obj.pose.bones[name]
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        mode = pose_bone.rotation_mode
        if mode == 'QUATERNION':
            q = _sample_channel(fcurves, f"{path}.rotation_quaternion", pose_bone.rotation_quaternion, frames)
            rotation = quaternion_to_matrix(q)
        elif mode == 'AXIS_ANGLE':
            angle_axis = _sample_channel(fcurves, f"{path}.rotation_axis_angle", pose_bone.rotation_axis_angle, frames)
            half = angle_axis[:, :1] / 2
            axis = angle_axis[:, 1:] / np.maximum(np.linalg.norm(angle_axis[:, 1:], axis=-1, keepdims=True), 1e-12)
            rotation = quaternion_to_matrix(np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1))
        else:
            angles = _sample_channel(fcurves, f"{path}.rotation_euler", pose_bone.rotation_euler, frames)
            rotation = euler_to_matrix(angles, mode)
        location = _sample_channel(fcurves, f"{path}.location", pose_bone.location, frames)
        scale = _sample_channel(fcurves, f"{path}.scale", pose_bone.scale, frames)
        basis[:, b] = compose(location, rotation, scale)
    return basis


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


# --- the retarget itself ------------------------------------------------------------------------

def _nearest_mapped_ancestor(rig: Rig, bone: int, mapped) -> int:
    parent = rig.parents[bone]
    while parent >= 0 and parent not in mapped:
        parent = rig.parents[parent]
    return parent


def _ancestors_and_self(rig: Rig, bone: int) -> list[int]:
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
    keyed = sorted({a for b in mapped for a in _ancestors_and_self(target.rig, b)})
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


# --- baking into a take ---------------------------------------------------------------------

def check_pairs(source_obj, target_obj, pairs) -> None:
    """Raise ValueError unless every pair names a bone of each armature."""
    if not pairs:
        raise ValueError(f"the bone map of '{target_obj.name}' is empty: map bones first (Auto-Map)")
    for obj, names, role in ((source_obj, [s for s, _ in pairs], "source"),
                             (target_obj, [t for _, t in pairs], "target")):
        missing = sorted({name for name in names if name not in obj.data.bones})
        if missing:
            raise ValueError(f"{role} armature '{obj.name}' has no bone(s) {', '.join(missing[:5])}"
                             f"{' …' if len(missing) > 5 else ''}")


def constrained_bones(target_obj, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Bones of the keyed set (mapped bones and their ancestors) that active constraints move. The
    solve assumes plain parenting, so under such bones the pose differs from the source's: Rigify's
    generated rigs, whose controls hang from constrained MCH- bones, are the common case."""
    rig = armature_rig(target_obj)
    keyed = {a for _, name in pairs if name in rig.names for a in _ancestors_and_self(rig, rig.names.index(name))}
    return [rig.names[b] for b in sorted(keyed)
            if any(c.enabled and c.influence > 0 for c in target_obj.pose.bones[rig.names[b]].constraints)]


def _rotation_channels(pose_bone, rotations: np.ndarray) -> tuple[str, np.ndarray]:
    """(data path suffix, (T, n) values) for (T, 3, 3) rotations in the pose bone's rotation mode."""
    mode = pose_bone.rotation_mode
    if mode in ('QUATERNION', 'AXIS_ANGLE'):
        q = continuous_signs(matrix_to_quaternion(rotations))
        if mode == 'QUATERNION':
            return "rotation_quaternion", q
        angle = 2.0 * np.arctan2(np.linalg.norm(q[:, 1:], axis=-1), q[:, 0])
        axis = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=-1, keepdims=True), 1e-12)
        axis[np.linalg.norm(q[:, 1:], axis=-1) < 1e-12] = (0.0, 1.0, 0.0)   # Blender's default axis
        return "rotation_axis_angle", np.column_stack([angle, axis])
    eulers, previous = [], None
    for rotation in rotations:   # mathutils keeps each Euler nearest the previous one (no flips)
        matrix = Matrix(rotation.tolist())
        previous = matrix.to_euler(mode, previous) if previous else matrix.to_euler(mode)
        eulers.append(tuple(previous))
    return "rotation_euler", np.array(eulers)


def bake_take(target_obj, motion: TargetMotion, target: ArmatureRest, frames: np.ndarray, name: str):
    """A new action keying `motion` on the target at `frames` (one key per frame, linear)."""
    action = bpy.data.actions.new(name)
    new_fcurve = fcurve_maker(action, target_obj.name)
    for k, bone in enumerate(motion.bones):
        bone_name = target.rig.names[bone]
        pose_bone = target_obj.pose.bones[bone_name]
        path = f'pose.bones["{bpy.utils.escape_identifier(bone_name)}"]'
        channel, values = _rotation_channels(pose_bone, motion.basis[:, k, :3, :3])
        for index in range(values.shape[1]):
            set_linear_keys(new_fcurve(f"{path}.{channel}", index, bone_name), frames, values[:, index])
        if bone == motion.root:
            for index in range(3):
                set_linear_keys(new_fcurve(f"{path}.location", index, bone_name), frames,
                                motion.basis[:, k, index, 3])
    return action


def retarget_take(source_obj, target_obj, pairs: Sequence[tuple[str, str]], action=None, name: str | None = None,
                  plant_feet: bool = True):
    """Retarget `action` (default: source_take(source_obj)) of the source armature onto the target
    under `pairs` of (source bone, target bone) names (plant_feet: see solve_target_motion). Returns
    (action, nla_track, nla_strip) of the new take. Raises ValueError on an unusable map or a source
    without a take."""
    action = action or source_take(source_obj)
    if action is None:
        raise ValueError(f"'{source_obj.name}' has no take to retarget")
    if target_obj == source_obj:
        raise ValueError("the source and target armatures are the same object")
    pairs = list(pairs)
    check_pairs(source_obj, target_obj, pairs)
    source, target = armature_rest(source_obj), armature_rest(target_obj)
    frames = take_frames(action)
    source_pose = forward_kinematics(source.rest, source.rig.parents,
                                     sample_pose_basis(source_obj, action, source.rig, frames))
    motion = solve_target_motion(source, source_pose, target, pairs, plant_feet)

    new_action = bake_take(target_obj, motion, target, frames, name or f"{action.name} → {target_obj.name}")
    new_action[TAKE_PROP] = next_take_number()
    new_action[TAKE_START_PROP] = action.get(TAKE_START_PROP, int(frames[0]))
    new_action[RETARGET_SOURCE_PROP] = f"{source_obj.name} / {action.name}"
    for prop in (TAKE_FPS_PROP, TAKE_AUDIO_PROP):   # the result file (TAKE_SOURCE_PROP) keys SMPL bones: not kept
        if prop in action:
            new_action[prop] = action[prop]
    slot = take_slot(new_action)
    animation, track, strip = add_nla_track(target_obj, new_action, slot, int(frames[0]))
    show_take(animation, new_action, slot)
    return new_action, track, strip
