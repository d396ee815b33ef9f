"""Retargeting onto production rigs, in real bpy 5.0.1: bone maps from names (Mixamo, CMU, Rigify,
Unreal, SMPL-X), presets, and a real SMPL take baked onto the CMU mocap rig (read by Blender's FBX
importer) and onto a Rigify metarig, checked joint by joint in the poses Blender evaluates.

Tolerances (all in units of the rig's own limb lengths, so rigs of any size compare):
- Limb segment directions (upper arm, forearm; thigh and shin when legs copy rotations): ≤ 1°.
  Retargeting carries world rotation deltas with a rest alignment onto the source's bone
  directions, so directions agree up to float32 keys (measured ≤ 0.002°); 1° is far above that
  and below a visible difference.
- Wrist (ankle) relative to the shoulder (hip) joint, divided by arm (leg) length: the rigs'
  segments differ in proportion (the CMU upper arm is 63 % of its arm, SMPL's 49 %), and with equal
  directions d1, d2 the normalised end positions differ by exactly |Δa|·|d1 − d2| (Δa: difference of
  the upper segment's share of the limb). Asserted per frame against that bound + 0.01.
- World paths about each rig's origin, divided by leg length: the hip joints' midpoint, and with
  planted feet (the default) the ankles: ≤ 0.01 (the method puts them there exactly; measured
  ≤ 4e-6, float32 keys).
- Foot sliding with planted feet, on the source's contact frames: ≤ the source's own + 0.003 leg
  lengths per frame (≈ 2.5 mm per frame on SMPL's 0.82 m legs).
"""
from __future__ import annotations

import bpy
import addon_utils  # noqa: E402  (importable once bpy has put Blender's script modules on sys.path)
import numpy as np
import pytest

from blender_scenes import evaluated_heads, import_cmu_rig, smpl_take

import lm2d_blender
from lm2d_blender.bone_maps import (BoneMapError, Rig, auto_map, classify, distribute, load_preset, resolve_pairs,
                                    save_preset, shipped_presets, split_name, unmapped_parts)
from lm2d_blender.takes import TAKE_PROP
from lm2d_blender.retarget import armature_rig, constrained_bones, retarget_take, take_frames
from lm2d_blender.skeleton import shipped_skeleton

LIMB_ANGLE_DEGREES = 1.0
LIMB_END_SLACK = 0.01
ROOT_PATH_TOLERANCE = 0.01
FOOT_SLIDE_SLACK = 0.003
LIMBS = {"left leg": ("left_hip", "left_knee", "left_ankle"), "right leg": ("right_hip", "right_knee", "right_ankle"),
         "left arm": ("left_shoulder", "left_elbow", "left_wrist"),
         "right arm": ("right_shoulder", "right_elbow", "right_wrist")}

# Standard hierarchies of rigs not available as files here: (bone, parent). Mixamo's as its FBX
# files name them (namespace "mixamorig:"), Unreal Engine 4's mannequin with its twist and IK bones.
MIXAMO = [("Hips", None), ("Spine", "Hips"), ("Spine1", "Spine"), ("Spine2", "Spine1"), ("Neck", "Spine2"),
          ("Head", "Neck"), ("HeadTop_End", "Head")]
UNREAL = [("root", None), ("pelvis", "root"), ("spine_01", "pelvis"), ("spine_02", "spine_01"),
          ("spine_03", "spine_02"), ("neck_01", "spine_03"), ("head", "neck_01"), ("ik_foot_root", "root"),
          ("ik_hand_root", "root"), ("ik_hand_gun", "ik_hand_root")]
for side, s in (("Left", "l"), ("Right", "r")):
    MIXAMO += [(f"{side}Shoulder", "Spine2"), (f"{side}Arm", f"{side}Shoulder"), (f"{side}ForeArm", f"{side}Arm"),
               (f"{side}Hand", f"{side}ForeArm"), (f"{side}HandIndex1", f"{side}Hand"),
               (f"{side}UpLeg", "Hips"), (f"{side}Leg", f"{side}UpLeg"), (f"{side}Foot", f"{side}Leg"),
               (f"{side}ToeBase", f"{side}Foot"), (f"{side}Toe_End", f"{side}ToeBase")]
    UNREAL += [(f"clavicle_{s}", "spine_03"), (f"upperarm_{s}", f"clavicle_{s}"), (f"lowerarm_{s}", f"upperarm_{s}"),
               (f"hand_{s}", f"lowerarm_{s}"), (f"upperarm_twist_01_{s}", f"upperarm_{s}"),
               (f"lowerarm_twist_01_{s}", f"lowerarm_{s}"), (f"thumb_01_{s}", f"hand_{s}"),
               (f"thigh_{s}", "pelvis"), (f"calf_{s}", f"thigh_{s}"), (f"foot_{s}", f"calf_{s}"),
               (f"ball_{s}", f"foot_{s}"), (f"thigh_twist_01_{s}", f"thigh_{s}"), (f"ik_foot_{s}", "ik_foot_root")]
