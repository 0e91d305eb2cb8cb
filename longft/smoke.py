"""--smoke: the same code path as the real recipe, on a tiny stand-in model and a few steps.

The stand-in keeps the recipe's architecture family, position method and extension
ratio (target length / original window) but shrinks the window, so every shipped recipe,
paper-sized or not, runs on a CPU in seconds on data that is on the machine.
"""
from __future__ import annotations

from .families import FAMILIES
from .recipe.schema import Recipe
from .validation import from_dict
from .recipe.parsing import diff_fields

STANDIN_ARCH = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "tie_word_embeddings": True,
}


# Smoke lengths stop at this many stand-in windows: a 2048k search on a 4k window (512x) would
# otherwise cost the stand-in's evaluation thousands of sliding windows.
MAX_SMOKE_RATIO = 64


def extension_ratio(recipe: Recipe) -> float:
    orig = recipe.position.original_max_position_embeddings
    return min(MAX_SMOKE_RATIO, recipe.length() / orig) if orig else 1.0


def smoke_window(recipes: list[Recipe]) -> int:
    """The stand-in's original window: small enough that the longest stage stays short."""
    return max(16, min(64, int(256 // max(extension_ratio(r) for r in recipes))))


SMOKE_SOURCE = {"type": "testbed", "split": "train", "max_files": 40}


def smoke_mix(mix: dict, seq_len: int, smoke_seq_len: int) -> dict:
    """A weighted mix's stand-in: its names, weights and split on the smoke source, with its
    length thresholds scaled to the smoke pack length and a small budget."""
    def scaled(tokens: int) -> int:
        return max(1, min(smoke_seq_len, round(tokens * smoke_seq_len / seq_len)))

    out = {**mix, "tokens": 20_000, "sources": []}
    for entry in mix["sources"]:
        entry = {**entry, "source": dict(SMOKE_SOURCE), "min_tokens": 1, "max_tokens": None}
        if entry.get("upsample"):
            entry["upsample"] = {**entry["upsample"], "min_tokens": scaled(entry["upsample"]["min_tokens"])}
        out["sources"].append(entry)
    if mix.get("long_short"):
        out["long_short"] = {**mix["long_short"], "long_min_tokens": scaled(mix["long_short"]["long_min_tokens"])}
    return out


def smoke_recipe(recipe: Recipe, first_stage: bool = True, window: int | None = None) -> Recipe:
    d = recipe.to_dict()
    window = window or smoke_window([recipe])
    # the recipe's extension ratio on the stand-in's window; a multiple of 8 so that S²-Attn's
    # four groups of even size fit too
    seq_len = max(window, int(window * extension_ratio(recipe)) // 8 * 8)
    if first_stage:
        d["model"].update(
            name_or_path="standin",
            init="scratch",
            tokenizer="testbed",
            # the family's own fields where its defaults do not fit a stand-in (experts, windows)
            arch={**STANDIN_ARCH, **FAMILIES[d["model"]["family"]].standin, "max_position_embeddings": window},
        )
    if d["position"]["original_max_position_embeddings"] or d["position"]["method"] != "none":
        d["position"]["original_max_position_embeddings"] = window
    if d["data"]["mix"] is not None:  # the same mix path, drawing from a slice of the testbed corpus
        d["data"]["mix"] = smoke_mix(d["data"]["mix"], d["data"]["seq_len"], seq_len)
    else:
        d["data"]["sources"] = [SMOKE_SOURCE]
    d["data"].update(
        seq_len=seq_len,
        min_doc_tokens=2,
        max_train_tokens=30_000,
        num_proc=1,
    )
    d["train"].update(
        max_steps=2,
        batch_size=1,
        grad_accum=2,
        save_steps=1,
        logging_steps=1,
        warmup_steps=min(d["train"]["warmup_steps"], 1),
        decay_steps=min(d["train"]["decay_steps"], 1),  # the schedule's shape kept: 1 up, 1 down
        precision="fp32",
        deepspeed=None,
        report_to=["none"],
    )
    d["eval"].update(
        sources=[{"type": "testbed", "split": "heldout"}],
        num_docs=2,
        target_tokens=8,
        context_lengths=[],
        sliding_stride=None,
        passkey_lengths=[],
        passkey_depths=[0.5],
        passkey_trials=1,
        ruler_lengths=[256],  # the shortest length every task's text fits
        ruler_depths=[0.5],
        ruler_trials=1,
        ruler_tasks=["niah_single_1"],
        chat_template=False,  # the stand-in's tokenizer has none; the code path is the same
    )
    from .methods.registry import ATTENTION_METHODS

    shrink = ATTENTION_METHODS[d["attention"]["method"]].smoke_params
    if shrink is not None:  # a method whose settings are lengths or layer indices of the recipe's model
        d["attention"]["params"] = shrink(d["attention"]["params"], seq_len, STANDIN_ARCH["num_hidden_layers"])
    if d["attention"]["group_size"]:  # a fixed group keeps its share of the shrunk length
        d["attention"]["group_size"] = max(2, seq_len // 4 // 2 * 2)
    if recipe.kind == "search":  # a search of a few candidates on one document
        d["search"].update(
            length=seq_len, population=4, parents=2, mutations=2, crossovers=1, iterations=2, num_docs=1, batch_size=2,
            sources=[{"type": "testbed", "split": "train"}],
        )
    d["adapter"]["quantize"] = "none"  # 4-bit needs a GPU; the stand-in runs the same LoRA path
    before = recipe.to_dict()
    kept = keep_overrides(d, before, recipe.overrides)
    if first_stage:
        replaced = sorted({path for path, _, _ in diff_fields(before, d)} - set(kept))
        print(f"[smoke] replaced for the stand-in: {', '.join(replaced) or 'nothing'}", flush=True)
        if kept:
            print(f"[smoke] kept from the command line: {', '.join(kept)}", flush=True)
        ignored = [f"--{path} {_get(before, path)!r}" for path in leaf_paths(recipe.overrides)
                   if path.startswith("model.") and _get(before, path) != _get(d, path)]
        if ignored:
            print(f"[smoke] not used, since --smoke trains the tiny stand-in model: {', '.join(ignored)} from the "
                  "command line (drop --smoke to train that model)", flush=True)
    return from_dict(d)


# What makes the stand-in a stand-in: never taken from the command line.
STANDIN_FIELDS = ("model", "position.original_max_position_embeddings", "smoke", "overrides", "stages", "name")


def leaf_paths(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def keep_overrides(smoke: dict, stage: dict, overrides: dict) -> list[str]:
    """Put the user's command-line values (as the stage resolved them) back over smoke's own."""
    kept = []
    for path in leaf_paths(overrides):
        if any(path == f or path.startswith(f + ".") for f in STANDIN_FIELDS):
            continue
        value = _get(stage, path)
        if _get(smoke, path) != value:
            _set(smoke, path, value)
        kept.append(path)
    return kept


def _get(tree: dict, path: str):
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(tree: dict, path: str, value) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
