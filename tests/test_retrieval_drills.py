"""The retrieval-drills source: reproducible, built on the training split only, every lookup
answered by an assignment earlier in the same document."""
import pytest

from longft.data.sources import SOURCES, load_source
from longft.errors import RecipeError
from longft.data.sources import validate_source
from longft.testbed.corpus import corpus_files


def test_drills_are_reproducible_from_their_seed():
    a = list(load_source({"type": "retrieval_drills", "documents": 30, "seed": 1})["text"])
    b = list(load_source({"type": "retrieval_drills", "documents": 30, "seed": 1})["text"])
    c = list(load_source({"type": "retrieval_drills", "documents": 30, "seed": 2})["text"])
    assert a == b and a != c and len(a) == 30


def test_every_lookup_is_answered_earlier_in_its_document():
    for doc in load_source({"type": "retrieval_drills", "documents": 50})["text"]:
        last = doc.splitlines()[-1]
        name, _, value = last.partition(" = ")
        assert value, last
        assert doc.count(last + "\n") == 2  # the assignment (at some depth) and the lookup at the end
        assert doc.index(last + "\n") < len(doc) - len(last) - 1


def test_drills_read_the_training_split_only():
    assert list(SOURCES["retrieval_drills"].files({})) == corpus_files("train")
    with pytest.raises(RecipeError, match="unknown keys"):
        validate_source({"type": "retrieval_drills", "documents": 5, "split": "heldout"}, "data.sources[1]")


@pytest.mark.parametrize("count", [0, -3, "many", True])
def test_bad_document_counts_are_refused(count):
    with pytest.raises(RecipeError, match=r"data.sources\[0\].documents"):
        validate_source({"type": "retrieval_drills", "documents": count}, "data.sources[0]")


@pytest.mark.parametrize("seed", ["x", 1.5, True])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(RecipeError, match=r"data.sources\[0\].seed = .*whole number"):
        validate_source({"type": "retrieval_drills", "documents": 5, "seed": seed}, "data.sources[0]")


