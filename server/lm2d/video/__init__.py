"""Video -> SMPL motion: decode, landmarks, fit, camera, ground, convert (the one path), dataset from videos."""
