"""The optional real SMPL body: `lm2d smpl-body` (server side, through the real smplx) turns an
SMPL model file into the add-on's body file, and the add-on (numpy only) builds a skinned mesh
from it that the armature deforms.

The licensed SMPL files cannot be shipped or downloaded, so the model file here is made by the test
in SMPL's own layout (the pickle smplx reads): 6890 template vertices in clusters around the SMPL
rest joints, one-hot skinning weights, a joint regressor averaging each cluster, zero blend shapes."""
from __future__ import annotations

import pickle
from pathlib import Path

import bpy
import numpy as np
import pytest

from blender_scenes import evaluated_world_vertices

import lm2d_blender
from lm2d.cli import main as lm2d_main
from lm2d.motion.skeleton import JOINT_NAMES, PARENTS
from lm2d_blender.armature import new_dancer
from lm2d_blender.mannequin import MATERIAL_NAME, mannequins_of
from lm2d_blender.skeleton import shipped_skeleton
from lm2d_blender.smpl_body import build_smpl_body

VERTICES = 6890           # smplx picks extra landmarks by SMPL vertex index: the template needs them all


def write_smpl_model(path) -> np.ndarray:
    """An SMPL-layout model file (y-up, as SMPL's); returns each vertex's joint."""
    rng = np.random.default_rng(0)
    rest = shipped_skeleton().rest_positions
    rest_y_up = np.stack([rest[:, 0], rest[:, 2], -rest[:, 1]], axis=1) + [0.0, 0.9, 0.0]
    joint_of = np.arange(VERTICES) % len(JOINT_NAMES)
    offsets = rng.normal(scale=0.03, size=(VERTICES, 3))
    for joint in range(len(JOINT_NAMES)):     # centred clusters: each joint is its cluster's mean
        offsets[joint_of == joint] -= offsets[joint_of == joint].mean(axis=0)
    template = rest_y_up[joint_of] + offsets
    weights = np.eye(len(JOINT_NAMES))[joint_of]
    regressor = weights.T / weights.sum(axis=0)[:, None]
    faces = np.array([(i, i + 24, i + 48) for i in range(VERTICES - 48)], dtype=np.int64)
    model = {"v_template": template, "f": faces, "weights": weights, "J_regressor": regressor,
             "kintree_table": np.array([[p if p >= 0 else 4294967295 for p in PARENTS], range(24)]),
             "shapedirs": np.zeros((VERTICES, 3, 10)), "posedirs": np.zeros((VERTICES, 3, 207))}
    with open(path, "wb") as handle:
        pickle.dump(model, handle)
    return joint_of


@pytest.fixture(scope="module")
def body_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smpl")
    joint_of = write_smpl_model(folder / "SMPL_NEUTRAL.pkl")
    assert lm2d_main(["smpl-body", str(folder / "SMPL_NEUTRAL.pkl"), "-o", str(folder / "body.npz")]) == 0
    return folder / "body.npz", joint_of


def test_smpl_body_file_is_z_up_with_the_models_weights(body_file):
    path, joint_of = body_file
    with np.load(path) as body:
        assert body["vertices"].shape == (VERTICES, 3) and body["faces"].shape[1] == 3
        np.testing.assert_array_equal(body["weights"].argmax(axis=1), joint_of)
        assert list(body["joint_names"]) == list(JOINT_NAMES)
        # The model's own joints, Z-up with the pelvis at the origin: SMPL's rest skeleton.
        np.testing.assert_allclose(body["rest_positions"], shipped_skeleton().rest_positions, atol=1e-4)


def test_smpl_body_deforms_with_the_armature(body_file):
    path, joint_of = body_file
    bpy.ops.wm.read_factory_settings(use_empty=True)
    armature = new_dancer(bpy.context, shipped_skeleton(), preview_mesh=False)
    body = build_smpl_body(armature, str(path))
    assert mannequins_of(armature) == [body] and [s.material.name for s in body.material_slots] == [MATERIAL_NAME]
    assert len(body.vertex_groups) == 24
    rest = evaluated_world_vertices(body)
    elbow = JOINT_NAMES.index("left_elbow")
    pose = armature.pose.bones["left_elbow"]
    pose.rotation_quaternion = (0.7071, 0.7071, 0.0, 0.0)
    bpy.context.view_layer.update()
    posed = evaluated_world_vertices(body)
    moved = np.linalg.norm(posed - rest, axis=1) > 1e-4
    forearm_and_hand = np.isin(joint_of, [elbow, JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("left_hand")])
    assert moved[forearm_and_hand].mean() > 0.9 and not moved[~forearm_and_hand].any()


def test_the_preference_gives_new_dancers_the_smpl_body(body_file, tmp_path):
    """Enabled as a real add-on (from a scripts folder), so it has preferences to set."""
    import addon_utils   # Blender's own module: importable once bpy is

    path, _ = body_file
    (tmp_path / "addons").mkdir()
    (tmp_path / "addons" / "lm2d_blender").symlink_to(Path(lm2d_blender.__file__).parent)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    folders = bpy.context.preferences.filepaths.script_directories
    folder = folders.new()
    folder.directory = str(tmp_path)
    addon_utils.modules_refresh()
    assert addon_utils.enable("lm2d_blender", default_set=True) is not None
    try:
        preferences = bpy.context.preferences.addons["lm2d_blender"].preferences
        plain = new_dancer(bpy.context, shipped_skeleton())
        assert len(mannequins_of(plain)) == 16          # no body file chosen: the mannequin
        preferences.smpl_body_path = str(path)
        dancer = new_dancer(bpy.context, shipped_skeleton())
        assert [obj.name for obj in mannequins_of(dancer)] == [f"{dancer.name} SMPL Body"]
    finally:
        addon_utils.disable("lm2d_blender", default_set=True)
        folders.remove(folder)


def test_bad_files_fail_in_one_line(tmp_path, capsys):
    (tmp_path / "junk.pkl").write_bytes(b"not a model")
    assert lm2d_main(["smpl-body", str(tmp_path / "junk.pkl"), "-o", str(tmp_path / "body.npz")]) == 2
    assert "not a readable SMPL model file" in capsys.readouterr().err
    assert not (tmp_path / "body.npz").exists()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    armature = new_dancer(bpy.context, shipped_skeleton(), preview_mesh=False)
    np.savez(tmp_path / "other.npz", vertices=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not an SMPL body file"):
        build_smpl_body(armature, str(tmp_path / "other.npz"))
