"""Search semantics against a brute-force Python oracle, units in queries, full text, kinds, tags, paging."""

from __future__ import annotations

import numpy as np
import pytest

from xrai.kb import KnowledgeBase
from xrai.kb._query import QueryError

LINES = ["HdrR", "Cab", "Kaga", "HNI"]


@pytest.fixture
def kb(anykb: KnowledgeBase) -> KnowledgeBase:
    """These tests run on every backend and through the HTTP client."""
    return anykb


@pytest.fixture
def populated(kb: KnowledgeBase) -> tuple[KnowledgeBase, list]:
    rng = np.random.default_rng(7)
    items = []
    for n in range(40):
        meta = {
            "energy_kev": f"{rng.uniform(10, 40):.3f} keV"
            if n % 7
            else f"{rng.uniform(10000, 40000):.1f} eV",
            "specimen": {"line": LINES[n % 4], "group": "treated" if n % 3 == 0 else "control"},
            "n_angles": int(rng.choice([180, 900, 1500, 3000])),
            "good": bool(n % 2),
        }
        if n % 5 == 0:
            meta["labels"] = ["eye", "heart"] if n % 10 == 0 else ["liver"]
        if n % 6 == 0:
            meta["note"] = None
        kind = "dataset.raw_scan" if n % 2 else "dataset.volume"
        items.append(
            kb.put(kind=kind, name=f"fish-{n:03d}", metadata=meta, tags=["batch1"] if n < 20 else [])
        )
    return kb, items


def _get(meta: dict, path: str):
    value = meta
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


_MISSING = object()


def _values(meta, path):
    value = _get(meta, path)
    if value is _MISSING:
        return []
    return value if isinstance(value, list) else [value]


ORACLES = {
    "energy_kev > 20": lambda m: any(v > 20 for v in _values(m, "energy_kev")),
    "energy_kev > 20000 eV": lambda m: any(v > 20 for v in _values(m, "energy_kev")),
    "energy_kev <= '0.025 MeV'": lambda m: any(v <= 25 for v in _values(m, "energy_kev")),
    "20 <= energy_kev < 30": lambda m: any(20 <= v < 30 for v in _values(m, "energy_kev")),
    "specimen.line == 'HdrR'": lambda m: "HdrR" in _values(m, "specimen.line"),
    "energy_kev > 20 and specimen.line == 'HdrR'": lambda m: (
        any(v > 20 for v in _values(m, "energy_kev")) and "HdrR" in _values(m, "specimen.line")
    ),
    "specimen.line in ['Cab', 'Kaga'] or n_angles >= 1500": lambda m: (
        bool({"Cab", "Kaga"} & set(_values(m, "specimen.line")))
        or any(v >= 1500 for v in _values(m, "n_angles"))
    ),
    "not specimen.group == 'control'": lambda m: "control" not in _values(m, "specimen.group"),
    "specimen.group != 'control'": lambda m: any(v != "control" for v in _values(m, "specimen.group")),
    "labels == 'heart'": lambda m: "heart" in _values(m, "labels"),
    "labels not in ['liver']": lambda m: any(v != "liver" for v in _values(m, "labels")),
    "exists(labels)": lambda m: _get(m, "labels") is not _MISSING,
    "not exists(labels) and good == true": lambda m: _get(m, "labels") is _MISSING and m["good"] is True,
    "note == null": lambda m: _get(m, "note") is None,
    "n_angles = 180 AND good = false": lambda m: m["n_angles"] == 180 and m["good"] is False,
}


def test_search_matches_the_python_oracle(populated) -> None:
    kb, items = populated
    stored = {i.id: kb.get(i.id).metadata for i in items}
    for query, oracle in ORACLES.items():
        expected = {key for key, meta in stored.items() if oracle(meta)}
        assert 0 < len(expected) < len(items), query  # the query discriminates
        found = {i.id for i in kb.search(query, limit=1000)}
        assert found == expected, query
        assert kb.count(query) == len(expected), query
        newest = [i.id for i in reversed(items) if i.id in expected]
        assert [i.id for i in kb.search(query, limit=3)] == newest[:3], query
        assert [i.id for i in kb.search(query, limit=2, offset=2)] == newest[2:4], query


def test_units_in_metadata_and_query_agree(kb: KnowledgeBase) -> None:
    item = kb.put(kind="dataset", name="stored in keV string", metadata={"energy_kev": "25 keV"})
    assert [i.id for i in kb.search("energy_kev > 20")] == [item.id]
    assert [i.id for i in kb.search("energy_kev == 25000 eV")] == [item.id]
    assert kb.search("energy_kev > 0.03 MeV") == []
    pixel = kb.put(kind="dataset", name="px", metadata={"pixel_size_m": "650 nm"})
    assert [i.id for i in kb.search("pixel_size_m < '1 um'")] == [pixel.id]
    with pytest.raises(QueryError, match=r"energy_kev = '5 kg' has the wrong dimension"):
        kb.search("energy_kev > 5 kg")


