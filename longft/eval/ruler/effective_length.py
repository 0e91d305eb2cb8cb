"""Effective length (RULER): the longest length up to which a model's average score stays at or
above a threshold. RULER's threshold is Llama-2-7B's score at 4k; here it is relative to a
reference model's own score at its original window (the base model when it is evaluated, else the
model itself): threshold = ratio x reference average at L.
"""
from __future__ import annotations


def effective_length(averages: dict[int, float], threshold: float) -> int:
    """The longest length n such that every evaluated length <= n scores >= threshold; 0 if the
    shortest one already falls below."""
    best = 0
    for n in sorted(averages):
        if averages[n] < threshold:
            break
        best = n
    return best


def threshold_from(reference: dict[int, float], window: int, ratio: float) -> tuple[float, int]:
    """ratio x the reference's average at the original window (or at the longest length evaluated
    within it, when the window itself was not evaluated); returns (threshold, length used)."""
    within = [n for n in reference if n <= window]
    at = max(within) if within else min(reference)
    return ratio * reference[at], at


def chance_level(ruler: dict) -> float:
    """What guessing scores: 1 / (1 + distractors) when ranking by likelihood, 0 when generating."""
    return 1.0 / (1 + ruler["distractors"]) if ruler["scoring"] == "loglik" else 0.0


def add_effective_lengths(results: list[dict], window: int, ratio: float, reference: int | None) -> None:
    """Set `threshold` and `effective_length` on each result's RULER entry. `reference`: the index
    of the result whose score at L sets the threshold (the base), None: each model's own.

    A reference that scores no better than chance at L defines no threshold: the effective length is
    then None ("undefined"), not a length that guessing would reach."""
    for r in results:
        ref = results[reference] if reference is not None else r
        ref_avg = {int(n): v for n, v in ref["ruler"]["average"].items()}
        threshold, at = threshold_from(ref_avg, window, ratio)
        averages = {int(n): v for n, v in r["ruler"]["average"].items()}
        chance = chance_level(ref["ruler"])
        if ref_avg[at] <= chance + CHANCE_MARGIN:
            rule = (f"undefined: {ref['label']} scores {100 * ref_avg[at]:.1f} at {at}, no better than chance "
                    f"({100 * chance:.1f})")
            r["ruler"].update(threshold=None, threshold_rule=rule, effective_length=None)
            continue
        r["ruler"].update(
            threshold=threshold,
            threshold_rule=f"{ratio:g} x {ref['label']}'s average at {at}",
            effective_length=effective_length(averages, threshold),
        )


CHANCE_MARGIN = 0.1  # a reference within 10 points of chance does not set a threshold
