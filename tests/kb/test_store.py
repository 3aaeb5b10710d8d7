"""Put -> get -> read -> verify round trips, content addressing, versions, tags, units-aware metadata."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xrai.errors import ConfigError, DataError, UnitError
from xrai.kb import ConflictError, Item, KnowledgeBase, NotFoundError, array_hash

DTYPES = st.sampled_from(["<f4", ">f8", "<i2", "|u1", "|b1", "<c8", ">u4", "<f2", "|i1", "<i8"])


@pytest.fixture
def kb(anykb: KnowledgeBase) -> KnowledgeBase:
    """These tests run on every backend and through the HTTP client."""
    return anykb


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    array=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9)),
    meta=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
        st.one_of(st.integers(-(2**53), 2**53), st.text(st.characters(exclude_characters="\x00"), max_size=20), st.booleans(), st.none(),
                  st.floats(allow_nan=False, allow_infinity=False)),
        max_size=5,
    ),
)  # fmt: skip
def test_put_get_read_verify_round_trip(kb: KnowledgeBase, array: np.ndarray, meta: dict) -> None:
    item = kb.put(kind="dataset", name="round trip", metadata=meta, arrays={"a": array})
    got = kb.get(item.id)
    assert got == item
    assert dict(got.metadata) == meta
    info = got.arrays["a"]
    little = array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
    assert info.shape == array.shape and np.dtype(info.dtype) == little
    assert info.hash == array_hash(array)
    back = kb.read_array(item.id, "a")
    assert back.shape == array.shape
    assert back.tobytes() == array.astype(little).tobytes()  # bit for bit (-0.0, NaN payloads)
    assert back.dtype == little  # stored little-endian, values equal
    assert kb.verify([item.id]).ok


def test_hash_depends_on_values_dtype_and_shape_not_on_layout() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert array_hash(a) == array_hash(np.asfortranarray(a)) == array_hash(a.astype(">f4"))
    assert array_hash(a) != array_hash(a.reshape(4, 3, 2))
    assert array_hash(a) != array_hash(a.astype(np.float64))
    b = a.copy()
    b[1, 2, 3] = np.nextafter(b[1, 2, 3], np.float32(100))  # one ulp
    assert array_hash(a) != array_hash(b)
    with pytest.raises(DataError, match="dtype object"):
        array_hash(np.array(["a", None], dtype=object))


def test_identical_arrays_are_stored_once(kb: KnowledgeBase) -> None:
    data = np.random.default_rng(1).random((20, 30))
    first = kb.put(kind="dataset", name="a", arrays={"x": data, "y": data.copy()})
    second = kb.put(kind="dataset", name="b", arrays={"z": data})
    assert first.arrays["x"].hash == first.arrays["y"].hash == second.arrays["z"].hash
    assert kb.stats()["blobs"] == 1
    assert len(list(kb.blobs.paths())) == 1


def test_large_array_streams_in_slabs_and_reads_regions(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xrai.kb.hashing as hashing

    monkeypatch.setattr(hashing, "SLAB_BYTES", 4096)  # force many slabs
    import xrai.kb._blobs as blobs

    monkeypatch.setattr(blobs, "SLAB_BYTES", 4096)
    volume = np.random.default_rng(2).standard_normal((37, 21, 19)).astype(np.float32)
    item = kb.put(kind="dataset.volume", name="v", arrays={"volume": volume}, chunks={"volume": (5, 8, 7)})
    assert item.arrays["volume"].chunks == (5, 8, 7)
    assert item.arrays["volume"].hash == array_hash(volume)
    np.testing.assert_array_equal(kb.read_array(item, "volume", region=(slice(3, 17), 4)), volume[3:17, 4])
    np.testing.assert_array_equal(kb.read_array(item, "volume", region="-1, 2:9, :"), volume[-1, 2:9, :])
    np.testing.assert_array_equal(kb.read_array(item, "volume", region=(slice(30, 100),)), volume[30:])
    with pytest.raises(ConfigError, match="step 2"):
        kb.read_array(item, "volume", region=(slice(0, 10, 2),))
    with pytest.raises(ConfigError, match="index 37 is out of range"):
        kb.read_array(item, "volume", region=(37,))
    with pytest.raises(ConfigError, match="4 axes"):
        kb.read_array(item, "volume", region=(0, 0, 0, 0))
    with pytest.raises(NotFoundError, match="no array 'nope'"):
        kb.read_array(item, "nope")


def test_put_blob_then_reference_by_hash(kb: KnowledgeBase) -> None:
    data = np.arange(10, dtype=np.int16)
    digest = kb.put_blob(data)
    assert digest == array_hash(data)
    item = kb.put(kind="dataset", name="by hash", arrays={"d": digest})
    np.testing.assert_array_equal(kb.read_array(item, "d"), data)
    with pytest.raises(NotFoundError, match="no blob with hash"):
        kb.put(kind="dataset", name="missing", arrays={"d": "0" * 64})


def test_units_are_validated_and_stored_canonically(kb: KnowledgeBase) -> None:
    item = kb.put(
        kind="dataset",
        name="units",
        metadata={"energy_kev": "25 keV", "pixel_size_m": "0.65 um", "distance_m": 0.082,
                  "source": {"ring_energy_gev": "2500 MeV"}, "energies_kev": ["20 keV", "30000 eV"]},
    )  # fmt: skip
    meta = kb.get(item.id).metadata
    assert meta["energy_kev"] == 25.0
    assert meta["pixel_size_m"] == pytest.approx(6.5e-7)
    assert meta["distance_m"] == 0.082
    assert meta["source"]["ring_energy_gev"] == pytest.approx(2.5)
    assert meta["energies_kev"] == pytest.approx([20.0, 30.0])
    with pytest.raises(UnitError, match=r"metadata.energy_kev.*'5 kg'.*wrong dimension"):
        kb.put(kind="dataset", name="bad", metadata={"energy_kev": "5 kg"})
    with pytest.raises(ConfigError, match=r"metadata.x = nan"):
        kb.put(kind="dataset", name="bad", metadata={"x": float("nan")})
    with pytest.raises(ConfigError, match=r"key 'a\.b'.*without '\.'"):
        kb.put(kind="dataset", name="bad", metadata={"a.b": 1})
    with pytest.raises(UnitError, match="no unit suffix"):
        import pint

        kb.put(kind="dataset", name="bad", metadata={"energy": pint.UnitRegistry().Quantity(3, "keV")})
    assert kb.count() == 1  # nothing of the failed puts is visible


def test_bad_item_fields_name_the_field(kb: KnowledgeBase) -> None:
    with pytest.raises(ConfigError, match="kind = 'Dataset'"):
        kb.put(kind="Dataset", name="x")
    with pytest.raises(ConfigError, match="name = ''"):
        kb.put(kind="dataset", name="")
    with pytest.raises(ConfigError, match=r"array name '\.\./x'"):
        kb.put(kind="dataset", name="x", arrays={"../x": np.zeros(2)})
    with pytest.raises(NotFoundError, match="do not exist"):
        kb.put(kind="dataset", name="x", inputs=["0" * 26])
    with pytest.raises(NotFoundError, match="not a valid id"):
        kb.get("../../etc/passwd")
    with pytest.raises(ConfigError, match="NUL character"):
        kb.put(kind="dataset", name="x", metadata={"note": "a\x00b"})
    with pytest.raises(ConfigError, match=r"name = 'a.*b' contains a NUL"):
        kb.put(kind="dataset", name="a\x00b")
    with pytest.raises(DataError, match="dtype <U1"):
        kb.put(kind="dataset", name="x", arrays={"s": np.array(["a"])})


def test_versions_are_immutable_and_linear(kb: KnowledgeBase) -> None:
    v1 = kb.put(kind="model", name="unet", metadata={"epochs": 10, "lr": 0.01}, arrays={"w": np.ones(3)})
    v2 = kb.new_version(v1, metadata={"epochs": 20}, arrays={"b": np.zeros(2)}, remove_metadata=["lr"])
    v3 = kb.new_version(v2, remove_arrays=["w"], description="pruned")
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    assert v2.previous == v1.id and v3.previous == v2.id and v3.series == v1.id
    assert kb.get(v1.id) == v1  # the old version did not change
    assert dict(v2.metadata) == {"epochs": 20}
    assert sorted(v2.arrays) == ["b", "w"] and sorted(v3.arrays) == ["b"]
    assert v2.arrays["w"].hash == v1.arrays["w"].hash
    assert [v.id for v in kb.versions(v1)] == [v1.id, v2.id, v3.id]
    assert kb.latest(v1).id == v3.id
    assert [i.id for i in kb.search(kind="model")] == [v3.id]
    assert {i.id for i in kb.search(kind="model", latest=False)} == {v1.id, v2.id, v3.id}
    with pytest.raises(ConflictError, match="already has a newer version"):
        kb.new_version(v1, metadata={"epochs": 5})
    kb.delete(v3)
    assert kb.latest(v1).id == v2.id
    assert [i.id for i in kb.search(kind="model")] == [v2.id]


def test_tags_change_search_but_not_content(kb: KnowledgeBase) -> None:
    item = kb.put(kind="dataset", name="tagged", tags=["raw", "raw", "fish"])
    assert item.tags == ("fish", "raw")
    tagged = kb.add_tags(item, ["parasitised"])
    assert tagged.tags == ("fish", "parasitised", "raw")
    assert [i.id for i in kb.search(tags=["parasitised"])] == [item.id]
    assert [i.id for i in kb.search(text="parasitised")] == [item.id]
    kb.remove_tags(item, ["parasitised"])
    assert kb.search(tags=["parasitised"]) == [] and kb.search(text="parasitised") == []


def test_runs_record_code_parameters_environment_and_status(kb: KnowledgeBase) -> None:
    run = kb.start_run(workflow="reconstruct", parameters={"filter": "ramp", "pixel_size_m": "1 um"})
    assert run.status == "running" and run.code_version.startswith("xrai ")
    assert "python" in run.environment and run.parameters["pixel_size_m"] == pytest.approx(1e-6)
    item = kb.put(kind="dataset.volume", name="vol", run=run)
    done = kb.finish_run(run, status="succeeded", logs="all good")
    assert done.status == "succeeded" and done.logs == "all good" and done.finished_at >= done.started_at
    assert kb.get(item).run == run.id
    with pytest.raises(ConflictError, match="already finished"):
        kb.finish_run(run, status="failed")
    with pytest.raises(ConfigError, match="status = 'ok'"):
        kb.finish_run(run, status="ok")
    with pytest.raises(RuntimeError), kb.run(workflow="segment") as failing:
        raise RuntimeError("boom")
    record = kb.get_run(failing.id)
    assert record.status == "failed" and "boom" in record.logs


def test_cache_key_makes_put_idempotent(kb: KnowledgeBase) -> None:
    first = kb.put(kind="dataset.volume", name="stage", cache_key="recon:1234", arrays={"v": np.ones(4)})
    again = kb.put(
        kind="dataset.volume", name="stage again", cache_key="recon:1234", arrays={"v": np.zeros(4)}
    )
    assert again.id == first.id and kb.count() == 1
    assert kb.find_by_key("recon:1234") == first
    assert kb.find_by_key("recon:other") is None


def test_open_existing_without_create_and_reopen(tmp_path) -> None:
    with pytest.raises(NotFoundError, match="no knowledge base"):
        KnowledgeBase.open(tmp_path / "missing", create=False)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        item = kb.put(kind="specimen", name="pupa-3")
    with KnowledgeBase.open(tmp_path / "kb", create=False) as kb:
        assert kb.get(item.id).name == "pupa-3"


def test_item_dict_round_trip() -> None:
    item = Item(id="0" * 26, series="0" * 26, version=1, previous=None, kind="dataset", name="x",
                metadata={"a": [1, 2]}, tags=("t",))  # fmt: skip
    assert Item.from_dict(item.to_dict()) == item


def test_put_many_is_all_or_nothing(kb: KnowledgeBase) -> None:
    parent = kb.put(kind="specimen", name="pupa")
    records = [
        {"kind": "dataset", "name": f"scan {n}", "metadata": {"energy_kev": f"{20 + n} keV"}, "inputs": [parent.id],
         "tags": ["bulk"], "arrays": {"a": np.full(4, n)}}
        for n in range(5)
    ]  # fmt: skip
    ids = kb.put_many(records)
    assert [kb.get(i).name for i in ids] == [f"scan {n}" for n in range(5)]
    assert {i.id for i in kb.search("energy_kev >= 23", tags=["bulk"])} == set(ids[3:])
    assert kb.lineage(parent, direction="descendants").ids == sorted(ids)
    np.testing.assert_array_equal(kb.read_array(ids[2], "a"), np.full(4, 2))
    bad = [
        {"kind": "dataset", "name": "fine"},
        {"kind": "dataset", "name": "bad", "metadata": {"energy_kev": "1 m"}},
    ]
    with pytest.raises(UnitError, match="energy_kev"):
        kb.put_many(bad)
    assert kb.count(latest=False) == 6  # the fine record of the failed batch was not stored either