def test_item_fields_kinds_tags_projects_and_paging(populated) -> None:
    kb, items = populated
    assert kb.count(kind="dataset") == 40
    assert kb.count(kind="dataset.volume") == 20
    assert kb.count("kind == 'dataset.raw_scan'") == 20
    assert kb.count(kind="data") == 0  # a kind prefix must end at a dot
    assert kb.count(tags=["batch1"]) == 20 and kb.count("tag == 'batch1'") == 20
    newest_tagged = ["fish-019", "fish-018", "fish-017"]
    assert [i.name for i in kb.search("tag == 'batch1'", limit=3)] == newest_tagged
    assert [i.name for i in kb.search("exists(n_angles)", tags=["batch1"], limit=3)] == newest_tagged
    assert [i.name for i in kb.search("tag != 'batch1'", limit=1)] == ["fish-039"]
    assert kb.count("name == 'fish-003'") == 1 and kb.count("metadata.name == 'fish-003'") == 0
    newest_first = kb.search(kind="dataset", limit=10)
    assert [i.id for i in newest_first] == [i.id for i in reversed(items)][:10]
    page2 = kb.search(kind="dataset", limit=10, offset=10)
    assert [i.id for i in page2] == [i.id for i in reversed(items)][10:20]
    assert kb.count(f"created_at >= '{items[0].created_at.isoformat()}'") == 40
    assert kb.count("created_at < '2000-01-01'") == 0
    other = kb.put(kind="dataset", name="private thing", project="lab-b", private=True)
    assert [i.id for i in kb.search(project="lab-b")] == [other.id]
    assert kb.count("project == 'lab-b'") == 1


def test_full_text_over_names_descriptions_and_tags(kb: KnowledgeBase) -> None:
    a = kb.put(kind="dataset", name="Medaka heart scan", description="Inbred line HdrR, 3 dpf")
    b = kb.put(kind="dataset", name="Pupa 17", description="parasitised by a wasp", tags=["anomaly"])
    assert [i.id for i in kb.search(text="medaka")] == [a.id]
    assert [i.id for i in kb.search(text="heart HdrR")] == [a.id]  # all words
    assert [i.id for i in kb.search(text="parasit")] == [b.id]  # prefix
    assert [i.id for i in kb.search(text="anomaly")] == [b.id]
    assert kb.search(text="heart wasp") == []
    assert [i.id for i in kb.search("kind == 'dataset'", text="pupa")] == [b.id]
    assert {i.id for i in kb.search(text='"; DROP TABLE items; --')} == set()
    assert kb.count() == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("energy_kev >", "not a valid expression"),
        ("a + b > 3", "must compare a field with a value"),
        ("__import__('os').system('true')", "is not a comparison"),
        ("x in 3", "needs a list"),
        ("x == [1, 2]", "use 'in'"),
        ("created_at > 5", "ISO date"),
        ("x == {'a': 1}", "not a number, string"),
        ("x > null", "null can only be compared"),
    ],
)
def test_bad_queries_say_what_is_wrong(kb: KnowledgeBase, query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        kb.search(query)


def test_find_models_evaluated_on_similar_data(kb: KnowledgeBase) -> None:
    def dataset(name, line, energy):
        return kb.put(
            kind="dataset.volume", name=name, metadata={"specimen_line": line, "energy_kev": energy}
        )

    query_data = dataset("new fish", "HdrR", 25.0)
    similar = dataset("old fish", "HdrR", 24.0)
    other_line = dataset("other line", "Cab", 25.0)
    far_energy = dataset("far energy", "HdrR", 60.0)
    results = {}
    for n, (data, dice) in enumerate(
        [(similar, 0.91), (similar, 0.85), (other_line, 0.99), (far_energy, 0.97)]
    ):
        model = kb.put(kind="model", name=f"unet-{n}")
        results[model.id] = kb.put(
            kind="evaluation", name=f"eval-{n}", inputs=[model, data],
            metadata={"task": "organ segmentation", "metric": "dice", "value": dice},
        )  # fmt: skip
    kb.put(kind="evaluation", name="hd95", inputs=[kb.put(kind="model", name="m"), similar],
           metadata={"metric": "hd95", "value": 3.0})  # fmt: skip
    board = kb.find_models(query_data, metric="dice")
    assert [(r.model.name, r.value) for r in board] == [("unet-0", 0.91), ("unet-1", 0.85)]
    assert all(r.dataset.id == similar.id for r in board)
    by_line = kb.find_models(query_data, metric="dice", match=["specimen_line"])
    assert [r.value for r in by_line] == [0.97, 0.91, 0.85]
    by_query = kb.find_models("specimen_line == 'Cab'", metric="dice")
    assert [r.model.name for r in by_query] == ["unet-2"]
