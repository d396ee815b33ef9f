"""An artist's wooden mannequin on an SMPL armature: what renders and playblasts show of the dancer.

A sphere per joint, a tapered capsule per limb bone, ellipsoids for the head, chest, belly and
pelvis that meet, flat hands and shoe-like feet, sized from the armature's rest skeleton. The parts
ride on 16 of the 24 bones, one mesh object per carrying bone, all sharing one material, so the
body moves the way a jointed wooden figure does: nothing to skin, no stretching, and the cheapest
thing Blender can evaluate per frame (one joined mesh under an Armature modifier with rigid vertex
groups cost twice as much again: bench/bench_mannequin.py). Every object costs about a microsecond
of bookkeeping per frame whatever its geometry, so the parts whose own bone barely shows ride on a
neighbour (CARRIERS).

Plain module, no UI context: from any bpy script,

    from lm2d_blender.armature import new_dancer          # an SMPL armature with the mannequin
    from lm2d_blender.mannequin import build_mannequin    # or add one to an existing LM2D armature
    parts = build_mannequin(armature_object)

Geometry is built with numpy and the mesh data API (no operators)."""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from .armature import PREVIEW_PROP, armature_skeleton

MATERIAL_NAME = "LM2D Mannequin"
WOOD_COLOUR = (0.85, 0.62, 0.38, 1.0)
# Joint span (head joint to lowest foot joint) of SMPL's own rest skeleton: sizes below are for it
# and scale with the armature's own span.
REFERENCE_SPAN = 1.575
SOLE_BELOW_FOOT_JOINT = 0.03        # the sole lies this far under the foot (ball) joint, at reference size
SEGMENTS = 16                       # around every part
# Bones whose parts ride on another bone, and why that looks the same. The toes, the hand tips and
# the collars are never turned in LM2D's dances (identity throughout the corpus, so the model's
# output too; video2motion keeps toes and hand tips fixed): a collar turned by imported mocap
# lifts the shoulder joint inside its sphere, with the collar bar left on the chest. The lower
# ribs are centred on spine2's own pivot, so only spine2's few degrees of tilt go unshown. The
# neck bar rides on the head it holds up, its lower end buried in the chest.
CARRIERS = {"left_foot": "left_ankle", "right_foot": "right_ankle", "left_hand": "left_wrist",
            "right_hand": "right_wrist", "left_collar": "spine3", "right_collar": "spine3",
            "spine2": "spine1", "neck": "head"}


# --- surfaces: rings of points between two poles -------------------------------------------------

