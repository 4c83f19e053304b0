"""The end-to-end benchmark times every stage of the video pipeline on a generated clip, and the
bundled recipe's training figure draws from a run's history."""

import numpy as np
import pytest

from cmr import REPO_ROOT

COMPACT = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"


@pytest.mark.slow
def test_every_stage_of_a_frame_is_timed_and_the_fit_only_when_asked(hand_detector, tmp_path):
    from cmr.bench.realtime import STAGES, time_clip
    from cmr.bench.video import CLIP_FOV_DEG, CLIP_SIZE, write_generated_clip
    from cmr.engine.inputs import open_video, video_frames
    from cmr.geometry.camera import intrinsics_from_fov

    truth = write_generated_clip(tmp_path / "clip.avi", 3)
    frames = [frame for _, frame in video_frames(open_video(str(tmp_path / "clip.avi"))[0])]
    K = intrinsics_from_fov(*CLIP_SIZE, CLIP_FOV_DEG)
    with_fit, hands, seconds, wrists = time_clip(frames, K, COMPACT, ["DEMO.PASSES", "0", "VIDEO.TRACK_AHEAD", "False"])
    assert hands == 3 and set(with_fit) <= set(STAGES)
    assert all(with_fit[stage] > 0 for stage in ("tracking", "network", "crops + registration", "fit"))
    assert sum(with_fit.values()) <= seconds  # in turn: the stages do not overlap
    assert np.linalg.norm(wrists - truth, axis=1).max() < 0.3  # the hand is where the clip put it
    without, _, _, _ = time_clip(frames, K, COMPACT, ["DEMO.PASSES", "0", "FITTING.ENABLED", "False"])
    assert without.get("fit", 0.0) == 0.0 and without["network"] > 0 and without["tracking"] > 0


@pytest.mark.slow
def test_the_silhouette_step_every_third_frame_keeps_the_hand_on_its_path(hand_detector, tmp_path):
    from cmr.bench.realtime import time_clip
    from cmr.bench.video import CLIP_FOV_DEG, CLIP_SIZE, write_generated_clip
    from cmr.engine.inputs import open_video, video_frames
    from cmr.geometry.camera import intrinsics_from_fov

    truth = write_generated_clip(tmp_path / "clip.avi", 4)
    frames = [frame for _, frame in video_frames(open_video(str(tmp_path / "clip.avi"))[0])]
    overrides = ["DEMO.PASSES", "0", "FITTING.ENABLED", "False", "VIDEO.SILHOUETTE_EVERY", "3", "VIDEO.TRACK_AHEAD", "False"]
    totals, hands, _, wrists = time_clip(frames, intrinsics_from_fov(*CLIP_SIZE, CLIP_FOV_DEG), COMPACT, overrides)
    assert hands == 4 and totals["crops + registration"] > 0
    assert np.linalg.norm(wrists - truth, axis=1).max() < 0.3  # frames 1, 2 carry frame 0's depth


@pytest.mark.slow
def test_the_onnxruntime_network_is_timed(hand_detector, tmp_path):
    from cmr.bench.realtime import ONNX_GRAPH, SETTINGS, setting_overrides, time_clip
    from cmr.bench.video import CLIP_FOV_DEG, CLIP_SIZE, write_generated_clip
    from cmr.engine.checkpoint import open_run
    from cmr.engine.inputs import open_video, video_frames
    from cmr.geometry.camera import intrinsics_from_fov
    from cmr.models.onnx_graph import export_onnx

    write_generated_clip(tmp_path / "clip.avi", 2)
    frames = [frame for _, frame in video_frames(open_video(str(tmp_path / "clip.avi"))[0])]
    loaded = open_run(COMPACT, None, ["DEVICE", "cpu"])
    graph = export_onnx(loaded.model, loaded.template.joint_regressor, loaded.cfg.MODEL.INPUT_SIZE, tmp_path / "n.onnx")
    overrides = setting_overrides(SETTINGS["+ one landmark pass"], graph, 1)
    assert ONNX_GRAPH not in overrides and str(graph) in overrides and overrides[:2] == ["NUM_THREADS", "1"]
    totals, hands, _, wrists = time_clip(frames, intrinsics_from_fov(*CLIP_SIZE, CLIP_FOV_DEG), COMPACT, overrides)
    assert hands == 2 and totals["network"] > 0 and np.isfinite(wrists).all()


def test_the_training_figure_is_drawn_from_the_history(tmp_path):
    from cmr.tools.bundled import training_figure

    history = [{"step_losses": list(np.linspace(3, 2, 30)), "val_pa_mpjpe_mm": 40.0 - epoch, "val_pa_mpvpe_mm": 38.0 - epoch}
               for epoch in range(3)]
    training_figure(history, 32, tmp_path / "curves.png")
    training_figure(history, 32, tmp_path / "stages.png", stage_starts=(2,))
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert (tmp_path / "stages.png").read_bytes() != (tmp_path / "curves.png").read_bytes()
    history[-1].update(trained_val_pa_mpjpe_mm=39.0, trained_val_pa_mpvpe_mm=37.5)  # an averaged epoch
    training_figure(history, 32, tmp_path / "averaged.png", stage_starts=(2,))
    assert (tmp_path / "averaged.png").read_bytes() != (tmp_path / "stages.png").read_bytes()