MIXAMO = [(f"mixamorig:{b}", p and f"mixamorig:{p}") for b, p in MIXAMO]


def smpl_rig() -> Rig:
    skeleton = shipped_skeleton()
    return Rig.from_pairs((name, skeleton.joint_names[p] if p >= 0 else None)
                          for name, p in zip(skeleton.joint_names, skeleton.parents))


def preset_pairs(stem: str) -> list[tuple[str, str]]:
    path = next(p for p in shipped_presets() if p.stem == stem)
    return load_preset(path)[1]


# --- names and maps (no scene needed) --------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("mixamorig:LeftUpLeg", ("left", "upleg", None, "")),
    ("mixamorig1:Spine2", ("", "spine", 2, "")),
    ("LHipJoint", ("left", "hipjoint", None, "")),
    ("LowerBack", ("", "lowerback", None, "")),
    ("thigh.L", ("left", "thigh", None, "")),
    ("DEF-thigh.L.001", ("left", "thigh001", None, "def")),    # the thigh's second deform segment
    ("ORG-upper_arm.R", ("right", "upperarm", None, "org")),
    ("upper_arm_fk.L", ("left", "upperarm", None, "fk")),
    ("spine.003", ("", "spine", 3, "")),
    ("spine_fk.001", ("", "spine", 1, "fk")),
    ("clavicle_l", ("left", "clavicle", None, "")),
    ("ball_r", ("right", "ball", None, "")),
    ("left_collar", ("left", "collar", None, "")),
    ("Bip01 L Thigh", ("left", "thigh", None, "")),
    ("HandRight", ("right", "hand", None, "")),
    ("Root", ("", "root", None, "")),
])
def test_split_name(name, expected):
    assert tuple(split_name(name)) == expected


def test_mixamo_and_unreal_names_map_to_smpl_parts():
    smpl = smpl_rig()
    mixamo = dict((t, s) for s, t in auto_map(smpl, Rig.from_pairs(MIXAMO)))
    # The words that mean different joints in SMPL and in segment-named rigs.
    assert mixamo["mixamorig:LeftShoulder"] == "left_collar" and mixamo["mixamorig:LeftArm"] == "left_shoulder"
    assert mixamo["mixamorig:LeftFoot"] == "left_ankle" and mixamo["mixamorig:LeftToeBase"] == "left_foot"
    assert mixamo["mixamorig:RightHand"] == "right_wrist" and "mixamorig:RightHandIndex1" not in mixamo
    assert [mixamo[f"mixamorig:{b}"] for b in ("Hips", "Spine", "Spine1", "Spine2", "Neck", "Head")] \
        == ["pelvis", "spine1", "spine2", "spine3", "neck", "head"]
    unreal = dict((t, s) for s, t in auto_map(smpl, Rig.from_pairs(UNREAL)))
    assert unreal["clavicle_r"] == "right_collar" and unreal["upperarm_r"] == "right_shoulder"
    assert unreal["calf_l"] == "left_knee" and unreal["ball_l"] == "left_foot" and unreal["pelvis"] == "pelvis"
    assert not {"root", "ik_foot_l", "thigh_twist_01_l", "upperarm_twist_01_r", "thumb_01_l"} & set(unreal)
    assert len(unreal) == 22
    assert unmapped_parts(smpl, auto_map(smpl, Rig.from_pairs(UNREAL))) == []
    headless = Rig.from_pairs([(b, p) for b, p in UNREAL if b not in ("neck_01", "head")])
    assert unmapped_parts(smpl, auto_map(smpl, headless)) == ["neck", "head"]
    # The shipped presets are these maps.
    assert auto_map(smpl, Rig.from_pairs(MIXAMO)) == preset_pairs("mixamo")
    assert auto_map(smpl, Rig.from_pairs(UNREAL)) == preset_pairs("unreal_mannequin")


