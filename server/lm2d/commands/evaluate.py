"""`lm2d evaluate`: score checkpoints (and the ground truth) on a held-out split."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.commands import add_text_model_argument, positive_int, positive_int_list

HELP = "Generate every song of a dataset split with each checkpoint and score them (docs/METRICS.md)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="*", type=Path, metavar="CKPT",
                        help="checkpoint folders or model.safetensors files (none: score the ground truth only)")
    parser.add_argument("--data", type=Path, required=True, help="dataset directory (docs/DATASET.md)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--reference-split", default="train",
                        help="split whose real motion is the FID reference (default: train; "
                             "falls back to --split when the dataset has no such split)")
    parser.add_argument("--matcher", type=Path, help="semantic matcher from `lm2d train-matcher` (.safetensors)")
    parser.add_argument("--gesture-classifier", type=Path,
                        help="gesture classifier from `lm2d train-gesture-classifier` (.safetensors): adds the "
                             "lyric-gesture hit rate (events from the dataset's corpus.json, else its lyrics)")
    parser.add_argument("--ddim-steps", type=positive_int, default=50, help="DDIM steps for diffusion checkpoints")
    parser.add_argument("--steps", type=positive_int_list, default=[1, 2, 4], metavar="K[,K...]",
                        help="step counts for consistency checkpoints, comma-separated (default: 1,2,4)")
    parser.add_argument("--beat-accent", type=float, metavar="A",
                        help="also score every run's dances after beat accent A, as lm2d generate writes "
                             "them (default 0.15, lm2d generate's; 0 and --no-foot-lock: the network's rows only)")
    parser.add_argument("--no-foot-lock", dest="foot_lock", action="store_false",
                        help="score the written dances without foot lock (lm2d generate --no-foot-lock)")
    parser.add_argument("--reference-motion", type=Path, action="append", default=[], metavar="FILE",
                        help="real dance for the body-usage table's reference rows: an imported clip (.npz from "
                             "`lm2d import-mocap`), a .bvh/.fbx capture (imported on the fly, needs bpy) or an "
                             "AIST++ .pkl / AMASS .npz; repeatable")
    parser.add_argument("--seed", type=int, default=0, help="base seed; song i uses seed*1000+i")
    parser.add_argument("--max-songs", type=positive_int, help="evaluate only the first N songs of the split")
    parser.add_argument("--out", type=Path, default=Path("eval_out"),
                        help="folder for results.md, results.csv, per_song.csv, plots/ (default: eval_out)")
    parser.add_argument("--save-motions", action="store_true",
                        help="also write every generated motion as OUT/motions/<run>/<song>.npz")
    parser.add_argument("--device", default="cpu", help="torch device for generation (default: cpu)")
    add_text_model_argument(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from lm2d.errors import LM2DError, warn
    from lm2d.evaluation import evaluate as ev
    from lm2d.evaluation.gesture_classifier import load_gesture_classifier, split_gesture_events
    from lm2d.evaluation.matcher import encode_texts, load_matcher
    from lm2d.evaluation.report import BODY_COLUMNS, format_table
    from lm2d.lyrics import TextEncoder
    from lm2d.model.checkpoint import load_checkpoint
    from lm2d.motion.retime import DEFAULT_STRENGTH, check_strength
    from lm2d.progress import Progress

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    accent = DEFAULT_STRENGTH if args.beat_accent is None else check_strength(args.beat_accent)
    reference_dances = [(label, load_reference_motion(path)) for path, label in
                        zip(args.reference_motion, unique_names([f"real: {p.stem}" for p in args.reference_motion]))]
    encoder = TextEncoder(args.text_model)
    say(f"evaluate: loading the {args.split!r} split of {args.data}")
    songs = ev.load_songs(args.data, args.split, encoder, limit=args.max_songs)
    try:
        reference = [s.joints for s in ev.load_songs(args.data, args.reference_split)]
    except LM2DError as err:
        warn(f"no FID reference split ({err}); using the {args.split!r} split's own ground truth")
        reference = [s.joints for s in songs]

    matcher = text_vectors = None
    if args.matcher is not None:
        matcher = load_matcher(args.matcher)
        if matcher.config.text_encoder and matcher.config.text_encoder != text_encoder_tag(encoder):
            warn(f"the matcher was trained on {matcher.config.text_encoder} embeddings, "
                 f"this run uses {text_encoder_tag(encoder)}", path=args.matcher)
        texts = [t for s in songs for t in ev.song_examples(s.joints, s).texts]
        text_vectors = encode_texts(texts, lambda lines: [e.sentence for e in encoder.encode_lines(lines)])

    gesture_classifier = gesture_events = None
    if args.gesture_classifier is not None:
        gesture_classifier = load_gesture_classifier(args.gesture_classifier)
        gesture_events = split_gesture_events(args.data, args.split)

    sets = [ev.MotionSet(ev.GROUND_TRUTH, "", None, [s.joints for s in songs])]
    names = unique_names([ev.checkpoint_label(path) for path in args.checkpoints])
    # Every checkpoint is read before the first dance: a bad one fails in seconds, and the
    # progress line counts every dance to come.
    models = [load_checkpoint(path, args.device) for path in args.checkpoints]
    runs = [(loaded, model_run) for path, name, loaded in zip(args.checkpoints, names, models)
            for model_run in ev.runs_for_checkpoint(path, loaded.kind, args.ddim_steps, args.steps, name)]
    say(f"evaluate: {len(songs)} songs x {len(runs)} runs ({', '.join(r.label for _, r in runs) or 'none'})")
    with Progress(len(songs) * len(runs), "evaluate", "dances") as progress:
        for loaded, model_run in runs:
            motion_set = ev.generate_set(model_run, loaded, songs, args.seed,
                                         on_song=lambda song, label=model_run.label: progress.update(
                                             1, f"{label}: {song}"))
            written = [ev.as_written_set(motion_set, songs, accent, args.foot_lock)] if accent or args.foot_lock else []
            run_sets = [motion_set] + written
            sets.extend(run_sets)
            if args.save_motions:
                for saved in run_sets:
                    save_motions(args.out / "motions" / ev.file_safe_name(saved.label), songs, saved)
    say("evaluate: scoring")

    evaluation = ev.score_sets(songs, sets, reference, matcher, text_vectors, seed=args.seed,
                               gesture_classifier=gesture_classifier, gesture_events=gesture_events,
                               reference_dances=reference_dances)
    title = f"Evaluation on {args.data.name}/{args.split}"
    written = ev.write_outputs(args.out, evaluation, songs, sets, title)
    print(format_table(evaluation.rows))
    print()
    print(format_table(evaluation.rows + evaluation.reference_rows, BODY_COLUMNS))
    for note in evaluation.notes:
        print(note)
    say(f"evaluate: wrote {len(written)} files under {args.out}")
    return 0


def load_reference_motion(path: Path):
    """(T, 24, 3) joints at 30 FPS of a real capture: BVH/FBX through import-mocap, else load_motion."""
    from lm2d.mocap import FORMATS, import_mocap
    from lm2d.motion.io import load_motion

    motion = import_mocap(path).motion if path.suffix.lower() in FORMATS else load_motion(path)
    return motion.joints()


def unique_names(names: list[str]) -> list[str]:
    """Table labels must differ: a repeated name gets #2, #3, ..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def text_encoder_tag(encoder) -> str:
    """How a matcher records the sentence encoder it was trained on."""
    return f"{encoder.identity['name']}@{encoder.identity['sha']}"


def save_motions(folder: Path, songs, motion_set) -> None:
    """Each generated dance as a result file (opens in the Blender add-on), lyric track included."""
    from lm2d.motion.io import save_result_npz

    for song, motion in zip(songs, motion_set.results):
        save_result_npz(motion, folder / f"{song.song_id}.npz", song.lyric_lines)
