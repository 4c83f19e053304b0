"""Training engine: a short run, exact resume, NaN stop, validation, DDP on 2 CPU processes."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from cmr import REPO_ROOT
from cmr.config import load_cfg
from cmr.engine import train as train_module
from cmr.engine.checkpoint import load_checkpoint
from cmr.engine.runs import run_dir
from cmr.engine.train import TrainingDiverged, train
from cmr.models.build import build_model, load_template


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from cmr.data.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, num_training=8, num_evaluation=4, versions=1, seed=0, workers=1, progress=False)
    return root


COMPACT_SYNTH = str(REPO_ROOT / "configs" / "compact_synth.yaml")


def tiny_overrides(root, out, *extra) -> list[str]:
    """The compact model at 64 px, 2 steps of batch 2 per epoch, everything in ``out``."""
    return ["DATA.ROOT", str(root), "OUTPUT_DIR", str(out), "DEVICE", "cpu", "DATA.NUM_WORKERS", "0",
            "MODEL.INPUT_SIZE", "64", "TRAIN.BATCH_SIZE", "2", "TRAIN.MAX_STEPS_PER_EPOCH", "2",
            "TRAIN.EPOCHS", "2", "TRAIN.DECAY_STEP", "[1]", "TEST.BATCH_SIZE", "4", *extra]


def tiny_cfg(root, out, *extra):
    return load_cfg(COMPACT_SYNTH, tiny_overrides(root, out, *extra))


def _step_losses(history):
    return [loss for record in history for loss in record["step_losses"]]


@pytest.mark.slow
def test_resumed_run_repeats_the_uninterrupted_run(tiny_dataset, tmp_path):
    full = train(tiny_cfg(tiny_dataset, tmp_path / "full"))
    full_history = json.loads((run_dir(tiny_cfg(tiny_dataset, tmp_path / "full")) / "history.json").read_text())
    assert full["epochs"] == 2 and len(_step_losses(full_history)) == 4
    assert all(torch.isfinite(torch.tensor(_step_losses(full_history))))
    # Validation ran on the evaluation split (it has ground truth) and picked a best checkpoint.
    assert all("val_pa_mpvpe_mm" in record for record in full_history)
    assert full_history[1]["lr"] == pytest.approx(full_history[0]["lr"] * 0.1)  # decayed after epoch 1

    interrupted = tmp_path / "parts"
    train(tiny_cfg(tiny_dataset, interrupted, "TRAIN.EPOCHS", "1"))
    resumed = train(tiny_cfg(tiny_dataset, interrupted, "TRAIN.RESUME", "last"))
    resumed_history = json.loads((run_dir(tiny_cfg(tiny_dataset, interrupted)) / "history.json").read_text())
    assert _step_losses(resumed_history) == _step_losses(full_history)
    assert resumed["parameter_digest"] == full["parameter_digest"]
    checkpoint = load_checkpoint(run_dir(tiny_cfg(tiny_dataset, interrupted)) / "checkpoints" / "checkpoint_last.pt")
    assert checkpoint["epoch"] == 1 and checkpoint["scheduler"]["last_epoch"] == 2


@pytest.mark.slow
def test_a_run_with_an_average_stores_it_as_the_model_and_resumes_exactly(tiny_dataset, tmp_path):
    ema = ("TRAIN.EMA", "0.5", "TRAIN.DECAY_STEP", "[5]", "TRAIN.LR", "1e-3")
    full = train(tiny_cfg(tiny_dataset, tmp_path / "full", *ema))
    full_folder = run_dir(tiny_cfg(tiny_dataset, tmp_path / "full"))
    stored = load_checkpoint(full_folder / "checkpoints" / "checkpoint_last.pt")
    assert stored["average_updates"] == 4
    weights = [key for key, value in stored["model"].items() if value.is_floating_point()]
    assert any(not torch.equal(stored["model"][key], stored["trained_model"][key]) for key in weights)

    parts = tmp_path / "parts"
    train(tiny_cfg(tiny_dataset, parts, *ema, "TRAIN.EPOCHS", "1"))
    resumed = train(tiny_cfg(tiny_dataset, parts, *ema, "TRAIN.RESUME", "last"))
    assert resumed["parameter_digest"] == full["parameter_digest"]
    again = load_checkpoint(run_dir(tiny_cfg(tiny_dataset, parts)) / "checkpoints" / "checkpoint_last.pt")
    for key in stored["model"]:
        assert torch.equal(again["model"][key], stored["model"][key]), key
    history = json.loads((full_folder / "history.json").read_text())
    resumed_history = json.loads((run_dir(tiny_cfg(tiny_dataset, parts)) / "history.json").read_text())
    for key in ("val_pa_mpvpe_mm", "trained_val_pa_mpvpe_mm"):
        assert [record[key] for record in resumed_history] == [record[key] for record in history]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    cfg = tiny_cfg(tiny_dataset, tmp_path, "TRAIN.EPOCHS", "1")
    train(cfg)
    last = run_dir(cfg) / "checkpoints" / "checkpoint_last.pt"
    before = last.read_bytes()
    real = train_module.total_loss

    def poisoned(*args, **kwargs):
        return real(*args, **kwargs) * float("nan")

    monkeypatch.setattr(train_module, "total_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at epoch 2, step 1.*checkpoint_last.pt"):
        train(tiny_cfg(tiny_dataset, tmp_path, "TRAIN.RESUME", "last"))
    assert last.read_bytes() == before


def test_resume_without_a_checkpoint_names_the_file(tiny_dataset, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint_last.pt"):
        train(tiny_cfg(tiny_dataset, tmp_path, "TRAIN.RESUME", "last"))


def test_an_existing_run_is_only_resumed_never_overwritten(tiny_dataset, tmp_path):
    cfg = tiny_cfg(tiny_dataset, tmp_path, "TRAIN.EPOCHS", "1")
    train(cfg)
    folder = run_dir(cfg)
    before = {name: (folder / name).read_bytes() for name in ("history.json", "checkpoints/checkpoint_last.pt")}
    with pytest.raises(ValueError, match=r"already holds a run .*TRAIN\.RESUME last"):
        train(cfg)
    with pytest.raises(ValueError, match=r"cannot resume with another architecture .*MODEL\.DECODER: cheb vs spiral"):
        train(tiny_cfg(tiny_dataset, tmp_path, "TRAIN.RESUME", "last", "MODEL.DECODER", "cheb"))
    assert before == {name: (folder / name).read_bytes() for name in before}
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="is a regular file"):
        train(tiny_cfg(tiny_dataset, tmp_path / "file" / "out"))


def test_weights_of_another_template_are_refused(tiny_dataset, tmp_path):
    from cmr.engine.checkpoint import save_checkpoint

    cfg = tiny_cfg(tiny_dataset, tmp_path / "run")
    model = build_model(cfg, load_template(cfg.MODEL.TEMPLATE))
    weights = tmp_path / "other.pt"
    save_checkpoint(weights, {"model": model.state_dict(), "cfg": cfg.dump(),
                              "template": {"name": "hand", "checksum": "f" * 64}})
    with pytest.raises(ValueError, match=r"other\.pt was trained with template 'hand' \(checksum ffffffffffffffff\)"):
        train(tiny_cfg(tiny_dataset, tmp_path / "run", "TRAIN.WEIGHTS", str(weights)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank, world_size, port, root, out, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    summary = train(tiny_cfg(root, out, "TRAIN.VALIDATE", "False", "TRAIN.EPOCHS", "1", "TRAIN.SEED", "3"))
    results[rank] = summary["parameter_digest"]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_keeps_parameters_identical(tiny_dataset, tmp_path):
    results = mp.get_context("spawn").Manager().dict()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tiny_dataset), str(tmp_path), results), nprocs=2)
    assert set(results.keys()) == {0, 1}
    assert results[0] == results[1]
    cfg = tiny_cfg(tiny_dataset, tmp_path, "TRAIN.SEED", "3")
    train_module.seed_everything(cfg.TRAIN.SEED)  # as the trainer does before building the model
    initial = build_model(cfg, load_template(cfg.MODEL.TEMPLATE))
    assert train_module.parameter_digest(initial) != results[0]  # the ranks did train
    saved = load_checkpoint(run_dir(cfg) / "checkpoints" / "checkpoint_last.pt")
    initial.load_state_dict(saved["model"])
    assert train_module.parameter_digest(initial) == results[0]  # rank 0 saved what both ranks hold


@pytest.mark.parametrize("variant", ["cmr_sg", "cmr_pg", "cmr_g"])
@pytest.mark.parametrize("decoder", ["spiral", "cheb"])
def test_every_variant_trains_on_a_real_synthetic_batch(tiny_dataset, tmp_path, variant, decoder):
    from torch.utils.data import DataLoader

    from cmr.data.freihand import dataset_from_config
    from cmr.models.losses import compute_losses

    cfg = tiny_cfg(tiny_dataset, tmp_path, "MODEL.NAME", variant, "MODEL.DECODER", decoder)
    template = load_template(cfg.MODEL.TEMPLATE)
    torch.manual_seed(0)
    model = build_model(cfg, template).train()
    dataset = dataset_from_config(cfg, "training", template, augment=True)
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    losses = compute_losses(model(batch["image"]), batch, cfg.LOSS, template.faces[0], template.joint_regressor)
    assert {"mesh_l1", "normal", "edge", "heatmap", "aux_heatmap", "mask"} <= set(losses)
    assert ("aux_mask" in losses) == (variant == "cmr_sg")
    losses["total"].backward()
    for name, param in model.named_parameters():
        if param.requires_grad and name != "mesh_decoder.attention.gamma":
            assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_evaluation_writes_submission_scores_and_plots(tiny_dataset, tmp_path):
    from cmr.cli import main
    from cmr.engine.evaluate import default_checkpoint
    from cmr.evaluation import load_submission

    overrides = tiny_overrides(tiny_dataset, tmp_path, "TRAIN.EPOCHS", "1", "TEST.NUM_PLOTS", "2")
    cfg = load_cfg(COMPACT_SYNTH, overrides)
    with pytest.raises(FileNotFoundError, match="--checkpoint cmr/assets/lite_real.pt"):
        default_checkpoint(cfg)
    train(cfg)
    assert default_checkpoint(cfg).name == "checkpoint_best.pt"
    assert main(["eval", "--config", COMPACT_SYNTH, *overrides]) == 0
    eval_dir = run_dir(cfg) / "eval"
    xyz, verts = load_submission(eval_dir / "pred.zip")
    assert len(xyz) == 4 and len(xyz[0]) == 21 and len(verts[0]) == 778
    scores = json.loads((eval_dir / "scores.json").read_text())
    assert 0.0 <= scores["xyz_al_auc3d"] <= 1.0 and scores["mesh_al_mean3d"] > 0.0
    assert (eval_dir / "pck.png").stat().st_size > 0
    assert sorted(path.name for path in eval_dir.glob("*_plot.jpg")) == ["00000000_plot.jpg", "00000001_plot.jpg"]


def test_a_resumed_schedule_follows_the_configuration():
    """The step schedule restored from a checkpoint takes the configured rate and milestones: a
    decay moved earlier than the epochs done applies at once, one moved later waits."""
    from cmr.engine.train_support import follow_schedule

    def restored(done: int, milestones: list[int], base: float = 1.0):
        parameter = torch.nn.Parameter(torch.zeros(1))
        optimiser = torch.optim.Adam([parameter], lr=1.0)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimiser, [11], 0.1)
        for _ in range(done):
            optimiser.step(), scheduler.step()
        follow_schedule(scheduler, base, milestones, 0.1)
        rates = []
        for _ in range(done, 12):
            rates.append(optimiser.param_groups[0]["lr"])
            optimiser.step(), scheduler.step()
        return rates

    assert restored(3, [9]) == pytest.approx([1.0] * 6 + [0.1] * 3)
    assert restored(5, [4]) == pytest.approx([0.1] * 7)
    assert restored(2, [5, 8]) == pytest.approx([1.0] * 3 + [0.1] * 3 + [0.01] * 4)
    assert restored(3, [9], base=0.5) == pytest.approx([0.5] * 6 + [0.05] * 3)  # TRAIN.LR changed too
