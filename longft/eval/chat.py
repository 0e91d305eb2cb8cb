"""Prompts in the model's chat template, as RULER feeds instruct models: the task, its context and the
question are the user's turn; the assistant's turn starts with the answer prefix, so the model
continues the answer rather than opening a reply of its own.

A frame is the template rendered around one user message, split where the message goes; a prompt of
`length` tokens in a frame is built `overhead` tokens shorter and then framed, so it keeps its length.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import RecipeError

_MARK = "\x00LONGFT_USER_MESSAGE\x00"


@dataclass(frozen=True)
class ChatFrame:
    before: list[int]  # the template up to the user's message (its BOS, system turn, user header)
    after: list[int]  # from the end of the message to the start of the assistant's turn

    def overhead(self, bos_tokens: int) -> int:
        """Tokens the frame adds to a prompt that had `bos_tokens` of BOS (the frame brings its own)."""
        return len(self.before) + len(self.after) - bos_tokens

    def wrap(self, user: list[int], answer_prefix: list[int]) -> list[int]:
        return self.before + user + self.after + answer_prefix


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_frame(tokenizer, label: str = "eval.chat_template") -> ChatFrame:
    if not has_chat_template(tokenizer):
        raise RecipeError(f"{label} = true, but the tokenizer has no chat template; set it to false for a base model")
    text = tokenizer.apply_chat_template([{"role": "user", "content": _MARK}], tokenize=False,
                                         add_generation_prompt=True)
    before, _, after = text.partition(_MARK)
    if not _:
        raise RecipeError(f"{label} = true, but the tokenizer's chat template does not write the user's message as "
                          "given; set it to false")
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    return ChatFrame(before=encode(before), after=encode(after))


def tail_ids(tokenizer, question: str, answer_prefix: str) -> tuple[list[int], int]:
    """The question and the answer prefix as ids, and how many of them are the answer prefix (a chat
    template puts the start of the assistant's turn there). Encoded as one text where the prefix's own
    tokens end it, so a prompt outside a chat template is the tokens it always was."""
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    prefix, joint = encode(answer_prefix), encode(question + answer_prefix)
    if prefix and joint[-len(prefix):] == prefix:
        return joint, len(prefix)
    return encode(question) + prefix, len(prefix)


def frame_prompt(ids: list[int], bos_tokens: int, answer_prefix_tokens: int, frame: ChatFrame) -> list[int]:
    """BOS + message + answer prefix -> the framed prompt."""
    split = len(ids) - answer_prefix_tokens
    return frame.wrap(ids[bos_tokens:split], ids[split:])
