"""Stage markers: what a stage records about the recipe that ran it, and the check a rerun makes.

`started` is written when a stage starts, the final marker inside `final/` when it finished; a
rerun continues or skips a stage only for the same recipe, and names the fields that differ.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import RecipeError
from .recipe.parsing import diff_fields

STAGE_MARKER = "longft_stage.json"
# Written when a stage starts: a rerun resumes its checkpoints only for the same recipe.
STARTED_MARKER = "longft_stage_started.json"


def _read_marker(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def stage_done(stage_dir: Path, fingerprint: str, stage=None, log=print) -> bool:
    """True when the stage finished with this recipe; raises when another recipe left it there,
    finished or interrupted with checkpoints, naming what differs. A stage of another recipe that
    stopped before its first checkpoint has nothing to resume: it starts again (and says so)."""
    finished, started = stage_dir / "final" / STAGE_MARKER, stage_dir / STARTED_MARKER
    checkpoints = any((stage_dir / "checkpoints").glob("checkpoint-*"))
    for marker, what, advice in (
        (finished, "a finished stage", "Set --output_dir to a new folder or move that one away."),
        (started, "an interrupted stage", "Resuming it would continue that run's schedule and label it with this "
         "recipe: set --output_dir to a new folder, or rerun the recipe it was started with."),
    ):
        if marker.is_file():
            found = _read_marker(marker)
            if found.get("fingerprint") != fingerprint and marker is started and not checkpoints:
                if log is not None:
                    log(f"[stage {stage_dir.name}] an earlier start with another recipe ({_difference(found, stage)}) "
                        "stopped before its first checkpoint; nothing to resume, starting it again", flush=True)
                return False
            if found.get("fingerprint") != fingerprint:
                raise RecipeError(f"{stage_dir} holds {what} of a different recipe ({_difference(found, stage)}); "
                                  f"nothing was changed there. {advice}")
            return marker is finished
    if checkpoints:
        raise RecipeError(
            f"{stage_dir / 'checkpoints'} holds checkpoints with no record of the recipe that wrote them; "
            "nothing was changed there: set --output_dir to a new folder or move that one away"
        )
    return False


def _difference(found: dict, stage) -> str:
    """What differs between the recipe recorded in a marker and this one, field by field."""
    old, new = found.get("recipe"), stage.to_dict() if stage is not None else None
    if not isinstance(old, dict) or new is None:
        return f"fingerprint {found.get('fingerprint')}, this recipe's differs"
    changed = [
        f"{key}: {old_value!r} there, {new_value!r} now"
        for key, old_value, new_value in diff_fields(old, new)
        if key not in ("output_dir", "description", "overrides", "model.name_or_path", "model.init", "model.tokenizer")
    ]
    return "; ".join(changed[:8]) + (f"; and {len(changed) - 8} more" if len(changed) > 8 else "") if changed else (
        "an earlier stage differs"
    )
