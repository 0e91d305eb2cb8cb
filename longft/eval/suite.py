"""Run the evaluation suites on one model: "standard" (both perplexities and the passkey grid) and
"ruler" (the RULER-style tasks by length and depth)."""
from __future__ import annotations

from ..recipe.schema import EvalConfig
from ..data.sources import load_documents
from ..data.documents import long_documents
from .passkey import passkey_grid
from .perplexity import fixed_target_perplexity, sliding_window_perplexity


def default_context_lengths(ev: EvalConfig, window: int, target_len: int) -> list[int]:
    if ev.context_lengths:
        return sorted(int(c) for c in ev.context_lengths)
    c = max(ev.target_tokens * 2, window // 2)
    out = []
    while c < target_len:
        out.append(c)
        c *= 2
    return out + [target_len]


def passkey_lengths(ev: EvalConfig, window: int, target_len: int) -> list[int]:
    return sorted(int(n) for n in ev.passkey_lengths) if ev.passkey_lengths else sorted({window, target_len})


def evaluate_model(model, tokenizer, ev: EvalConfig, window: int, target_len: int, label: str, haystack=None,
                   frame=None) -> dict:
    """`haystack`: the RULER tasks' held-out text (built once per evaluation, shared by its models);
    `frame`: the chat template passkey and RULER prompts are put in (eval.chat_template)."""

    def progress(msg: str) -> None:
        print(f"[eval:{label}] {msg}", flush=True)

    model.eval()
    result: dict = {"label": label}
    if "standard" in ev.suites:
        result.update(standard_suite(model, tokenizer, ev, window, target_len, progress, frame))
    if "ruler" in ev.suites:
        from .ruler.run import ruler_lengths, run_ruler

        result["ruler"] = run_ruler(model, tokenizer, haystack, ev, ruler_lengths(ev, window, target_len), progress,
                                    frame)
    return result


def standard_suite(model, tokenizer, ev: EvalConfig, window: int, target_len: int, progress, frame=None) -> dict:
    lengths = default_context_lengths(ev, window, target_len)
    docs = long_documents(ev.sources, tokenizer, max(lengths), ev.num_docs)
    if not docs:
        from ..errors import RecipeError

        raise RecipeError(
            f"eval.sources has no document of {max(lengths)} tokens or more; add longer held-out documents "
            "or lower eval.context_lengths"
        )
    progress(f"{len(docs)} held-out documents of >= {max(lengths)} tokens")
    fixed = fixed_target_perplexity(model, docs, lengths, ev.target_tokens, progress=progress)
    sliding = {}
    windows = {window, target_len} if ev.sliding_windows is None else set(ev.sliding_windows)
    for w in sorted(windows):
        stride = ev.sliding_stride or w // 2
        sliding[w] = sliding_window_perplexity(model, [d[: 2 * target_len] for d in docs], w, stride)
        progress(f"sliding-window perplexity, window {w} stride {stride}: {sliding[w]:.3f}")
    filler = list(load_documents(ev.sources)["text"]) if ev.passkey_template == "code" else []
    grid = passkey_grid(
        model,
        tokenizer,
        passkey_lengths(ev, window, target_len),
        [float(d) for d in ev.passkey_depths],
        ev.passkey_trials,
        ev.passkey_template,
        filler,
        seed=ev.passkey_seed,
        progress=progress,
        frame=frame,
    )
    return {
        "fixed_target_ppl": {str(k): v for k, v in fixed.items()},
        "target_tokens": ev.target_tokens,
        "num_docs": len(docs),
        "sliding_window_ppl": {str(k): v for k, v in sliding.items()},
        "passkey": grid,
    }
