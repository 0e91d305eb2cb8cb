"""`auto-mixed` / `auto`: bf16 only where this machine computes it natively, fp32 elsewhere."""
import pytest
import torch

from longft import precision
from longft.errors import RecipeError
from longft.validation import load_recipe


@pytest.fixture(params=[True, False], ids=["native-bf16", "no-native-bf16"])
def native(request, monkeypatch):
    monkeypatch.setattr(precision, "bf16_is_native", lambda: request.param)
    return request.param


def test_auto_values_take_bf16_only_where_it_is_native_and_explicit_values_stay(native):
    assert precision.resolve_precision("auto-mixed") == ("bf16-mixed" if native else "fp32")
    assert precision.resolve_dtype("auto") == ("bfloat16" if native else "float32")
    for explicit in ("bf16-mixed", "bf16", "fp32", "auto"):
        assert precision.resolve_precision(explicit) == explicit
    for explicit in ("bfloat16", "float32"):
        assert precision.resolve_dtype(explicit) == explicit


def test_auto_mixed_trains_with_autocast_only_where_native_and_keeps_fp32_weights(native):
    from longft.models import computes_in_bf16, model_dtype
    from longft.train.trainer import training_arguments

    assert computes_in_bf16("auto-mixed") is native
    assert model_dtype("auto-mixed") == torch.float32
    recipe = load_recipe("tiny-yarn-4x", {"train": {"precision": "auto-mixed"}})
    assert training_arguments(recipe, recipe.resolved_output_dir()).bf16 is native


def test_eval_dtype_auto_loads_the_weights_in_what_is_native(native, checkpoint):
    from longft.eval.presets import describe
    from longft.eval.run import load_for_eval

    wanted = torch.bfloat16 if native else torch.float32
    assert next(load_for_eval(str(checkpoint), dtype="auto").parameters()).dtype == wanted
    ev = load_recipe("smollm2-yarn-16k").eval
    assert ev.dtype == "auto"
    assert f"weights in {str(wanted).removeprefix('torch.')} (eval.dtype auto)" in describe(ev)


def test_the_log_says_where_a_precision_falls_back_or_asks_for_a_slow_bf16(native):
    from longft.pipeline import planned_stages, precision_notices

    fallback = precision.precision_notice("train.precision", "auto-mixed")
    slow = precision.precision_notice("eval.dtype", "bfloat16")
    if native:
        assert fallback is None and slow is None
    else:
        assert fallback.startswith("[precision] train.precision = 'auto-mixed': fp32 here, as this ")
        assert "warning: eval.dtype = 'bfloat16'" in slow and "'auto' takes bf16 only where it is native" in slow
        assert "'auto-mixed' takes" in precision.precision_notice("train.precision", "bf16-mixed")
    assert precision.precision_notice("train.precision", "fp32") is None
    assert precision.precision_notice("train.precision", "auto") is None  # bf16 weights on CUDA only, as before
    stages = planned_stages(load_recipe("smollm2-zeroshot-16k"))
    assert precision_notices(stages) == ([] if native else [
        precision.precision_notice("train.precision", "auto-mixed"), precision.precision_notice("search.dtype", "auto")])


def test_the_testbed_base_is_cached_per_precision_it_trains_in(monkeypatch):
    from longft.recipe.loading import read_recipe
    from longft.testbed import base

    folders = {}
    for native in (True, False):
        monkeypatch.setattr(precision, "bf16_is_native", lambda native=native: native)
        folders[native] = base.testbed_base_dir()
    assert folders[True] != folders[False]
    # where bf16 is native the key is the one an explicit bf16-mixed gives: a base built before is reused
    explicit = read_recipe("testbed-base", overrides={"train": {"precision": "bf16-mixed"}},
                           normalize=base.normalize_layer)
    assert f"base-{explicit.fingerprint()}-" in folders[True].name


def test_a_bad_precision_or_dtype_fails_naming_the_auto_choices():
    with pytest.raises(RecipeError, match=r"train.precision.*'bf17'.*auto-mixed"):
        load_recipe("tiny-yarn-4x", {"train": {"precision": "bf17"}})
    with pytest.raises(RecipeError, match=r"search.dtype.*'half'.*auto"):
        load_recipe("smollm2-zeroshot-16k", {"search": {"dtype": "half"}})
