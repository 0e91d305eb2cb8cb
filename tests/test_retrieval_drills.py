"""The retrieval-drills source: reproducible, built on the training split only, every lookup
answered by an assignment earlier in the same document."""
import pytest

from longft.data.sources import SOURCES, load_source
from longft.errors import RecipeError
from longft.recipe.schema import validate_source
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
