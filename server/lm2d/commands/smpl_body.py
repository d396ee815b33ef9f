"""`lm2d smpl-body MODEL -o body.npz`: the real SMPL body mesh and its skinning weights, from the
user's own licensed SMPL model file (through smplx), for the Blender add-on.

The add-on never imports torch or smplx: it reads this file (numpy only) and builds a mesh with a
vertex group per SMPL joint and an Armature modifier (lm2d_blender/smpl_body.py). Nothing is
shipped or downloaded: the model file comes from https://smpl.is.tue.mpg.de under its licence.

File written (Z-up metres, the pelvis joint at the origin, SMPL joint order):
    vertices (V, 3) float32   faces (F, 3) int32   weights (V, 24) float32
    joint_names (24,) str     rest_positions (24, 3) float32 (the model's own joints)"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lm2d.errors import LM2DError

HELP = "write the SMPL body mesh and skinning weights from your licensed SMPL model file, for the add-on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="an SMPL model file (.pkl, e.g. SMPL_NEUTRAL.pkl), "
                                                 "or a folder with SMPL_<GENDER>.pkl")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the body file to write (.npz)")
    parser.add_argument("--gender", choices=("neutral", "female", "male"), default="neutral",
                        help="which model file a folder's gender picks (default neutral)")


def smpl_rest_body(model_path: Path, gender: str = "neutral") -> dict[str, np.ndarray]:
    """The SMPL template mesh in its rest pose (zero shape), skinning weights and joints, Z-up."""
    import smplx
    import torch

    from lm2d.motion.skeleton import JOINT_NAMES

    if not model_path.exists():
        raise LM2DError("no such SMPL model file or folder", path=model_path)
    try:
        model = smplx.SMPL(model_path=str(model_path), gender=gender)
    except Exception as err:   # smplx reports a bad file in many ways (pickle, keys, shapes)
        raise LM2DError(f"not a readable SMPL model file ({type(err).__name__}: {err})", path=model_path) from err
    with torch.no_grad():
        output = model()
    vertices = output.vertices[0].numpy().astype(np.float64)
    joints = output.joints[0, :len(JOINT_NAMES)].numpy().astype(np.float64)
    y_up_to_z_up = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])   # +90 degrees about X
    pelvis = joints[0]
    return {
        "vertices": ((vertices - pelvis) @ y_up_to_z_up.T).astype(np.float32),
        "faces": np.asarray(model.faces, dtype=np.int32),
        "weights": model.lbs_weights.numpy().astype(np.float32),
        "joint_names": np.array(JOINT_NAMES),
        "rest_positions": ((joints - pelvis) @ y_up_to_z_up.T).astype(np.float32),
    }


def run(args: argparse.Namespace) -> int:
    body = smpl_rest_body(args.model, args.gender)
    from lm2d.motion.io import save_npz_atomically

    save_npz_atomically(args.output, body)
    print(f"{args.output}: SMPL body, {len(body['vertices'])} vertices, {len(body['faces'])} faces, "
          f"{body['weights'].shape[1]} joints")
    return 0