def test_drills_are_the_same_in_every_process():
    """The packed-data cache is keyed by the seed, not the text: string hashing (which changes from
    one interpreter to the next) must not decide the order of names in a drill."""
    import os
    import subprocess
    import sys

    code = ("import hashlib; from longft.data.sources import load_source; "
            "print(hashlib.sha256(repr(list(load_source({'type': 'retrieval_drills', 'documents': 100})['text']))"
            ".encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(digests) == 1


def _edge_shares(docs: list[list[str]]) -> tuple[float, float]:
    """Shares of drills that open with an assignment, and whose code closes with one."""
    opens = sum(" = " in doc[0] for doc in docs) / len(docs)
    last_code = [max(i for i, line in enumerate(doc) if line.endswith("()")) for doc in docs]
    closes = sum(" = " in doc[i + 1] for doc, i in zip(docs, last_code)) / len(docs)
    return opens, closes


def test_drills_place_assignments_at_both_ends_of_the_code():
    """Lookups a window back (an assignment opening the document) and right after their assignment
    (one closing the code) are where retrieval fails first, so the first assignment goes to each end
    in EDGE_SHARE of drills. Against uniform placement (EDGE_SHARE 0) that adds about
    EDGE_SHARE x (1 - the uniform share) at each end; at least half of it is asked for."""
    import random

    from longft.synthetic import drills

    lines = [f"f{i}()\n" for i in range(10)] * 20  # short haystack lines, none with " = "

    def shares(edge_share: float) -> tuple[float, float]:
        rng = random.Random(0)
        return _edge_shares([drills.drill_document(rng, lines, edge_share=edge_share).splitlines() for _ in range(2000)])

    shipped = drills.EDGE_SHARE
    (opens, closes), (uniform_opens, uniform_closes) = shares(shipped), shares(0.0)
    assert opens - uniform_opens > 0.5 * shipped * (1 - uniform_opens), (opens, uniform_opens)
    assert closes - uniform_closes > 0.5 * shipped * (1 - uniform_closes), (closes, uniform_closes)


def test_long_drills_span_their_character_bounds_and_stay_answerable():
    """FoT's drills reach across local windows: `min_chars`/`max_chars` set the haystack's length, and
    every lookup is still answered by an assignment earlier in the same drill."""
    short = list(load_source({"type": "retrieval_drills", "documents": 40, "seed": 3})["text"])
    long = list(load_source({"type": "retrieval_drills", "documents": 40, "seed": 3,
                             "min_chars": 1200, "max_chars": 2400})["text"])
    assert max(len(d) for d in short) < 1200 <= min(len(d) for d in long)
    assert sum(len(d) for d in long) / len(long) > 3 * sum(len(d) for d in short) / len(short)
    for doc in long:
        last = doc.splitlines()[-1]
        assert doc.count(last + "\n") == 2 and doc.index(last + "\n") < len(doc) - len(last) - 1


@pytest.mark.parametrize("fields, match", [
    ({"min_chars": 0}, r"min_chars = 0: must be a whole number >= 1"),
    ({"max_chars": "long"}, r"max_chars = 'long': must be a whole number >= 1"),
    ({"min_chars": 900, "max_chars": 500}, r"max_chars = 500: must be >= min_chars \(900\)"),
    ({"min_chars": 900}, r"max_chars = 440: must be >= min_chars \(900\)"),
])
def test_bad_drill_lengths_are_refused(fields, match):
    with pytest.raises(RecipeError, match=r"data.sources\[0\]\." + match):
        validate_source({"type": "retrieval_drills", "documents": 5, **fields}, "data.sources[0]")


def test_edge_share_is_a_source_setting():
    """A mix sets how often the first assignment sits at either end (FoT's long drills keep a fifth
    each while the base's take 35%); a share outside 0 ... 0.5 is refused before any work."""
    from longft.synthetic.drills import drill_documents
    from longft.testbed.corpus import read_text

    def docs(**setting) -> list[str]:
        return list(load_source({"type": "retrieval_drills", "documents": 50, "seed": 3, **setting})["text"])

    texts = [read_text(p) for p in corpus_files("train")]
    assert docs(edge_share=0.5) == drill_documents(texts, 50, 3, edge_share=0.5)
    assert docs(edge_share=0.5) != docs() == drill_documents(texts, 50, 3)
    for bad in (0.7, -0.1, True, "0.2"):
        with pytest.raises(RecipeError, match=r"data.sources\[0\].edge_share = .*from 0 to 0.5"):
            validate_source({"type": "retrieval_drills", "documents": 5, "edge_share": bad}, "data.sources[0]")


def test_passkey_share_puts_that_share_of_drills_in_the_passkey_form():
    """`passkey_share` drills are the code passkey's own prompt: its needle line at some depth, then
    its question with the answer; the key at the end is the one in the needle. Share 0 leaves the
    drills exactly as they were; a share outside 0 ... 1 is refused."""
    import re

    from longft.synthetic.passkey_text import CODE_NEEDLE, CODE_QUESTION

    def docs(**setting) -> list[str]:
        return list(load_source({"type": "retrieval_drills", "documents": 200, "seed": 4, **setting})["text"])

    tail = re.compile(re.escape(CODE_QUESTION[0] + CODE_QUESTION[1]) + r" (\d{5})\n$")
    every = docs(passkey_share=1.0, min_chars=200)
    for doc in every:
        key = tail.search(doc).group(1)
        needle = CODE_NEEDLE.format(key=key)
        assert doc.count(needle) == 1 and doc.index(needle) < len(doc) - len(CODE_QUESTION[0]) - 20
        assert 200 <= len(doc) <= 440 + len(needle) + 60  # the haystack's bounds, plus the needle and question
    half = sum(bool(tail.search(d)) for d in docs(passkey_share=0.5))
    assert 70 < half < 130, half
    assert docs(passkey_share=0) == docs() and not any(tail.search(d) for d in docs())
    for bad in (1.5, -0.1, True, "half"):
        with pytest.raises(RecipeError, match=r"data.sources\[0\].passkey_share = .*from 0 to 1"):
            validate_source({"type": "retrieval_drills", "documents": 5, "passkey_share": bad}, "data.sources[0]")