def test_smplx_names_map_one_to_one_and_spines_distribute():
    smpl = smpl_rig()
    # The SMPL-X add-on's body bones carry the SMPL names; its hands are finger chains.
    smplx = Rig.from_pairs([(name, smpl.names[p] if p >= 0 else None) for name, p in zip(smpl.names, smpl.parents)
                            if name not in ("left_hand", "right_hand")] + [("left_index1", "left_wrist")])
    pairs = auto_map(smpl, smplx)
    assert pairs == preset_pairs("smplx") and all(s == t for s, t in pairs) and len(pairs) == 22
    # A 2-bone spine takes all three SMPL spine joints; a 5-bone one shares them out in order.
    spine2 = Rig.from_pairs([("Hips", None), ("Spine", "Hips"), ("Chest", "Spine"), ("Neck", "Chest")])
    assert [p for p in auto_map(smpl, spine2) if p[1] in ("Spine", "Chest")] \
        == [("spine1", "Spine"), ("spine2", "Spine"), ("spine3", "Chest")]
    assert distribute([1, 2, 3], [10, 11, 12, 13, 14]) == [(1, 10), (1, 11), (2, 12), (2, 13), (3, 14)]
    assert classify(spine2)["spine"] == [1, 2]


def test_presets_save_load_and_fit_renamed_rigs(tmp_path):
    pairs = [("pelvis", "mixamorig:Hips"), ("left_hip", "mixamorig:LeftUpLeg")]
    save_preset(tmp_path / "mine.json", pairs, name="My rig")
    assert load_preset(tmp_path / "mine.json") == ("My rig", pairs)
    # A second Mixamo character in one file is "mixamorig1:"; a missing bone is reported, not guessed.
    usable, unfit = resolve_pairs(pairs + [("head", "mixamorig:Head")], ["pelvis", "left_hip", "head"],
                                  ["mixamorig1:Hips", "mixamorig1:LeftUpLeg"])
    assert usable == [("pelvis", "mixamorig1:Hips"), ("left_hip", "mixamorig1:LeftUpLeg")]
    assert unfit == [("head", "mixamorig:Head")]
    (tmp_path / "broken.json").write_text('{"format": "lm2d-bone-map",\n "version": 1, "pairs": [}')
    with pytest.raises(BoneMapError, match=r"broken\.json:2: not JSON"):
        load_preset(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text('{"format": "lm2d-bone-map", "version": 1, "pairs": [["a"]]}')
    with pytest.raises(BoneMapError, match=r"other\.json: \"pairs\" must be a list"):
        load_preset(tmp_path / "other.json")
    with pytest.raises(BoneMapError, match=r"gone\.json: no such bone map preset"):
        load_preset(tmp_path / "gone.json")
    assert {p.stem for p in shipped_presets()} >= {"cmu", "mixamo", "rigify_metarig", "unreal_mannequin", "smplx"}
    for path in shipped_presets():
        _, preset = load_preset(path)
        assert {s for s, _ in preset} <= set(smpl_rig().names), path.name


# --- takes on real rigs --------------------------------------------------------------------------





def add_rigify_metarig():
    addon_utils.enable("rigify", default_set=True)
    assert bpy.ops.object.armature_human_metarig_add() == {'FINISHED'}
    return bpy.context.active_object


def action_keys(action) -> dict:
    """Every F-curve's keys of an action (all slots), to compare before and after."""
    keys = {}
    for layer in action.layers:
        for strip in layer.strips:
            for channelbag in strip.channelbags:
                for fcurve in channelbag.fcurves:
                    co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
                    fcurve.keyframe_points.foreach_get("co", co)
                    keys[(fcurve.data_path, fcurve.array_index)] = co
    return keys


def scene_state():
    return ({obj.name for obj in bpy.data.objects},
            sum(len(pose_bone.constraints) for obj in bpy.data.objects if obj.pose for pose_bone in obj.pose.bones)
            + sum(len(obj.constraints) for obj in bpy.data.objects))




def rest_heads(obj, names) -> np.ndarray:
    return np.array([obj.matrix_world @ obj.data.bones[name].head_local for name in names])


def compare_poses(source, target, pairs, frames) -> dict:
    """Measure how the target's evaluated poses follow the source's (module docstring)."""
    target_of = {}
    for s, t in pairs:
        target_of.setdefault(s, t)
    joints = sorted({j for limb in LIMBS.values() for j in limb} | {"left_foot", "right_foot"})
    index = {j: i for i, j in enumerate(joints)}
    source_heads = evaluated_heads(source, joints, frames)
    target_heads = evaluated_heads(target, [target_of[j] for j in joints], frames)
    source_rest, target_rest = rest_heads(source, joints), rest_heads(target, [target_of[j] for j in joints])
    report = {}
    for limb, (a, b, c) in LIMBS.items():
        ia, ib, ic = index[a], index[b], index[c]

        def segments(heads, rest):
            upper, lower = np.linalg.norm(rest[ib] - rest[ia]), np.linalg.norm(rest[ic] - rest[ib])
            d1, d2 = heads[:, ib] - heads[:, ia], heads[:, ic] - heads[:, ib]
            return (d1 / np.linalg.norm(d1, axis=-1, keepdims=True), d2 / np.linalg.norm(d2, axis=-1, keepdims=True),
                    upper / (upper + lower), (heads[:, ic] - heads[:, ia]) / (upper + lower), upper + lower)

        s1, s2, s_share, s_end, s_length = segments(source_heads, source_rest)
        t1, t2, t_share, t_end, t_length = segments(target_heads, target_rest)
        cosines = np.concatenate([np.sum(s1 * t1, -1), np.sum(s2 * t2, -1)])
        error = np.linalg.norm(s_end - t_end, axis=-1)
        bound = abs(s_share - t_share) * np.linalg.norm(s1 - s2, axis=-1) + LIMB_END_SLACK
        report[limb] = {"max angle": np.degrees(np.arccos(np.clip(cosines, -1, 1))).max(),
                        "mean end error": error.mean(), "excess": (error - bound).max(),
                        "length": (s_length, t_length)}

    # World paths about each rig's origin, in leg lengths: hip joints' midpoint, ankles, toes.
    source_leg = np.mean([report[leg]["length"][0] for leg in ("left leg", "right leg")])
    target_leg = np.mean([report[leg]["length"][1] for leg in ("left leg", "right leg")])
    source_path = (source_heads - np.array(source.matrix_world.translation)) / source_leg
    target_path = (target_heads - np.array(target.matrix_world.translation)) / target_leg
    hips = [index["left_hip"], index["right_hip"]]
    report["root path"] = np.linalg.norm(source_path[:, hips].mean(1) - target_path[:, hips].mean(1), axis=-1).max()
    ankles = [index["left_ankle"], index["right_ankle"]]
    report["ankle path"] = np.linalg.norm(source_path[:, ankles] - target_path[:, ankles], axis=-1).max()

    # Foot sliding: horizontal toe travel per frame while the source's toe is on the ground.
    for side in ("left", "right"):
        toe = index[f"{side}_foot"]
        source_toe, target_toe = source_path[:, toe], target_path[:, toe]
        speed = np.linalg.norm(np.diff(source_toe[:, :2], axis=0), axis=-1)
        contact = (source_toe[1:, 2] - source_toe[:, 2].min() < 0.05) & (speed < 0.01)
        target_speed = np.linalg.norm(np.diff(target_toe[:, :2], axis=0), axis=-1)
        report[f"{side} slide"] = (speed[contact].mean(), target_speed[contact].mean(), int(contact.sum()))
    return report


def assert_follows(report, legs_copied: bool) -> None:
    """Arms (and legs when their rotations are copied) point where the source's do; with planted
    feet the ankles are where the source's are; the hips travel the source's path; no extra sliding."""
    for limb in LIMBS if legs_copied else ("left arm", "right arm"):
        assert report[limb]["max angle"] < LIMB_ANGLE_DEGREES, (limb, report[limb])
        assert report[limb]["excess"] <= 0.0, (limb, report[limb])
    assert report["root path"] < ROOT_PATH_TOLERANCE, report["root path"]
    if not legs_copied:
        assert report["ankle path"] < ROOT_PATH_TOLERANCE, report["ankle path"]
        for side in ("left", "right"):
            source_slide, target_slide, contact_frames = report[f"{side} slide"]
            assert contact_frames >= 5
            assert target_slide <= source_slide + FOOT_SLIDE_SLACK, (side, report[f"{side} slide"])


def test_retarget_onto_the_cmu_mocap_rig(shared_data, sample_result):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = import_cmu_rig(shared_data)
    prior = rig.animation_data.action
    prior_keys = action_keys(prior)
    dancer = smpl_take(sample_result)
    objects, constraints = scene_state()

    pairs = auto_map(armature_rig(dancer), armature_rig(rig))
    assert pairs == preset_pairs("cmu")
    action, track, strip = retarget_take(dancer, rig, pairs)

    # A new take on a new NLA track; the rig's own action stays assigned and unchanged.
    assert action[TAKE_PROP] == 2 and track.strips[0] == strip and strip.action == action
    assert rig.animation_data.action == prior
    after = action_keys(prior)
    assert after.keys() == prior_keys.keys()
    assert all(np.array_equal(after[key], prior_keys[key]) for key in prior_keys)
    assert scene_state() == (objects, constraints)
    assert constrained_bones(rig, pairs) == []
    frames = take_frames(action)
    np.testing.assert_array_equal(frames, take_frames(dancer.animation_data.action))

    rig.animation_data.action = None     # show the take (the user's own action overrides it)
    assert_follows(compare_poses(dancer, rig, pairs, frames), legs_copied=False)


@pytest.mark.parametrize("rotation_mode, plant_feet", [('QUATERNION', True), ('YXZ', False)])
def test_retarget_onto_a_rigify_metarig(sample_result, rotation_mode, plant_feet):
    """The metarig's arms hang ~30° below the SMPL T-pose and its bones have their own rolls."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = add_rigify_metarig()
    for pose_bone in rig.pose.bones:
        pose_bone.rotation_mode = rotation_mode
    rig.location = (2.0, -1.0, 0.0)          # away from the dancer: root motion is relative to each origin
    dancer = smpl_take(sample_result)
    objects, constraints = scene_state()
    pairs = auto_map(armature_rig(dancer), armature_rig(rig))
    assert pairs == preset_pairs("rigify_metarig")
    action, _track, _strip = retarget_take(dancer, rig, pairs, plant_feet=plant_feet)
    assert rig.animation_data.action == action        # no action of its own: the take is shown
    channel = "rotation_quaternion" if rotation_mode == 'QUATERNION' else "rotation_euler"
    assert any(key[0].endswith(channel) for key in action_keys(action))
    assert scene_state() == (objects, constraints)
    assert_follows(compare_poses(dancer, rig, pairs, take_frames(action)), legs_copied=not plant_feet)


def test_operators_map_save_load_and_retarget(sample_result, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    lm2d_blender.register()
    try:
        rig = add_rigify_metarig()
        dancer = smpl_take(sample_result)
        bpy.context.view_layer.objects.active = rig
        assert bpy.ops.lm2d.auto_map_bones() == {'FINISHED'}
        assert rig.lm2d_retarget_source is None          # found as the scene's only SMPL dancer
        mapped = [(p.source, p.target) for p in rig.lm2d_bone_map]
        assert mapped == preset_pairs("rigify_metarig")
        rig.lm2d_bone_map_index = 0
        assert bpy.ops.lm2d.bone_map_pair(action='ADD') == {'FINISHED'}
        assert len(rig.lm2d_bone_map) == len(mapped) + 1 and rig.lm2d_bone_map[1].source == ""
        assert bpy.ops.lm2d.bone_map_pair(action='REMOVE') == {'FINISHED'}
        assert [(p.source, p.target) for p in rig.lm2d_bone_map] == mapped
        preset = tmp_path / "metarig.json"
        assert bpy.ops.lm2d.save_bone_map(filepath=str(preset)) == {'FINISHED'}
        rig.lm2d_bone_map.clear()
        assert bpy.ops.lm2d.load_bone_map(filepath=str(preset)) == {'FINISHED'}
        assert [(p.source, p.target) for p in rig.lm2d_bone_map] == mapped
        assert bpy.ops.lm2d.retarget_take() == {'FINISHED'}
        assert rig.animation_data.action is not None and rig.animation_data.action != dancer.animation_data.action
        with pytest.raises(RuntimeError, match=r"nothing\.json: no such bone map preset"):
            bpy.ops.lm2d.load_bone_map(filepath=str(tmp_path / "nothing.json"))
    finally:
        lm2d_blender.unregister()


def test_rigify_generated_rig_maps_fk_controls_and_flags_its_constraints():
    """Rigify's generated rig: limbs map onto the FK controls (not DEF-, ORG-, MCH- or IK bones), and
    the constraint-driven MCH- parents above them are reported, since the retarget cannot follow them."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    assert bpy.ops.object.armature_basic_human_metarig_add() == {'FINISHED'}
    assert bpy.ops.pose.rigify_generate() == {'FINISHED'}
    rig = bpy.data.objects["rig"]
    mapped = dict((s, t) for s, t in auto_map(smpl_rig(), armature_rig(rig)) if "spine" not in s)
    assert mapped == {"pelvis": "hips", "neck": "neck", "head": "head",
                      **{f"{side}_{joint}": f"{bone}.{side[0].upper()}" for side in ("left", "right")
                         for joint, bone in (("hip", "thigh_fk"), ("knee", "shin_fk"), ("ankle", "foot_fk"),
                                             ("foot", "toe_fk"), ("collar", "shoulder"), ("shoulder", "upper_arm_fk"),
                                             ("elbow", "forearm_fk"), ("wrist", "hand_fk"))}}
    assert "MCH-thigh_parent.L" in constrained_bones(rig, list(mapped.items()))
