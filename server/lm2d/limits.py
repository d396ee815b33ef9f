"""The bounds every input is checked against, in one table (docs/ARCHITECTURE.md "Limits").

They exist so that no file or number a user can give makes lm2d allocate without bound, divide
by zero or loop for hours: a size is checked against them before anything of that size is
allocated. The add-on cannot import lm2d, so lm2d_blender/result_file.py keeps its own copy of
the result-file bounds; tests/test_drift.py fails when the two drift apart."""
from __future__ import annotations

# --- time and rates ---
MIN_FPS = 1.0                      # frame rates of motions, results, --fps / --source-fps
MAX_FPS = 1000.0
MAX_SONG_SECONDS = 30 * 60.0       # songs, lyric times, motions: nothing lasts longer
MAX_FRAMES = int(MAX_SONG_SECONDS * 120)   # 30 min at 120 FPS: any motion, before and after resampling
MIN_RESULT_FRAMES = 2              # a take needs two keys (the add-on's minimum)
MAX_LYRIC_SECONDS = 24 * 3600.0    # a lyric time read without its song (with it: the song's end)

# --- files ---
MAX_LYRICS_BYTES = 4 * 2**20       # a lyrics file; the longest real ones are tens of kB
MAX_LYRIC_LINES = 20_000
MAX_TIME_DIGITS = 9                # digits in one number of a lyrics time tag or header
MAX_JSON_DEPTH = 64                # nesting of model.json and lyrics JSON
MAX_JSON_BYTES = 4 * 2**20         # model.json
MAX_NPZ_MEMBER_BYTES = 1 << 30     # one array of a motion/result .npz, decompressed (header-declared)
MAX_TEXT_CHARS = 10_000            # one lyric line in a result file

# --- numbers ---
MAX_SEED = 2**63 - 1               # torch generators take 64-bit seeds; CLI and server agree
MAX_GUIDANCE = 100.0               # classifier-free guidance weights: |w| beyond this is noise
MAX_STEPS = 1000
MAX_ID_CHARS = 200                 # a protocol request id (string) ...
MAX_ID = 2**63 - 1                 # ... or integer
