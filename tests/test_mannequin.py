"""The mannequin body (lm2d_blender.mannequin) on a real bpy SMPL armature: built from the rest
skeleton, one material, riding on the bones (evaluated vertices move when a bone turns), toggled
from the Dance panel's setting."""
from __future__ import annotations

import math

import bpy
import numpy as np
import pytest
from mathutils import Quaternion

from blender_scenes import evaluated_world_vertices, make_result, new_armature, posed_heads

import lm2d_blender
from lm2d_blender.armature import PREVIEW_PROP, new_dancer
from lm2d_blender.keys import write_take
from lm2d_blender.mannequin import CARRIERS, MATERIAL_NAME, body_parts, build_mannequin, mannequins_of, sole_height
from lm2d_blender.skeleton import shipped_skeleton


@pytest.fixture()
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def body_of(armature) -> dict:
    return {obj.parent_bone: obj for obj in mannequins_of(armature)}


def test_parts_are_closed_outward_surfaces_sized_from_the_skeleton():
    skeleton = shipped_skeleton()
    joint = dict(zip(skeleton.joint_names, skeleton.rest_positions))
    for bone, vertices, faces in body_parts(skeleton):
        assert bone in skeleton.joint_names
        edges = {}
        for face in faces:
            for a, b in zip(face, face[1:] + face[:1]):
                edges[(a, b)] = edges.get((a, b), 0) + 1
        # closed and consistently wound: every directed edge once, and its reverse once
        assert all(count == 1 and edges.get((b, a)) == 1 for (a, b), count in edges.items())
        centre = vertices.mean(axis=0)
        for face in faces[:: max(1, len(faces) // 20)]:
            a, b, c = vertices[list(face[:3])]
            assert np.dot(np.cross(b - a, c - a), a - centre) > 0   # normals point out
    everything = np.vstack([vertices for _, vertices, _ in body_parts(skeleton)])
    assert everything[:, 2].min() == pytest.approx(joint["left_foot"][2] - sole_height(skeleton), abs=0.02)
    assert 0.15 < everything[:, 2].max() - joint["head"][2] < 0.25          # a skull above the head joint
    # Twice as big a skeleton, twice as big a body.
    double = skeleton._replace(rest_positions=skeleton.rest_positions * 2)
    doubled = np.vstack([vertices for _, vertices, _ in body_parts(double)])
    np.testing.assert_allclose(doubled, everything * 2, atol=1e-9)


def test_torso_pieces_meet():
    """Pelvis, belly, chest, neck and head overlap along the spine: no gaps in the body."""
    parts = {}
    for bone, vertices, _ in body_parts(shipped_skeleton()):
        parts.setdefault(bone, []).append(vertices)
    spine = ("pelvis", "spine1", "spine3", "head")
    ranges = [(np.vstack(parts[b])[:, 2].min(), np.vstack(parts[b])[:, 2].max()) for b in spine]
    for (_, top), (bottom, _) in zip(ranges, ranges[1:]):
        assert bottom < top - 0.01


def test_mannequin_rides_on_the_bones_with_one_material(scene):
    armature = new_armature()
    armature.location = (1.0, 2.0, 0.5)
    objects = build_mannequin(armature)
    body = body_of(armature)
    carriers = set(shipped_skeleton().joint_names) - set(CARRIERS)
    assert len(body) == len(objects) == len(carriers) == 16 and set(body) == carriers
    assert set(CARRIERS.values()) <= carriers          # a part rides on a bone that has its own object
    assert all(obj.parent == armature and obj.parent_type == 'BONE' and obj[PREVIEW_PROP] == armature.name
               for obj in objects)
    materials = {slot.material for obj in objects for slot in obj.material_slots}
    assert len(materials) == 1 and materials.pop().name == MATERIAL_NAME
    # In the rest pose the vertices sit where the rest-space parts say, moved with the armature.
    rest = np.vstack([vertices for bone, vertices, _ in body_parts(shipped_skeleton()) if bone == "left_elbow"])
    np.testing.assert_allclose(evaluated_world_vertices(body["left_elbow"]), rest + (1.0, 2.0, 0.5), atol=1e-5)

    # Turn the left shoulder: the upper and lower arm follow rigidly, the legs stay.
    before = {bone: evaluated_world_vertices(body[bone]) for bone in ("left_shoulder", "left_wrist", "left_knee")}
    armature.pose.bones["left_shoulder"].rotation_quaternion = Quaternion((1.0, 0.0, 0.0), math.radians(70))   # bone X: across the arm
    bpy.context.view_layer.update()
    after = {bone: evaluated_world_vertices(body[bone]) for bone in before}
    assert np.abs(after["left_wrist"] - before["left_wrist"]).max() > 0.3
    np.testing.assert_allclose(after["left_knee"], before["left_knee"], atol=1e-6)
    pivot = np.array(armature.matrix_world @ armature.pose.bones["left_shoulder"].head)
    for bone in ("left_shoulder", "left_wrist"):    # rigid: distances to the shoulder joint kept
        np.testing.assert_allclose(np.linalg.norm(after[bone] - pivot, axis=1),
                                   np.linalg.norm(before[bone] - pivot, axis=1), atol=1e-5)


def test_mannequin_follows_a_take(scene):
    scene.render.fps = 30
    armature = new_dancer(bpy.context, shipped_skeleton())
    write_take(armature, make_result(frames=12), scene)
    head = body_of(armature)["head"]
    for frame in (1, 9):
        heads = posed_heads(armature, frame)
        skull = evaluated_world_vertices(head)
        joint = heads[shipped_skeleton().joint_names.index("head")]
        assert np.linalg.norm(skull.mean(axis=0) - joint) < 0.12   # the skull stays on the head joint


def test_the_dance_panel_toggle_hides_shows_and_builds(scene):
    lm2d_blender.register()
    try:
        settings = scene.lm2d
        armature = new_dancer(bpy.context, shipped_skeleton())
        bare = new_dancer(bpy.context, shipped_skeleton(), preview_mesh=False)
        assert len(mannequins_of(armature)) == 16 and mannequins_of(bare) == []
        settings.show_mannequin = False
        assert all(obj.hide_render and obj.hide_viewport for obj in mannequins_of(armature))
        hidden_from_start = new_dancer(bpy.context, shipped_skeleton())
        assert all(obj.hide_render for obj in mannequins_of(hidden_from_start))
        settings.show_mannequin = True
        for dancer in (armature, bare, hidden_from_start):
            assert len(mannequins_of(dancer)) == 16
            assert not any(obj.hide_render or obj.hide_viewport for obj in mannequins_of(dancer))
    finally:
        lm2d_blender.unregister()


def test_only_lm2d_armatures_get_a_mannequin(scene):
    plain = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    scene.collection.objects.link(plain)
    with pytest.raises(ValueError, match="not an LM2D armature"):
        build_mannequin(plain)
