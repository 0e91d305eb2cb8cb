"""Position schemes match their papers' definitions, and packing stays isolated under each of them
on every attention path that runs on the CPU (invariant 2)."""
import pytest
import torch

from longft.attention.full import register_full_attention
from longft.data.collator import PackedCollator
from longft.errors import RecipeError
from longft.positions.schemes import POSITION_SCHEMES
from longft.validation import load_recipe


def draw(name, params, rows, seq_len, length, step=0, seed=0):
    torch.manual_seed(seed)
    return POSITION_SCHEMES[name].make(params, seq_len, length)(rows, step)


def split(positions, doc_lens):
    out, start = [], 0
    for n in doc_lens:
        out.append(positions[start : start + n])
        start += n
    return out


def test_document_positions_count_from_zero_per_document():
    assert draw("document", {}, [[3, 2]], 5, 5) == [[0, 1, 2, 0, 1]]


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_pose_chunks_skip_within_the_target(chunks):
    seq_len, target = 64, 512
    seen_max, jumps_seen = 0, set()
    for seed in range(200):
        (row,) = draw("pose", {"chunks": chunks}, [[40, 24]], seq_len, target, seed=seed)
        for doc in split(row, [40, 24]):
            assert doc[0] == 0 and all(b > a for a, b in zip(doc, doc[1:]))  # starts at 0, increasing
            assert doc[-1] < target
            jumps = [b - a for a, b in zip(doc, doc[1:]) if b - a != 1]
            assert len(jumps) <= chunks - 1  # contiguous inside each of the chunks
            pieces = 1 + sum(1 for a, b in zip(doc, doc[1:]) if b - a != 1)
            jumps_seen.add(pieces)
            # the skips u_i are non-decreasing: the last position is n - 1 + u_{c-1} <= target - 1
            assert doc[-1] - (len(doc) - 1) <= target - len(doc)
            seen_max = max(seen_max, doc[-1])
    if chunks > 1:
        assert seen_max > seq_len * 4  # training at the window reaches far into the target range
    assert max(jumps_seen) == chunks


def test_randomized_positions_are_one_sorted_subset_per_batch():
    rows = [[10, 6], [16]]
    a = draw("randomized", {}, rows, 16, 1000, seed=1)
    shared = a[1]
    assert shared == sorted(shared) and len(set(shared)) == 16 and max(shared) < 1000
    assert split(a[0], [10, 6]) == [shared[:10], shared[:6]]  # every row and document from the same draw
    b = draw("randomized", {}, rows, 16, 1000, seed=2)
    assert b[1] != shared  # a new draw for the next batch


def test_shifted_positions_progress_batch_by_batch_or_jump_at_random():
    rows = [[4, 4], [8]]
    offsets = [draw("shifted", {"stride": 3}, rows, 8, 20, step=s)[1][0] for s in range(6)]
    assert offsets == [0, 3, 6, 9, 12, 0]  # through [0, M - seq_len] = [0, 12], then around
    for s in range(20):
        batch = draw("shifted", {"mode": "random"}, rows, 8, 20, seed=s)
        offset = batch[1][0]
        assert 0 <= offset <= 12 and batch[1] == list(range(offset, offset + 8))
        assert split(batch[0], [4, 4]) == [list(range(offset, offset + 4))] * 2


BAD = [
    ({"position": {"scheme": "pose", "scheme_length": 256}, "data": {"seq_len": 256}}, "PoSE's target must be longer"),
    ({"position": {"scheme": "pose", "scheme_params": {"chunks": 300}}, "data": {"seq_len": 256}}, "more chunks than"),
    ({"position": {"scheme": "pose", "scheme_params": {"chunk": 2}}, "data": {"seq_len": 256}}, "takes ['chunks']"),
    ({"position": {"scheme": "randomized", "scheme_length": 512}}, "M must be >= 1024"),
    ({"position": {"scheme": "shifted", "scheme_params": {"mode": "sideways"}}}, "valid modes: progressive, random"),
    ({"position": {"scheme": "skipwise"}}, "valid values: document, pose, randomized, shifted"),
]


@pytest.mark.parametrize("overrides,message", BAD)
def test_bad_scheme_settings_fail_at_load(overrides, message):
    with pytest.raises(RecipeError) as err:
        load_recipe("tiny-yarn-4x", overrides)
    assert message in str(err.value)


DOCS = [[7, 8, 9, 10, 11, 12, 13], [20, 21, 22, 23, 24, 25, 26, 27], [40, 41, 42, 43], [50, 51, 52, 53, 54, 55]]
SCHEMES = {"document": {}, "pose": {"chunks": 2}, "randomized": {}, "shifted": {"mode": "random"}}


@pytest.mark.parametrize("path", ["dense", "segments", "eager", "flex"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_packed_loss_equals_documents_alone_under_every_scheme(make_model, scheme, path):
    torch.manual_seed(5)
    collate = PackedCollator(32, 0, scheme, SCHEMES[scheme], 256)
    batch = collate([{"input_ids": DOCS[0] + DOCS[1], "doc_lens": [7, 8]}, {"input_ids": DOCS[2] + DOCS[3], "doc_lens": [4, 6]}])
    model = make_model(attn=register_full_attention(path), window=256)
    reference = make_model(attn="sdpa", window=256)
    layout = [(0, 0, 7), (0, 7, 8), (1, 0, 4), (1, 4, 6)]
    with torch.no_grad():
        packed = model(**batch).loss.item()
        total = count = 0
        for doc, (row, start, n) in zip(DOCS, layout):
            pos = batch["position_ids"][row, start : start + n][None]
            ids = torch.tensor([doc])
            total += reference(input_ids=ids, labels=ids, position_ids=pos).loss.item() * (n - 1)
            count += n - 1
    assert packed == pytest.approx(total / count, rel=1e-5)
