"""A loss that turns NaN or infinite stops the run at that step, in one line.

transformers' Trainer filters non-finite losses out of what it logs (`logging_nan_inf_filter`), so a
run whose weights have gone NaN logs the average of earlier steps (or 0) and saves NaN checkpoints
to the end. The check reads the step's loss, which the Trainer already brings to the host for that
filter, so it costs no extra device sync.
"""
from __future__ import annotations

import math

from ..errors import RecipeError


class NonFiniteLoss(RecipeError):
    """Training diverged: the message names the step and what to change."""


def finite_loss_trainer(base):
    class FiniteLossTrainer(base):
        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            value = float(loss.detach().float().item())
            if not math.isfinite(value):
                step = self.state.global_step + 1
                raise NonFiniteLoss(
                    f"training loss became {value} at step {step} (the weights or the data went non-finite); "
                    f"checkpoints up to step {self.state.global_step} are kept. The Trainer's log filter "
                    "(logging_nan_inf_filter) would have logged the earlier average instead: lower "
                    "train.learning_rate or train.max_grad_norm, or check the data of this step"
                )
            return loss

    return FiniteLossTrainer
