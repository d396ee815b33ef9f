"""The validation layer: one module per kind of input, each checking finiteness, ranges, sizes
and types against lm2d.limits *before* anything of that size is allocated, and raising one
LM2DError line that names the file (and line) and what is wrong.

    numbers     CLI and protocol numbers (finite, in range; argparse types)
    motion      motion and result .npz files (header-declared sizes, fps, frames, finite values)
    lyrics      lyric times and the digits they are written with
    documents   JSON documents (model.json, lyrics .json): size and nesting depth
    checkpoint  model.json's fields (types, ranges) and the weights' finiteness

The add-on reads result files with its own numpy-only copy of the result checks
(lm2d_blender/result_file.py); tests/test_drift.py keeps the two in step."""
