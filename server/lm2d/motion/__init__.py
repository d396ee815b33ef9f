"""SMPL motion: skeleton, rotations, forward kinematics, the 147-dim vector, file I/O, BVH."""