def _frame(axis: np.ndarray, up_hint=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Right-handed orthonormal columns (e1, e2, e3) with e3 along `axis`."""
    e3 = axis / np.linalg.norm(axis)
    hint = np.asarray(up_hint, dtype=float)
    if abs(np.dot(hint, e3)) > 0.9:
        hint = np.array([0.0, 1.0, 0.0]) if abs(e3[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(hint, e3)
    e1 /= np.linalg.norm(e1)
    return np.column_stack([e1, np.cross(e3, e1), e3])


def _latitudes(rings: int) -> np.ndarray:
    """Latitudes from the south pole to the north, poles excluded."""
    return np.linspace(-np.pi / 2, np.pi / 2, rings + 2)[1:-1]


def _surface(rings: np.ndarray, south: np.ndarray, north: np.ndarray):
    """Vertices and faces of a closed surface: (R, S, 3) rings, each counter-clockwise about the
    south→north axis, capped by triangle fans. Faces wind outward."""
    count, segments = rings.shape[:2]
    vertices = np.vstack([rings.reshape(-1, 3), south, north])
    south_index, north_index = count * segments, count * segments + 1
    index = np.arange(count * segments).reshape(count, segments)
    following = np.roll(index, -1, axis=1)
    quads = np.stack([index[:-1], following[:-1], following[1:], index[1:]], axis=-1).reshape(-1, 4)
    faces = [tuple(q) for q in quads.tolist()]
    faces += [(south_index, int(following[0, s]), int(index[0, s])) for s in range(segments)]
    faces += [(north_index, int(index[-1, s]), int(following[-1, s])) for s in range(segments)]
    return vertices, faces


def ellipsoid(centre, axes: np.ndarray, rings: int = 9):
    """An ellipsoid whose semi-axes are the columns of `axes` (3×3, right-handed)."""
    theta = np.linspace(0.0, 2 * np.pi, SEGMENTS, endpoint=False)
    phi = _latitudes(rings)[:, None]
    unit = np.stack([np.cos(phi) * np.cos(theta), np.cos(phi) * np.sin(theta),
                     np.sin(phi) * np.ones_like(theta)], axis=-1)
    centre = np.asarray(centre, dtype=float)
    return _surface(unit @ axes.T + centre, centre - axes[:, 2], centre + axes[:, 2])


def sphere(centre, radius: float):
    return ellipsoid(centre, np.eye(3) * radius, rings=7)


def capsule(start, end, start_radius: float, end_radius: float, cap_rings: int = 3):
    """A tapered capsule: a hemisphere of start_radius at `start`, one of end_radius at `end`."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    basis = _frame(end - start)
    theta = np.linspace(0.0, 2 * np.pi, SEGMENTS, endpoint=False)
    phi = np.linspace(-np.pi / 2, 0.0, cap_rings + 1)[1:]
    rings = []
    for centre, radius, latitudes in ((start, start_radius, phi), (end, end_radius, -phi[::-1])):
        lat = latitudes[:, None]
        local = np.stack([np.cos(lat) * np.cos(theta), np.cos(lat) * np.sin(theta),
                          np.sin(lat) * np.ones_like(theta)], axis=-1)
        rings.append(local @ basis.T * radius + centre)
    return _surface(np.concatenate(rings), start - basis[:, 2] * start_radius, end + basis[:, 2] * end_radius)


# --- the body, part by part ----------------------------------------------------------------------

def body_scale(skeleton) -> float:
    """The skeleton's size against SMPL's own (head joint to lowest foot joint at rest)."""
    joint = dict(zip(skeleton.joint_names, skeleton.rest_positions))
    return (joint["head"][2] - min(joint["left_foot"][2], joint["right_foot"][2])) / REFERENCE_SPAN


def body_parts(skeleton) -> list[tuple[str, np.ndarray, list]]:
    """(carrying bone, vertices, faces) per part, in the skeleton's rest space (Z up, facing -Y)."""
    joint = dict(zip(skeleton.joint_names, skeleton.rest_positions))
    s = body_scale(skeleton)
    up, forward = np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0])
    parts = []

    def add(bone, surface):
        parts.append((CARRIERS.get(bone, bone), *surface))

    def oriented(centre, along, radii, up_hint=up):
        """Ellipsoid with radii (across, thickness, along): `along` is its long axis, the
        thickness axis lies nearest `up_hint`."""
        basis = _frame(along, up_hint)
        # _frame puts e2 nearest the hint: (e1, e2, e3) scaled by (across, thickness, along).
        return ellipsoid(centre, basis * np.asarray(radii) * s)

    pelvis_centre = (joint["left_hip"] + joint["right_hip"] + joint["pelvis"]) / 3 + up * 0.01 * s
    add("pelvis", ellipsoid(pelvis_centre, np.diag([0.165, 0.115, 0.125]) * s))
    add("spine1", ellipsoid(joint["spine1"] + up * 0.01 * s, np.diag([0.142, 0.105, 0.15]) * s))
    add("spine2", ellipsoid(joint["spine2"], np.diag([0.148, 0.108, 0.09]) * s))   # lower ribs
    chest_centre = joint["spine3"] + up * 0.05 * s
    add("spine3", ellipsoid(chest_centre, np.diag([0.165, 0.115, 0.195]) * s, rings=11))
    add("neck", capsule(joint["neck"] - up * 0.03 * s, joint["head"], 0.052 * s, 0.046 * s))
    head_centre = joint["head"] + up * 0.085 * s + forward * 0.012 * s
    add("head", ellipsoid(head_centre, np.diag([0.078, 0.092, 0.112]) * s, rings=11))
    # A nose: which way the face looks, at a glance and for a pose estimator (a faceless head reads
    # as seen from behind).
    add("head", oriented(head_centre + forward * 0.088 * s - up * 0.01 * s, forward, (0.016, 0.018, 0.024)))

    for side in ("left", "right"):
        j = {name: joint[f"{side}_{name}"] for name in ("hip", "knee", "ankle", "foot", "collar", "shoulder",
                                                          "elbow", "wrist", "hand")}
        add(f"{side}_hip", capsule(j["hip"], j["knee"], 0.088 * s, 0.058 * s))
        add(f"{side}_knee", sphere(j["knee"], 0.06 * s))
        add(f"{side}_knee", capsule(j["knee"], j["ankle"], 0.056 * s, 0.04 * s))
        add(f"{side}_ankle", sphere(j["ankle"], 0.044 * s))
        # Foot: heel behind the ankle to the ball (the foot joint), sole a little under the ball.
        sole = j["foot"][2] - SOLE_BELOW_FOOT_JOINT * s
        heel = np.array([j["ankle"][0], j["ankle"][1] + 0.035 * s, sole + 0.035 * s])
        ball = np.array([j["foot"][0], j["foot"][1], sole + 0.035 * s])
        foot_length = np.linalg.norm(ball - heel) / s
        add(f"{side}_ankle", oriented((heel + ball) / 2, ball - heel, (0.045, 0.036, 0.6 * foot_length)))
        toe = ball + np.array([0.0, -0.04 * s, -0.008 * s])
        add(f"{side}_foot", oriented(toe, ball - heel, (0.044, 0.026, 0.055)))

        add(f"{side}_collar", capsule(j["collar"], j["shoulder"], 0.055 * s, 0.058 * s))
        add(f"{side}_shoulder", sphere(j["shoulder"], 0.062 * s))
        add(f"{side}_shoulder", capsule(j["shoulder"], j["elbow"], 0.052 * s, 0.042 * s))
        add(f"{side}_elbow", sphere(j["elbow"], 0.043 * s))
        add(f"{side}_elbow", capsule(j["elbow"], j["wrist"], 0.04 * s, 0.03 * s))
        add(f"{side}_wrist", sphere(j["wrist"], 0.031 * s))
        # Hand: a flat palm on the wrist bone, flat fingers on the hand bone; the back of the hand up
        # in the T-pose.
        along = j["hand"] - j["wrist"]
        direction = along / np.linalg.norm(along)
        add(f"{side}_wrist", oriented(j["wrist"] + direction * 0.055 * s, along, (0.045, 0.02, 0.058)))
        add(f"{side}_hand", oriented(j["hand"] + direction * 0.04 * s, along, (0.04, 0.016, 0.05)))
    return parts


