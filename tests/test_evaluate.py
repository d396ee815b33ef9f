"""`lm2d evaluate` end to end on a tiny real dataset (real audio, motion and LRC from
dance_data.write_dataset) and a tiny checkpoint trained by `lm2d train` for two steps."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dance_data import CLIPS, write_dataset

from lm2d.cli import main
from lm2d.evaluation.body_usage import FIELD_NAMES as BODY_USAGE_FIELDS
from lm2d.evaluation.evaluate import feature_segments, runs_for_checkpoint
from lm2d.motion.retime import DEFAULT_STRENGTH

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "tiny.json"



@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory, shared_data, cache_root) -> Path:
    return write_dataset(tmp_path_factory.mktemp("eval_data"), shared_data, clips=CLIPS, test_clips=CLIPS[:2])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, dataset_root) -> Path:
    run = tmp_path_factory.mktemp("eval_run")
    assert main(["train", "--config", str(TINY_CONFIG), "--data", str(dataset_root), "--out", str(run),
                 "--steps", "2", "--batch-size", "2", "--device", "cpu", "--no-progress"]) == 0
    return run / "checkpoint"


@pytest.fixture(scope="module")
def matcher(tmp_path_factory, dataset_root) -> Path:
    out = tmp_path_factory.mktemp("matcher") / "matcher"
    assert main(["train-matcher", "--data", str(dataset_root), "--out", str(out), "--steps", "5",
                 "--width", "16", "--embed-dim", "16"]) == 0
    return out.with_suffix(".safetensors")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_evaluate_scores_ground_truth_and_a_checkpoint(tmp_path, dataset_root, checkpoint, matcher, capsys):
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(dataset_root), "--ddim-steps", "2", "--matcher", str(matcher),
            "--out", str(out), str(checkpoint)]
    assert main(args) == 0
    label = f"{checkpoint.parent.name}/ddim2"          # the training run's folder names the model
    printed = capsys.readouterr().out
    assert "ground truth" in printed and label in printed and "shuffled in time" in printed

    rows = read_csv(out / "results.csv")
    # The network's row and, from the same samples, the dances as lm2d generate writes them.
    assert [row["label"] for row in rows] == ["ground truth", label, f"{label}+accent{DEFAULT_STRENGTH:g}+footlock"]
    assert rows[2]["bas"] != rows[1]["bas"]
    for row in rows:
        for metric in ("bas", "pfc", "fid_k", "fid_g", "div_k", "div_g", "sm_cosine", "sm_top1", "sm_top3"):
            assert np.isfinite(float(row[metric])), (row["label"], metric)
        assert 0 <= float(row["bas"]) <= 1
        for metric in BODY_USAGE_FIELDS:
            assert np.isfinite(float(row[metric])), (row["label"], metric)
    assert rows[1]["seconds_per_song"] and not rows[0]["seconds_per_song"]
    assert float(rows[2]["seconds_per_song"]) >= float(rows[1]["seconds_per_song"])
    assert {r["song"] for r in read_csv(out / "per_song.csv")} == {"sugar", "vibe"}
    markdown = (out / "results.md").read_text()
    assert "| ground truth |" in markdown and "docs/METRICS.md" in markdown
    assert "## Body usage" in markdown and "hip yaw °/s" in printed
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == ["beats_sugar.png", "beats_vibe.png", "metrics.png"]
    assert all((out / "plots" / name).read_bytes()[:4] == b"\x89PNG" for name in plots)

    # Fixed seeds: a second evaluation reproduces every number.
    again = tmp_path / "again"
    assert main(args[:-3] + ["--out", str(again), str(checkpoint)]) == 0
    assert read_csv(again / "results.csv")[1] | {"seconds_per_song": ""} == rows[1] | {"seconds_per_song": ""}


def test_evaluate_adds_real_mocap_reference_rows(tmp_path, dataset_root, shared_data, capsys):
    """Body usage of the ground truth beside real captures: an FBX read on the fly and a result file."""
    from lm2d.evaluation.body_usage import body_usage
    from lm2d.motion.io import load_motion, save_result_npz

    sample = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")
    clip = tmp_path / "sample_clip.npz"
    save_result_npz(sample, clip)
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(dataset_root), "--max-songs", "1", "--out", str(out),
                 "--reference-motion", str(shared_data / "motion" / "cmu_55_01_dance.fbx"),
                 "--reference-motion", str(clip)]) == 0
    rows = read_csv(out / "results.csv")
    assert [(row["label"], row["sampler"]) for row in rows] == [
        ("ground truth", ""), ("real: cmu_55_01_dance", "mocap"), ("real: sample_clip", "mocap")]
    assert rows[1]["bas"] == "" and float(rows[1]["hip_yaw_rate"]) == pytest.approx(130.4, abs=2.0)
    assert float(rows[2]["wrist_speed"]) == pytest.approx(body_usage(sample.joints())["wrist_speed"], rel=1e-5)
    markdown = (out / "results.md").read_text()
    body_table = markdown.split("## Body usage")[1]
    assert "| real: cmu_55_01_dance | mocap |" in body_table and "| ground truth |" in body_table
    assert "real: cmu_55_01_dance" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(dataset_root), "--out", str(out),
                 "--reference-motion", str(tmp_path / "gone.fbx")]) == 2
    assert "gone.fbx: motion capture file not found" in capsys.readouterr().err


def test_evaluate_saves_generated_dances_as_result_files(tmp_path, dataset_root, checkpoint):
    from lm2d.motion.io import load_result_npz

    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(dataset_root), "--ddim-steps", "1", "--max-songs", "1",
                 "--save-motions", "--beat-accent", "0", "--no-foot-lock", "--out", str(out), str(checkpoint)]) == 0
    assert [p.name for p in (out / "motions").iterdir()] == [f"{checkpoint.parent.name}_ddim1"]
    motion, lines = load_result_npz(out / "motions" / f"{checkpoint.parent.name}_ddim1" / "sugar.npz")
    assert motion.n_frames == 240 and [text for _, _, text in lines] == ["Tiptoe softly", "twirl like snow"]


def test_steps_before_the_checkpoints_leaves_them_checkpoints(tmp_path, dataset_root, checkpoint, capsys):
    """`--steps 1 CKPT CKPT` once swallowed the checkpoints as step counts; it takes one comma list."""
    from lm2d.cli import build_parser

    args = build_parser().parse_args(["evaluate", "--data", "d", "--steps", "1,2,4", "a", "b"])
    assert args.steps == [1, 2, 4] and args.checkpoints == [Path("a"), Path("b")]
    student = REPO / "server" / "lm2d" / "checkpoints" / "default"   # the shipped distilled model
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(dataset_root), "--max-songs", "1", "--ddim-steps", "1", "--beat-accent",
                 "0", "--no-foot-lock", "--out", str(out), "--steps", "1", str(student), str(checkpoint)]) == 0
    assert [row["label"] for row in read_csv(out / "results.csv")] == [
        "ground truth", "default/cm1", f"{checkpoint.parent.name}/ddim1"]
    err = capsys.readouterr().err
    assert "evaluate: 1 songs x 2 runs" in err and "evaluate: 2/2 dances [" in err   # counts and ETA


@pytest.mark.parametrize("steps", ["0", "1,x", "1 2"])
def test_bad_step_lists_are_one_line(steps, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--data", "d", "--steps", steps])
    assert exit_info.value.code == 2 and "--steps" in capsys.readouterr().err


def test_evaluate_reports_bad_input_in_one_line(tmp_path, dataset_root, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "dataset directory not found" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(dataset_root), "--split", "val", "--out", str(tmp_path / "o")]) == 2
    assert "no 'val' split" in capsys.readouterr().err
    not_a_checkpoint = tmp_path / "model.safetensors"
    not_a_checkpoint.write_bytes(b"junk")
    assert main(["evaluate", "--data", str(dataset_root), "--out", str(tmp_path / "o"), str(not_a_checkpoint)]) == 2
    assert "not an LM2D checkpoint" in capsys.readouterr().err


def test_runs_cover_ddim_for_teachers_and_each_step_count_for_students():
    teacher = runs_for_checkpoint(Path("runs/teacher/checkpoint"), "diffusion", ddim_steps=50)
    assert [(r.label, r.sampler, r.steps) for r in teacher] == [("teacher/ddim50", "ddim", 50)]
    student = runs_for_checkpoint(Path("student.safetensors"), "consistency", consistency_steps=(1, 2, 4))
    assert [(r.label, r.sampler, r.steps) for r in student] == [
        ("student/cm1", "consistency", 1), ("student/cm2", "consistency", 2), ("student/cm4", "consistency", 4)]


def test_two_checkpoints_with_one_name_get_distinct_labels():
    from lm2d.commands.evaluate import unique_names

    assert unique_names(["teacher", "student", "teacher"]) == ["teacher", "student", "teacher#2"]


def test_feature_segments_are_20_second_pieces():
    song = np.zeros((1500, 24, 3))
    assert [len(s) for s in feature_segments(song)] == [600, 600]
    assert [len(s) for s in feature_segments(song[:400])] == [400]
