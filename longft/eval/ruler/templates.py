"""The words around each task: RULER's own English templates, and the same tasks in code form.

`ruler` keeps RULER's task texts, needles and answer prefixes (NVIDIA/RULER, scripts/data/
synthetic/constants.py and the task scripts). `code` says the same things as a Python file would,
for models that only ever read code (the testbed): needles are assignments, questions are comments,
the answer prefix is the start of the line that holds the answer. Answer prefixes end without a
trailing space, so the answer's first token keeps its leading space, as in running text.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    niah_head: str
    niah_needle: str
    niah_question: str
    niah_answer_prefix: str
    vt_head: str
    vt_first: str
    vt_hop: str
    vt_question: str
    vt_answer_prefix: str
    cwe_head: str
    cwe_item: str
    cwe_question: str
    cwe_answer_prefix: str
    fwe_head: str
    fwe_question: str
    fwe_answer_prefix: str
    noise_haystack: bool  # the tasks RULER runs on its repeated noise (niah_single_1, vt) take it, not the held-out text
    answers: dict  # task family -> how one answer is written after the answer prefix
    # task family -> tokens a generated answer may take (RULER's tokens_to_generate, its prompts shorter
    # by as much); a family left out gets its answers' own length: an instruct model that opens with
    # a phrase of its own would otherwise be cut off mid-answer and scored 0
    tokens_to_generate: dict
    quote_values: bool  # words and UUIDs written as string literals


TEMPLATES = {
    "ruler": Template(
        niah_head=(
            "Some special magic {kind} are hidden within the following text. Make sure to memorize it. "
            "I will quiz you about the {kind} afterwards.\n"
        ),
        niah_needle=" One of the special magic {kind} for {key} is: {value}.",
        niah_question="\nWhat are all the special magic {kind} for {key} mentioned in the provided text?",
        niah_answer_prefix=" The special magic {kind} for {key} mentioned in the provided text are",
        vt_head="Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n",
        vt_first=" VAR {var} = {value}.",
        vt_hop=" VAR {var} = VAR {prev}.",
        vt_question="\nQuestion: Find all variables that are assigned the value {value} in the text above.",
        vt_answer_prefix=(
            " Answer: According to the chain(s) of variable assignment in the text above, {count} variables "
            "are assgined the value {value}, they are:"
        ),
        cwe_head=(
            "Below is a numbered list of words. In these words, some appear more often than others. "
            "Memorize the ones that appear most often.\n"
        ),
        cwe_item=" {index}. {word}",
        cwe_question="\nQuestion: What are the {count} most common words in the above list?",
        cwe_answer_prefix=" Answer: The top {count} words that appear most often in the list are:",
        fwe_head=(
            "Read the following coded text and track the frequency of each coded word. Find the three most "
            "frequently appeared coded words."
        ),
        fwe_question=(
            "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most "
            "frequently appeared words in the above coded text?"
        ),
        fwe_answer_prefix=" Answer: According to the coded text above, the three most frequently appeared words are:",
        noise_haystack=True,
        answers={"niah": " {answer}", "vt": " {answer}", "cwe": " {answer}", "fwe": " {answer}"},
        tokens_to_generate={"niah": 128, "vt": 30, "cwe": 120, "fwe": 50},  # RULER's constants.py
        quote_values=False,
    ),
    "code": Template(
        niah_head="",  # a source file does not announce its contents; the question at the end does
        niah_needle='\nmagic_{kind}["{key}"] = {value}\n',
        niah_question="\n# What are the magic {kind} for {key}?\n",
        niah_answer_prefix='magic_{kind}["{key}"] =',
        vt_head="# Track the chains of variable assignments in the code below.\n",
        vt_first="\n{var} = {value}\n",
        vt_hop="\n{var} = {prev}\n",
        vt_question="\n# Which {count} variables are assigned the value {value} in the code above?\n",
        vt_answer_prefix="assigned_{value} = [",
        cwe_head="# Some words in the list below appear more often than others.\nwords = [",
        cwe_item=' "{word}",',
        cwe_question="]\n# The {count} most common words in the list above:\n",
        cwe_answer_prefix="most_common = [",
        fwe_head='# Track how often each coded word appears.\ncoded = "',
        fwe_question='"\n# The three most frequent coded words, ignoring the dots:\n',
        fwe_answer_prefix="most_frequent = [",
        noise_haystack=False,
        answers={"niah": " {answer}", "vt": "{answer}", "cwe": '"{answer}"', "fwe": '"{answer}"'},
        tokens_to_generate={},  # code completes the line it is asked to: the answers' own length
        quote_values=True,
    ),
}


def render_value(template: Template, kind: str, value: str) -> str:
    return f'"{value}"' if template.quote_values and kind != "numbers" else value
