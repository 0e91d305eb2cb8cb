"""Invariant 6, as a catalogue: every bad input (recipe, override, data, model, output, eval) exits
non-zero before any model is loaded, prints one line that names the value and what is valid, and
leaves every file that was there before byte-identical."""
import hashlib
import json
import os
from pathlib import Path

import pytest
import transformers

from longft.cli import main


def tree_digest(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def jsonl(rows) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


SMOKE = ["train", "tiny-yarn-4x", "--smoke"]
ZERO1 = str(Path(__file__).resolve().parent.parent / "accelerate_configs" / "deepspeed_zero1.json")


def data(kind, path, **extra):
    return ["--data.sources", json.dumps([{"type": kind, "path": path, **extra}])]


def MIX(weights=(1.0,), source=None, **extra) -> bytes:
    """A weighted data mix file of sources named a, b, ..."""
    entries = [{"name": "ab"[i], "weight": w, "source": source or {"type": "testbed"}} for i, w in enumerate(weights)]
    return json.dumps({"sources": entries, **extra}).encode()


def FOT(**params):
    """tiny-fot's attention settings with some changed."""
    base = {"memory_layers": [2], "window": 256, "windows_per_stream": 4, "cross_batch": 3, "stepping": True}
    return ["--attention.params", json.dumps({**base, **params})]


LLAMA_CONFIG = json.dumps({"model_type": "llama", "vocab_size": 2048, "hidden_size": 64, "intermediate_size": 128,
                           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                           "max_position_embeddings": 256}).encode()


def cut_safetensors() -> bytes:
    """A safetensors file whose header promises 16 bytes of data and which holds 4."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\0" * 4


def alias_bomb(levels: int = 8) -> str:
    """Nine aliases of nine aliases ...: a few lines that expand to 9 ** (levels + 1) values."""
    lines = ["x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\npasskey_depths: *a{levels}\n"


def STAGES(*names) -> list[str]:
    return ["--stages", json.dumps([{"name": n} for n in names])]


# Folders beside every output a case names, and in its parents: none of them may be touched.
DECOYS = {name: b"the user's own" for name in (
    "out.old/a.txt", "out.tmp/a.txt", "r.old/a.txt", "r.tmp/a.txt", "dest.old/a.txt", "dest.tmp/a.txt",
    ".dest.longft-old-x/a.txt", "dest.bak/a.txt", "dest~/a.txt", "runs.old/a.txt")}

# id -> (files to create under the user folder U, argv with {U} and {CKPT} filled in, words the error line must hold)
CASES = {
    # recipe
    "recipe-unknown-name": ({}, ["train", "tiny-yarn-4"], ["'tiny-yarn-4'", "tiny-yarn-4x"]),
    "recipe-missing-file": ({}, ["train", "{U}/nope.yaml"], ["nope.yaml", "Valid recipes"]),
    "recipe-bad-yaml": ({"bad.yaml": b"train: [\n"}, ["train", "{U}/bad.yaml"], ["bad.yaml", "not valid YAML"]),
    "recipe-unknown-key": ({"r.yaml": b"extends: tiny-yarn-4x\ntrain: {max_stepz: 3}\n"}, ["train", "{U}/r.yaml"],
                           ["train.max_stepz", "max_steps"]),
    "recipe-extends-missing": ({"r.yaml": b"extends: no-such-base\n"}, ["train", "{U}/r.yaml"], ["no-such-base", "Valid recipes"]),
    # override
    "override-unknown-section": ({}, [*SMOKE, "--trian.max_steps", "3"], ["'trian'", "train"]),
    "override-weight-decay": ({}, [*SMOKE, "--train.weight_decay", "-0.1"], ["train.weight_decay = -0.1", "[0, inf)"]),
    "override-max-grad-norm": ({}, [*SMOKE, "--train.max_grad_norm", "-1"], ["train.max_grad_norm = -1", "[0, inf)"]),
    "override-save-total-limit": ({}, [*SMOKE, "--train.save_total_limit", "-1"], ["train.save_total_limit = -1", ">= 1"]),
    "override-max-steps-zero": ({}, [*SMOKE, "--train.max_steps", "0"], ["train.max_steps = 0", ">= 1"]),
    "override-adam-beta2": ({}, [*SMOKE, "--train.adam_beta2", "1.5"], ["train.adam_beta2 = 1.5", "[0, 1)"]),
    "override-lora-alpha": ({}, [*SMOKE, "--adapter.alpha", "-16"], ["adapter.alpha = -16", "(0, inf)"]),
    "override-lora-dropout": ({}, [*SMOKE, "--adapter.dropout", "1.2"], ["adapter.dropout = 1.2", "[0, 1)"]),
    "override-min-doc-tokens": ({}, [*SMOKE, "--data.min_doc_tokens", "-1"], ["data.min_doc_tokens = -1", ">= 1"]),
    "override-max-train-tokens": ({}, [*SMOKE, "--data.max_train_tokens", "-5"], ["data.max_train_tokens = -5", ">= 1"]),
    "override-undecodable-share": ({}, [*SMOKE, "--data.max_undecodable_fraction", "2"],
                                   ["data.max_undecodable_fraction = 2", "[0, 1]"]),
    "override-position-method": ({}, [*SMOKE, "--position.method", "yran"], ["'yran'", "'yarn'"]),
    "override-bad-yaml-value": ({}, [*SMOKE, "--data.sources", "[{type: jsonl"], ["--data.sources", "valid YAML value"]),
    "override-no-value": ({}, [*SMOKE, "--train.max_steps"], ["--train.max_steps", "no value"]),
    # eval settings, checked at load (before training), not after it
    "eval-stride-zero": ({}, [*SMOKE, "--eval.sliding_stride", "0"], ["eval.sliding_stride = 0", ">= 1"]),
    "eval-stride-past-window": ({}, ["train", "tiny-yarn-4x", "--eval.sliding_stride", "1000"],
                                ["eval.sliding_stride = 1000", "original window 256"]),
    "eval-trials-zero": ({}, [*SMOKE, "--eval.passkey_trials", "0"], ["eval.passkey_trials = 0", ">= 1"]),
    "eval-passkey-length": ({}, [*SMOKE, "--eval.passkey_lengths", "[8]"], ["eval.passkey_lengths has 8", ">= 32"]),
    "eval-context-length": ({}, [*SMOKE, "--eval.context_lengths", "[10]"], ["eval.context_lengths has 10", "target tokens"]),
    "eval-depth": ({}, [*SMOKE, "--eval.passkey_depths", "[1.5]"], ["1.5", "[0, 1]"]),
    "eval-passkey-seed": ({}, [*SMOKE, "--eval.passkey_seed", "-1"], ["eval.passkey_seed = -1", ">= 0"]),
    "eval-cmd-other-section": ({}, ["eval", "{CKPT}", "--train.max_steps", "3"], ["train", "--eval.*"]),
    "eval-cmd-no-config": ({"empty/x.txt": b"x"}, ["eval", "{U}/empty"], ["empty", "config.json"]),
    "eval-cmd-base-missing": ({}, ["eval", "{CKPT}", "--base", "{U}/nope", "--out", "{U}/r"],
                              ["nope", "config.json", "testbed"]),
    "eval-cmd-window": ({}, ["eval", "{CKPT}", "--window", "8", "--out", "{U}/r"], ["--window = 8", "eval.target_tokens"]),
    "eval-cmd-out-foreign": ({"r/notes.txt": b"mine"}, ["eval", "{CKPT}", "--out", "{U}/r"], ["r", "new or empty folder"]),
    "eval-ruler-unknown-task": ({}, ["eval", "{CKPT}", "--suite", "ruler", "--tasks", "niah_singel_1", "--out", "{U}/r"],
                                ["'niah_singel_1'", "niah_single_1"]),
    "eval-ruler-unknown-suite": ({}, ["eval", "{CKPT}", "--suite", "rular", "--out", "{U}/r"], ["'rular'", "ruler"]),
    "eval-ruler-scoring": ({}, [*SMOKE, "--eval.ruler_scoring", "greedy"], ["'greedy'", "generation, loglik"]),
    "eval-ruler-length-short": ({}, [*SMOKE, "--eval.ruler_lengths", "[64]"], ["eval.ruler_lengths has 64", ">= 192"]),
    "eval-ruler-haystack-short": ({"h/a.txt": b"x = 1\n" * 50},
                                  ["eval", "{CKPT}", "--suite", "ruler", "--lengths", "4096", "--out", "{U}/r",
                                   "--eval.sources", json.dumps([{"type": "text_dir", "path": "{U}/h"}])],
                                  ["4096", "holds only", "eval.sources"]),
    "eval-ruler-absolute-positions": (
        {"g/config.json": json.dumps({"model_type": "gpt2", "n_positions": 1024, "n_layer": 1}).encode()},
        ["eval", "{U}/g", "--suite", "ruler", "--lengths", "2048", "--out", "{U}/r"],
        ["2048", "absolute positions up to 1024"]),
    "eval-ruler-haystack-before-training": ({"h/a.txt": b"x = 1\n" * 50},
                                            [*SMOKE, "--eval.suites", "[standard, ruler]", "--eval.ruler_lengths", "[4096]",
                                             "--eval.sources", json.dumps([{"type": "text_dir", "path": "{U}/h"}])],
                                            ["4096", "holds only", "eval.sources"]),
    "eval-ruler-task-too-long": ({}, ["eval", "{CKPT}", "--suite", "ruler", "--lengths", "192", "--tasks", "niah_multiquery",
                                      "--eval.ruler_template", "ruler", "--out", "{U}/r"],
                                 ["192", "niah_multiquery", "eval.ruler_tasks"]),
    # data mixes (data/*.yaml, or inline)
    "mix-unknown-name": ({}, [*SMOKE, "--data.mix", "stdlib-long-shrot"], ["'stdlib-long-shrot'", "stdlib-long-short"]),
    "mix-weights-sum": ({"m.yaml": MIX(weights=(0.5, 0.3))}, [*SMOKE, "--data.mix", "{U}/m.yaml"],
                        ["weights sum to 0.8", "a=0.5", "must sum to 1"]),
    "mix-unknown-source": ({"m.yaml": MIX(source={"type": "jsonl_file"})}, [*SMOKE, "--data.mix", "{U}/m.yaml"],
                           ["'jsonl_file'", "jsonl"]),
    "mix-drills-max-below-min": ({"m.yaml": MIX(source={"type": "retrieval_drills", "documents": 5, "min_chars": 900,
                                                         "max_chars": 500})},
                                 ["pack", "tiny-yarn-4x", "--data.mix", "{U}/m.yaml"], ["max_chars = 500", "min_chars (900)"]),
    "mix-threshold-past-pack": ({"m.yaml": MIX(long_short={"long_fraction": 0.6, "long_min_tokens": 4096})},
                                ["train", "tiny-yarn-4x", "--data.mix", "{U}/m.yaml"],
                                ["long_min_tokens = 4096", "data.seq_len = 1024"]),
    "mix-missing-data-file": ({}, [*SMOKE, "--data.mix", json.dumps({"name": "m", "sources": [
        {"name": "a", "weight": 1.0, "source": {"type": "jsonl", "path": "{U}/none.jsonl"}}]})],
                              ["none.jsonl", "does not exist"]),
    # the loss
    "override-loss-kernel": ({}, [*SMOKE, "--train.loss_kernel", "fused"], ["'fused'", "chunked", "liger"]),
    "override-liger-without-chunks": ({}, [*SMOKE, "--train.loss_kernel", "liger"],
                                      ["train.loss_kernel = 'liger'", "train.loss_chunk_tokens"]),
    "override-liger-on-cpu": ({}, [*SMOKE, "--train.loss_kernel", "liger", "--train.loss_chunk_tokens", "256"],
                              ["train.loss_kernel = 'liger'", "chunked"]),
    # sequence parallelism
    "sp-length-split": ({}, [*SMOKE, "--train.sequence_parallel", "3"],
                        ["data.seq_len = 1024", "train.sequence_parallel = 3", "multiple of 3"]),
    "sp-no-deepspeed": ({}, [*SMOKE, "--train.sequence_parallel", "2"],
                        ["train.sequence_parallel = 2", "DeepSpeed", "train.deepspeed"]),
    "sp-heads": ({}, ["train", "testbed-base", "--train.sequence_parallel", "8", "--train.deepspeed",
                      ZERO1],
                 ["train.sequence_parallel = 8", "4 attention heads", "1, 2, 4"]),
    "sp-launch-size": ({}, [*SMOKE, "--train.sequence_parallel", "2", "--train.deepspeed",
                            ZERO1],
                       ["train.sequence_parallel = 2", "this one has 1", "--num_processes 2"]),
    # FoT memory attention
    "fot-memory-layer-range": ({}, ["train", "tiny-fot", *FOT(memory_layers=[4])], ["memory_layers has [4]", "4 layers", "0..3"]),
    "fot-window-past-model": ({}, ["train", "tiny-fot", *FOT(window=512, windows_per_stream=2)],
                              ["attention.params.window = 512", "256 tokens", "window <= 256"]),
    "fot-cross-batch-past-batch": ({}, ["train", "tiny-fot", *FOT(cross_batch=8)],
                                   ["cross_batch = 8", "only 8 rows", "train.batch_size"]),
    "fot-stage-batch-too-small": ({}, ["train", "tiny-fot", "--train.batch_size", "2"],  # d = 16 needs 4 streams
                                  ["stage d16", "cross_batch = 15", "only 8 rows", "train.batch_size"]),
    "fot-stream-length": ({}, ["train", "tiny-fot", *FOT(windows_per_stream=3)], ["data.seq_len = 1024", "3 x 256 = 768"]),
    "fot-sequence-parallel": ({}, ["train", "tiny-fot", "--train.sequence_parallel", "2", "--train.deepspeed", ZERO1],
                              ["train.sequence_parallel = 2", "fot", "sequence_parallel: 1"]),
    "fot-chunked-documents": ({}, ["train", "tiny-fot", "--data.split_policy", "chunk"], ["'chunk'", "truncate", "drop"]),
    "fot-last-context-past-window": ({}, ["train", "tiny-fot", *FOT(last_context_length=300)],
                                     ["last_context_length = 300", "from 1 to the window (256)"]),

    # data
    "data-missing-file": ({}, [*SMOKE, *data("jsonl", "{U}/none.jsonl")], ["none.jsonl", "does not exist"]),
    "data-binary-in-text-dir": ({"d/a.txt": b"hello\n", "d/b.txt": b"\x7fELF\x00\x01\x02"},
                                [*SMOKE, *data("text_dir", "{U}/d")], ["b.txt", "binary", "glob"]),
    "data-not-utf8": ({"d/a.txt": "caf\u00e9 ".encode("latin-1") * 50}, [*SMOKE, *data("text_dir", "{U}/d")],
                      ["a.txt", "undecodable", "data.max_undecodable_fraction"]),
    "data-all-empty": ({"d/a.txt": b"", "d/b.txt": b"\n"}, [*SMOKE, *data("text_dir", "{U}/d")], ["empty", "files with text"]),
    "data-jsonl-malformed": ({"d.jsonl": jsonl([{"text": "a"}, '{"text": "b"'])}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")],
                             ["d.jsonl", "line 2", "not valid JSON"]),
    "data-jsonl-no-text": ({"d.jsonl": jsonl([{"body": "a"}])}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")],
                           ["line 1", "no 'text'", "'field'"]),
    "data-jsonl-not-string": ({"d.jsonl": jsonl([{"text": "a"}, {"text": 7}])}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")],
                              ["line 2", "'text' is int", "expected a string"]),
    "data-jsonl-array-row": ({"d.jsonl": jsonl([["a"]])}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")], ["line 1", "list", "object"]),
    "data-jsonl-empty": ({"d.jsonl": b""}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")], ["d.jsonl", "is empty", "one JSON object per line"]),
    "data-jsonl-is-binary": ({"d.jsonl": b"PAR1\xff\xfe\x00\x00binary"}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")],
                             ["d.jsonl", "line 1", "not UTF-8"]),
    "data-parquet-is-text": ({"d.parquet": b"text,not parquet\n"}, [*SMOKE, *data("parquet", "{U}/d.parquet")],
                             ["d.parquet", "not a readable parquet file"]),
    "data-sft-no-output": ({"p.jsonl": jsonl([{"instruction": "x", "answer": "y"}])},
                           [*SMOKE, *data("sft_jsonl", "{U}/p.jsonl")], ["no 'output'", "output_field"]),
    "data-source-type": ({}, [*SMOKE, *data("csv", "{U}/x.csv")], ["'csv'", "jsonl"]),
    # model
    "model-unsupported-type": ({"gpt2/config.json": json.dumps({"model_type": "gpt2", "n_layer": 1}).encode()},
                               ["train", "tiny-yarn-4x", "--model.name_or_path", "{U}/gpt2"], ["'gpt2'", "supported types: llama"]),
    "model-folder-without-config": ({"m/weights.bin": b"0"}, ["train", "tiny-yarn-4x", "--model.name_or_path", "{U}/m"],
                                    ["m", "without config.json"]),
    "model-init": ({}, [*SMOKE, "--model.init", "random"], ["model.init = 'random'", "pretrained, scratch"]),
    # output
    "output-is-file": ({"out": b"a file"}, [*SMOKE, "--output_dir", "{U}/out"], ["out", "is a file"]),
    "output-foreign-folder": ({"out/thesis.tex": b"precious"}, [*SMOKE, "--output_dir", "{U}/out"],
                              ["out", "holds no longft run", "new or empty folder"]),
    "output-checkpoints-blocked": ({"out/recipe.json": b"{}", "out/main/checkpoints": b"a file"},
                                   [*SMOKE, "--output_dir", "{U}/out"], ["checkpoints", "is a file"]),
    "export-out-foreign": ({"dest/notes.txt": b"mine"}, ["export", "{CKPT}", "{U}/dest"], ["dest", "new or empty folder"]),
    "export-out-contains-source": ({}, ["export", "{CKPT}", "{CKPT}/.."], ["overlaps the source", "outside it"]),
    "export-out-is-source": ({}, ["export", "{CKPT}", "{CKPT}"], ["overlaps the source", "outside it"]),
    "export-out-is-file": ({"dest": b"a file"}, ["export", "{CKPT}", "{U}/dest"], ["dest", "is a file"]),
    "export-out-checkpoint": ({"dest/config.json": b"{}", "dest/model.safetensors": b"weights"},
                              ["export", "{CKPT}", "{U}/dest"], ["dest", "--overwrite"]),
    "export-source-missing": ({}, ["export", "{U}/nothing", "{U}/dest"], ["nothing", "not a folder"]),

    # names become folders: never paths, never longft's own folder names
    "recipe-name-path": ({}, [*SMOKE, "--name", "../../x"], ["name = '../../x'", "not a valid name", "never a path"]),
    "stage-name-absolute": ({"victim/final/thesis.tex": b"precious"}, [*SMOKE, *STAGES("{U}/victim")],
                            ["stages[0].name", "not a valid name"]),
    "stage-name-traversal": ({}, [*SMOKE, *STAGES("../../x")], ["stages[0].name = '../../x'", "letters, digits"]),
    "stage-name-report": ({}, [*SMOKE, *STAGES("report")], ["stages[0].name = 'report'", "inside a run folder"]),
    "stage-name-number": ({}, [*SMOKE, "--stages", "[{name: 5}]"], ["stages[0].name = 5", "not a valid name"]),
    "stage-name-null": ({}, [*SMOKE, "--stages", "[{name: null}]"], ["stages[0].name = None", "not a valid name"]),
    "stage-names-repeated": ({}, [*SMOKE, *STAGES("a", "a")], ["['a']", "unique"]),
    # NaN and infinity pass range checks unless refused as such
    "override-weight-decay-nan": ({}, [*SMOKE, "--train.weight_decay", "nan"], ["train.weight_decay = nan", "finite"]),
    "override-max-grad-norm-nan": ({}, [*SMOKE, "--train.max_grad_norm", "nan"], ["train.max_grad_norm = nan", "finite"]),
    "override-dropout-nan": ({}, [*SMOKE, "--adapter.dropout", "nan"], ["adapter.dropout = nan", "finite"]),
    "override-beta2-nan": ({}, [*SMOKE, "--train.adam_beta2", ".nan"], ["train.adam_beta2 = nan", "finite"]),
    "override-factor-inf": ({}, [*SMOKE, "--position.factor", "inf"], ["position.factor = inf", "finite"]),
    "override-factor-huge": ({}, [*SMOKE, "--position.factor", "1e308"], ["position.factor = 1e+308", "<= 1024"]),
    "override-rope-param-nan": ({}, [*SMOKE, "--position.params", "{beta_fast: .nan}"],
                                ["position.params.beta_fast = nan", "finite"]),
    "override-seed-negative": ({}, [*SMOKE, "--train.seed", "-1"], ["train.seed = -1", ">= 0"]),
    # YAML: no key twice, no alias bombs
    "recipe-duplicate-key": ({"r.yaml": b"extends: tiny-yarn-4x\ntrain: {max_steps: 7}\neval: {enabled: false}\ntrain: {seed: 1}\n"},
                             ["train", "{U}/r.yaml"], ["'train'", "lines 2 and 4"]),
    "recipe-nested-duplicate-key": ({"r.yaml": b"extends: tiny-yarn-4x\ntrain:\n  max_steps: 7\n  max_steps: 9\n"},
                                    ["train", "{U}/r.yaml"], ["'max_steps'", "lines 3 and 4"]),
    "recipe-alias-bomb": ({"r.yaml": f"extends: tiny-yarn-4x\n{alias_bomb()}".encode()}, ["train", "{U}/r.yaml"],
                          ["r.yaml", "aliases", "limit"]),
    "override-alias-bomb": ({}, [*SMOKE, "--eval", "{" + alias_bomb().strip().replace("\n", ", ") + "}"],
                            ["--eval", "aliases", "limit"]),
    "mix-duplicate-key": ({"m.yaml": b"sources:\n  - {name: a, weight: 1.0, source: {type: testbed}}\nname: m\nname: n\n"},
                          [*SMOKE, "--data.mix", "{U}/m.yaml"], ["m.yaml", "'name'", "lines 3 and 4"]),
    "recipe-extends-list": ({"r.yaml": b"extends: [tiny-yarn-4x]\n"}, ["train", "{U}/r.yaml"], ["extends = ['tiny-yarn-4x']", "names one recipe"]),
    "recipe-extends-number": ({"r.yaml": b"extends: 5\n"}, ["train", "{U}/r.yaml"], ["extends = 5", "names one recipe"]),
    "override-section-scalar": ({}, [*SMOKE, "--train", "5"], ["train must be a mapping", "5"]),
    "eval-depth-not-number": ({}, [*SMOKE, "--eval.passkey_depths", "[a]"], ["eval.passkey_depths has 'a'", "[0, 1]"]),
    # data with no usable text, rows that are not text, folders that loop
    "data-jsonl-all-empty-text": ({"d.jsonl": jsonl([{"text": ""}, {"text": "  "}])}, [*SMOKE, *data("jsonl", "{U}/d.jsonl")],
                                  ["d.jsonl", "every one's 'text' is empty"]),
    "data-sft-all-empty-output": ({"p.jsonl": jsonl([{"instruction": "q", "output": ""}])},
                                  [*SMOKE, *data("sft_jsonl", "{U}/p.jsonl")], ["p.jsonl", "'output'", "is empty"]),
    "data-jsonl-lone-surrogate": ({"d.jsonl": b'{"text": "ok"}\n{"text": "bad \\ud800 here"}\n'},
                                  [*SMOKE, *data("jsonl", "{U}/d.jsonl")], ["line 2", "lone surrogate", "U+D800"]),
    "data-jsonl-too-deep": ({"d.jsonl": jsonl([{"text": "a"}]) + b"[" * 200_000 + b"]" * 200_000 + b"\n"},
                            [*SMOKE, *data("jsonl", "{U}/d.jsonl")], ["line 2", "nests too deeply"]),
    "data-text-dir-glob-absolute": ({"d/a.txt": b"hello\n"}, [*SMOKE, *data("text_dir", "{U}/d", glob="/etc/*.conf")],
                                    ["glob = '/etc/*.conf'", "relative"]),
    "data-text-dir-link-loop": ({"d/a.txt": b"hello\n", "d/sub/LINK:..": b""}, [*SMOKE, *data("text_dir", "{U}/d")],
                                ["leads back", "loop"]),
    # the window read from the model's config gets the checks a window given in the recipe gets
    "model-window-from-config": ({}, ["train", "tiny-yarn-4x", "--model.name_or_path", "{CKPT}",
                                      "--position.original_max_position_embeddings", "null"],
                                 ["data.seq_len = 1024", "64-token window", "(256)"]),
    "model-config-not-json": ({"m/config.json": b"{model_type: llama", "m/model.safetensors": cut_safetensors()},
                              ["train", "tiny-yarn-4x", "--model.name_or_path", "{U}/m"], ["m", "config.json is not valid JSON"]),
    "model-type-unknown": ({"m/config.json": b'{"model_type": "lama"}'},
                           ["train", "tiny-yarn-4x", "--model.name_or_path", "{U}/m"], ["'lama'", "did you mean 'llama'"]),
    "model-no-weights": ({"m/config.json": LLAMA_CONFIG}, ["train", "tiny-yarn-4x", "--model.name_or_path", "{U}/m"],
                         ["m", "holds no weights", "model.safetensors"]),
    "model-weights-cut": ({"m/config.json": LLAMA_CONFIG, "m/model.safetensors": cut_safetensors()},
                          ["train", "tiny-yarn-4x", "--model.name_or_path", "{U}/m", "--model.tokenizer", "testbed"],
                          ["model.safetensors is damaged", "cut short"]),
    "model-tokenizer-folder-empty": ({"tok/notes.txt": b"x"}, ["train", "tiny-yarn-4x", "--model.name_or_path", "{CKPT}",
                                                                "--model.tokenizer", "{U}/tok"],
                                     ["model.tokenizer", "tok", "no tokenizer files"]),
    "model-lora-target-unknown": ({}, ["train", "tiny-longlora", "--adapter.target_modules", "[q_proj, qkv_proj]"],
                                  ["['qkv_proj']", "q_proj, up_proj, v_proj"]),
    "model-attn-implementation": ({}, [*SMOKE, "--model.attn_implementation", "flash"],
                                  ["model.attn_implementation = 'flash'", "sdpa"]),
    "eval-cmd-weights-cut": ({"m/config.json": LLAMA_CONFIG, "m/model.safetensors": cut_safetensors()},
                             ["eval", "{U}/m", "--out", "{U}/r"], ["model.safetensors is damaged", "cut short"]),
    "eval-cmd-config-not-json": ({"m/config.json": b"{"}, ["eval", "{U}/m", "--out", "{U}/r"], ["config.json is not valid JSON"]),
    "export-source-no-weights": ({"m/config.json": LLAMA_CONFIG}, ["export", "{U}/m", "{U}/dest"], ["holds no weights"]),
    "export-source-weights-cut": ({"m/config.json": LLAMA_CONFIG, "m/model.safetensors": cut_safetensors()},
                                  ["export", "{U}/m", "{U}/dest"], ["model.safetensors is damaged"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_early_in_one_line_and_changes_nothing(case, checkpoint, tmp_path, monkeypatch, capsys):
    files, argv, words = CASES[case]
    user = tmp_path / "user"
    user.mkdir()
    for rel, content in {**DECOYS, **files}.items():
        (user / rel).parent.mkdir(parents=True, exist_ok=True)
        if ":" in Path(rel).name:  # NAME:TARGET is a symlink
            name, target = Path(rel).name.split(":")
            (user / rel).parent.joinpath(name).symlink_to(target)
            continue
        (user / rel).write_bytes(content)
    (user / "keep.txt").write_text("a file of the user's")
    before, ckpt_before = tree_digest(user), tree_digest(checkpoint.parent)

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was refused")

    for cls in (transformers.AutoModelForCausalLM, transformers.LlamaForCausalLM):
        monkeypatch.setattr(cls, "from_pretrained", no_model)
        monkeypatch.setattr(cls, "from_config", no_model, raising=False)
    monkeypatch.chdir(tmp_path)  # a default output folder (runs/...) lands here, not in the repository
    args = [a.replace("{U}", str(user)).replace("{CKPT}", str(checkpoint)) for a in argv]
    code = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("longft: error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert tree_digest(user) == before
    assert tree_digest(checkpoint.parent) == ckpt_before
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))


def test_catalogue_covers_every_kind_of_input():
    kinds = {case.split("-")[0] for case in CASES}
    assert {"recipe", "override", "data", "model", "output", "export", "eval", "sp"} <= kinds
    assert len(CASES) >= 40
