"""The real SMPL body instead of the mannequin, for users with the licensed SMPL model files.

`lm2d smpl-body SMPL_NEUTRAL.pkl -o body.npz` (the server side, through smplx) writes the template
mesh, its faces and its skinning weights; the add-on reads that file with numpy only, builds one
mesh with a vertex group per SMPL joint and lets an Armature modifier deform it. The add-on
preferences' SMPL Body file picks it for new dancers; without one they get the mannequin."""
from __future__ import annotations

import bpy
import numpy as np

from .armature import PREVIEW_PROP, armature_skeleton
from .mannequin import mannequin_material

MIN_WEIGHT = 1e-4       # smaller skinning weights are left out of the vertex groups
BODY_KEYS = ("vertices", "faces", "weights", "joint_names", "rest_positions")


def read_smpl_body(path: str) -> dict[str, np.ndarray]:
    """The arrays of a body file. Raises ValueError naming the file and what is wrong."""
    try:
        with np.load(path) as data:
            body = {key: data[key] for key in BODY_KEYS}
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not an SMPL body file from `lm2d smpl-body` ({err})") from err
    vertices, faces, weights = body["vertices"], body["faces"], body["weights"]
    if (vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3
            or weights.shape != (len(vertices), len(body["joint_names"]))
            or faces.size == 0 or faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"{path}: SMPL body arrays do not fit together (vertices {vertices.shape}, "
                         f"faces {faces.shape}, weights {weights.shape})")
    return body


def build_smpl_body(armature_obj, path: str):
    """The SMPL body from `path` on an LM2D armature, deformed by it. Returns the mesh object."""
    skeleton = armature_skeleton(armature_obj)
    if skeleton is None:
        raise ValueError(f"'{armature_obj.name}' is not an LM2D armature (no SMPL skeleton stored on it)")
    body = read_smpl_body(path)
    names = [str(name) for name in body["joint_names"]]
    missing = sorted(set(names) - set(skeleton.joint_names))
    if missing:
        raise ValueError(f"{path}: joints {missing} are not bones of '{armature_obj.name}'")
    # The file's pelvis sits at its origin; the armature's may not.
    pelvis = skeleton.rest_positions[skeleton.joint_names.index(names[0])]
    vertices = body["vertices"].astype(np.float64) + pelvis
    name = f"{armature_obj.name} SMPL Body"
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices.tolist(), [], body["faces"].tolist())
    mesh.shade_smooth()
    mesh.materials.append(mannequin_material())
    obj = bpy.data.objects.new(name, mesh)
    for collection in armature_obj.users_collection:
        collection.objects.link(obj)
    obj.parent = armature_obj
    obj[PREVIEW_PROP] = armature_obj.name
    weights = body["weights"]
    for joint, joint_name in enumerate(names):
        group = obj.vertex_groups.new(name=joint_name)
        for vertex in np.flatnonzero(weights[:, joint] > MIN_WEIGHT):
            group.add([int(vertex)], float(weights[vertex, joint]), 'REPLACE')
    obj.modifiers.new("Armature", 'ARMATURE').object = armature_obj
    return obj
