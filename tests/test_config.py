"""The one configuration: experiment files with _BASE_, one path rule, versions, clear errors."""

import pytest
import yaml

from cmr import REPO_ROOT
from cmr.config import CONFIG_VERSION, get_cfg, load_cfg, merge_dict, read_yaml, resolve_path, upgrade_cfg
from cmr.engine.checkpoint import run_config


def test_base_files_are_merged_underneath(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("MODEL:\n  NAME: cmr_g\n  INPUT_SIZE: 128\nEXP_NAME: base\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"_BASE_: {base}\nMODEL:\n  INPUT_SIZE: 160\n")
    cfg = load_cfg(str(child))
    assert (cfg.MODEL.NAME, cfg.MODEL.INPUT_SIZE, cfg.EXP_NAME) == ("cmr_g", 160, "base")


def test_a_list_of_bases_is_merged_in_order(tmp_path):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("MODEL:\n  NAME: cmr_g\n  INPUT_SIZE: 128\nEXP_NAME: first\n")
    second.write_text("MODEL:\n  INPUT_SIZE: 160\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"_BASE_: [{first}, {second}]\nEXP_NAME: child\n")
    cfg = load_cfg(str(child))
    assert (cfg.MODEL.NAME, cfg.MODEL.INPUT_SIZE, cfg.EXP_NAME) == ("cmr_g", 160, "child")


def test_a_base_shared_by_two_bases_is_merged_once_at_its_first_place(tmp_path):
    shared, left, right = (tmp_path / f"{name}.yaml" for name in ("shared", "left", "right"))
    shared.write_text("MODEL:\n  INPUT_SIZE: 128\n  LATENT_SIZE: 256\n")
    left.write_text(f"_BASE_: {shared}\nMODEL:\n  INPUT_SIZE: 160\n")
    right.write_text(f"_BASE_: {shared}\nMODEL:\n  NAME: cmr_g\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"_BASE_: [{left}, {right}]\n")
    cfg = load_cfg(str(child))
    assert (cfg.MODEL.INPUT_SIZE, cfg.MODEL.LATENT_SIZE, cfg.MODEL.NAME) == (160, 256, "cmr_g")
    child.write_text("_BASE_: {MODEL: 1}\n")
    with pytest.raises(ValueError, match=r"child\.yaml: _BASE_ must be a path or a list of paths"):
        load_cfg(str(child))


def test_the_lite_experiment_is_the_bundled_one_with_the_lite_model():
    bundled, lite = load_cfg("configs/compact_synth.yaml"), load_cfg("configs/lite_synth.yaml")
    assert (lite.MODEL.WIDTH, lite.MODEL.MESH_REDUCE) == (32, "strided")
    assert (lite.DATA.ROOT, lite.TRAIN.EPOCHS, lite.MODEL.TEMPLATE) == (bundled.DATA.ROOT, bundled.TRAIN.EPOCHS,
                                                                        bundled.MODEL.TEMPLATE)


def test_the_bundled_experiment_extends_the_compact_model():
    compact, bundled = load_cfg("configs/compact.yaml"), load_cfg("configs/compact_synth.yaml")
    assert bundled.MODEL.BACKBONE == compact.MODEL.BACKBONE == "resnet10"
    assert bundled.MODEL.OUT_CHANNELS == compact.MODEL.OUT_CHANNELS


def test_base_cycles_and_malformed_yaml_name_the_file(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(f"_BASE_: {second}\n")
    second.write_text(f"_BASE_: {first}\n")
    with pytest.raises(ValueError, match="_BASE_ cycle"):
        read_yaml(first)
    broken = tmp_path / "broken.yaml"
    broken.write_text("MODEL: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: malformed YAML"):
        load_cfg(str(broken))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("MODEL:\n  COLOUR: blue\n")
    with pytest.raises(ValueError, match=r"unknown\.yaml"):
        load_cfg(str(unknown))


def test_relative_paths_resolve_below_the_repository_root(tmp_path):
    assert resolve_path("template") == REPO_ROOT / "template"
    assert resolve_path(tmp_path) == tmp_path


def test_stored_configs_of_version_1_are_upgraded():
    old = {"REGISTRATION": {"CONFIDENCE": 0.2, "SILHOUETTE": False}, "MODEL": {"NAME": "cmr_g"}}
    upgraded = upgrade_cfg(old, "old checkpoint")
    assert upgraded["VERSION"] == CONFIG_VERSION
    cfg = merge_dict(get_cfg(), upgraded, "old checkpoint")
    assert cfg.REGISTRATION.CONFIDENCE_THRESHOLD == 0.2 and cfg.REGISTRATION.USE_SILHOUETTE is False
    with pytest.raises(ValueError, match="newer than this code"):
        upgrade_cfg({"VERSION": CONFIG_VERSION + 1}, "future checkpoint")


def _checkpoint(model_section: dict) -> dict:
    cfg = get_cfg()
    cfg.MODEL.merge_from_other_cfg(type(cfg)(model_section))
    return {"model": {}, "cfg": cfg.dump()}


def test_model_overrides_that_contradict_the_weights_are_refused():
    checkpoint = _checkpoint({"NAME": "cmr_g", "INPUT_SIZE": 128})
    cfg = run_config(checkpoint, "weights.pt", None, ["REGISTRATION.MASK_THRESHOLD", "0.4"])
    assert (cfg.MODEL.NAME, cfg.MODEL.INPUT_SIZE, cfg.REGISTRATION.MASK_THRESHOLD) == ("cmr_g", 128, 0.4)
    with pytest.raises(ValueError, match=r"weights\.pt: the configuration contradicts the weights .*MODEL\.INPUT_SIZE: 224 vs 128"):
        run_config(checkpoint, "weights.pt", None, ["MODEL.INPUT_SIZE", "224"])
    assert run_config(checkpoint, "weights.pt", None, ["MODEL.INPUT_SIZE", "128"]).MODEL.INPUT_SIZE == 128


def test_runtime_sections_of_a_checkpoint_give_way_to_the_defaults():
    checkpoint = _checkpoint({"NAME": "cmr_g"})
    stored = yaml.safe_load(checkpoint["cfg"])
    stored["REGISTRATION"]["MASK_THRESHOLD"] = 0.9
    checkpoint["cfg"] = yaml.safe_dump(stored)
    assert run_config(checkpoint, "weights.pt").REGISTRATION.MASK_THRESHOLD == get_cfg().REGISTRATION.MASK_THRESHOLD


def test_override_values_take_the_type_of_their_key():
    cfg = load_cfg(None, ["DEMO.INPUT", "0", "TRAIN.LR", "1", "DEMO.OUTPUT", "'quoted'", "TEST.NUM_PLOTS", "3"])
    assert cfg.DEMO.INPUT == "0" and cfg.TRAIN.LR == 1.0 and cfg.DEMO.OUTPUT == "quoted" and cfg.TEST.NUM_PLOTS == 3
    with pytest.raises(ValueError, match="TEST.NUM_PLOTS"):
        load_cfg(None, ["TEST.NUM_PLOTS", "many"])


def test_the_bundled_recipe_chains_its_stages():
    """Each stage after the first starts from its own export of the stage before, under its own
    run name, with the same model; the stage-k export names follow the stages' order."""
    from cmr.tools.bundled import STAGES

    configs = [load_cfg(stage) for stage in STAGES]
    assert configs[0].TRAIN.WEIGHTS == ""
    exports = [cfg.TRAIN.WEIGHTS for cfg in configs[1:]]
    assert exports == [f"out/experiments/bundled/lite_real_stage{k}.pt" for k in range(1, len(STAGES))]
    assert len({cfg.EXP_NAME for cfg in configs}) == len(STAGES)
    assert len({cfg.MODEL.dump() for cfg in configs}) == 1