def sole_height(skeleton) -> float:
    """How far under its foot joints the mannequin's soles are (for placing a floor)."""
    return SOLE_BELOW_FOOT_JOINT * body_scale(skeleton)


# --- in Blender --------------------------------------------------------------------------------

def mannequin_material():
    """The one wooden material all mannequins share (Workbench shows diffuse_color; Eevee and
    Cycles the Principled BSDF's base colour)."""
    material = bpy.data.materials.get(MATERIAL_NAME)
    if material is None:
        material = bpy.data.materials.new(MATERIAL_NAME)
        material.diffuse_color = WOOD_COLOUR
        material.roughness = 0.6
        tree = material.node_tree
        principled = tree.nodes.get("Principled BSDF") if tree else None
        if principled is not None:
            principled.inputs["Base Color"].default_value = WOOD_COLOUR
    return material


def mannequins_of(armature_obj) -> list:
    """The mannequin objects riding on an armature."""
    return [obj for obj in armature_obj.children if PREVIEW_PROP in obj]


def build_mannequin(armature_obj, name: str | None = None) -> list:
    """Build the mannequin for an LM2D armature (one with the SMPL skeleton stored on it): one mesh
    object per carrying bone, bone-parented, linked into the armature's collections. Returns the objects.
    Needs no UI context and no mode switch: usable from any bpy script."""
    skeleton = armature_skeleton(armature_obj)
    if skeleton is None:
        raise ValueError(f"'{armature_obj.name}' is not an LM2D armature (no SMPL skeleton stored on it)")
    name = name or f"{armature_obj.name} Mannequin"
    by_bone: dict[str, list] = {}
    for bone, vertices, faces in body_parts(skeleton):
        by_bone.setdefault(bone, []).append((vertices, faces))
    material = mannequin_material()
    objects = []
    for bone_name, parts in by_bone.items():
        bone = armature_obj.data.bones[bone_name]
        # A bone child's frame sits at the bone's tail: express the rest-space vertices there.
        to_bone = np.array((bone.matrix_local @ Matrix.Translation((0.0, bone.length, 0.0))).inverted())
        vertices, faces = _joined(parts)
        vertices = vertices @ to_bone[:3, :3].T + to_bone[:3, 3]
        mesh = bpy.data.meshes.new(f"{name}.{bone_name}")
        mesh.from_pydata(vertices.tolist(), [], faces)
        mesh.shade_smooth()
        mesh.materials.append(material)
        obj = bpy.data.objects.new(mesh.name, mesh)
        for collection in armature_obj.users_collection:
            collection.objects.link(obj)
        obj.parent, obj.parent_type, obj.parent_bone = armature_obj, 'BONE', bone_name
        obj[PREVIEW_PROP] = armature_obj.name
        objects.append(obj)
    return objects


def _joined(parts) -> tuple[np.ndarray, list]:
    vertices, faces, offset = [], [], 0
    for part_vertices, part_faces in parts:
        vertices.append(part_vertices)
        faces.extend(tuple(i + offset for i in face) for face in part_faces)
        offset += len(part_vertices)
    return np.vstack(vertices), faces
