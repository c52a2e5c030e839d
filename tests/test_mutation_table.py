"""tests/mutate.py puts each bug of tests/MUTATIONS.md back by replacing a text in the
code. When the code is rewritten that text disappears and the row silently stops
guarding anything; this test says so at once (it does not run the mutations: that is
``python tests/mutate.py``)."""
import os

import mutate


def test_every_mutation_text_is_in_its_file_exactly_once():
    stale = []
    for n, (path, old, new, _selection) in enumerate(mutate.MUTATIONS, start=1):
        with open(os.path.join(mutate.ROOT, path), encoding="utf-8") as fh:
            if fh.read().count(old) != 1:
                stale.append(f"row {n}: {path}")
        assert old != new, f"row {n} changes nothing"
    assert not stale, "mutation texts no longer in the code: " + "; ".join(stale)


def test_the_table_and_the_markdown_have_the_same_rows():
    with open(os.path.join(os.path.dirname(__file__), "MUTATIONS.md"), encoding="utf-8") as fh:
        rows = [ln for ln in fh if ln.startswith("| ") and ln.split("|")[1].strip().isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, len(mutate.MUTATIONS) + 1))
