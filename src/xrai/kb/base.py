"""The knowledge-base interface: one API for the embedded store, the facility store and the HTTP client.

:meth:`KnowledgeBase.open` picks the implementation from the location:

- a folder (``"./xrai-kb"``): SQLite (WAL) catalogue + local Zarr v3 blob store in that folder, created on first
  use, schema migrated automatically (Alembic);
- a database URL (``"postgresql+psycopg://user:pw@host/db"``, ``"sqlite:///path.db"``) with ``store_url=`` a
  folder or ``"s3://bucket/prefix"`` (+ ``storage_options`` for fsspec/s3fs): the facility-scale store;
- an HTTP URL (``"http://host:8000"``) with ``token=``: a client of ``xrai serve`` that behaves like the local
  store.

Examples
--------
>>> import numpy as np
>>> from xrai.kb import KnowledgeBase
>>> kb = KnowledgeBase.open(tmp_path / "xrai-kb")  # doctest: +SKIP
>>> run = kb.start_run(workflow="reconstruct", parameters={"filter": "ramp"}, code_version="0.1.0")
>>> scan = kb.put(kind="dataset.raw_scan", name="fish-001", metadata={"energy_kev": "25 keV",
...     "specimen": {"line": "HdrR", "group": "control"}}, arrays={"projections": np.zeros((4, 8, 8))})
>>> vol = kb.put(kind="dataset.volume", name="fish-001 volume", arrays={"volume": np.ones((8, 8, 8))},
...     inputs=[scan.id], run=run.id, cache_key="stage:abc123")
>>> kb.finish_run(run, status="succeeded", logs="ok")
>>> kb.read_array(vol.id, "volume", region=(slice(0, 2), slice(None), 3)).shape
(2, 8)
>>> [i.name for i in kb.search("energy_kev > 20 and specimen.line == 'HdrR'")]
['fish-001']
>>> kb.lineage(vol.id).ids == [scan.id]
True
>>> kb.find_by_key("stage:abc123").id == vol.id
True
>>> kb.verify().ok
True
"""

from __future__ import annotations

import abc
import os
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from xrai.kb._model import GcReport, Item, Lineage, ModelMatch, Run, VerifyReport

__all__ = ["ArrayLike", "KnowledgeBase", "Region"]

#: An array to store: a numpy array, anything with ``shape``, ``dtype`` and slicing (h5py/zarr datasets,
#: memory maps), or the hash of a blob already stored (``put_blob``).
ArrayLike = Any

#: A region of an array: a tuple of slices (step 1) and integers, or the same as text ``"0:10, :, 5"``.
Region = tuple[slice | int, ...] | str | None


class KnowledgeBase(abc.ABC):
    """A versioned, linked, searchable, verifiable store of items with content-addressed arrays.

    Use :meth:`open`; the implementations are :class:`xrai.kb.local.LocalKnowledgeBase` (embedded or facility)
    and :class:`xrai.kb.remote.RemoteKnowledgeBase` (HTTP). All are context managers.
    """

    # ------------------------------------------------------------------ opening

    @staticmethod
    def open(
        location: str | os.PathLike[str],
        *,
        store_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        token: str | None = None,
        create: bool = True,
    ) -> KnowledgeBase:
        """Open (and by default create) a knowledge base.

        Parameters
        ----------
        location
            A folder (embedded: ``<folder>/catalog.sqlite`` + ``<folder>/blobs/``), an SQLAlchemy database URL
            (``postgresql+psycopg://...``, ``sqlite:///...``) or an ``http(s)://`` URL of ``xrai serve``.
        store_url
            Where blobs live for a database URL: a folder or an fsspec URL such as ``"s3://bucket/prefix"``.
            Defaults to ``<folder>/blobs`` for a folder.
        storage_options
            fsspec options for ``store_url`` (for S3: ``{"endpoint_url": ..., "key": ..., "secret": ...}``).
        token
            Bearer token for an HTTP URL (default: the ``XRAI_KB_TOKEN`` environment variable).
        create
            Create the folder/schema if missing; with ``False`` a missing folder raises ``NotFoundError``.
        """
        text = os.fspath(location)
        if text.startswith(("http://", "https://")):
            from xrai.kb.remote import RemoteKnowledgeBase

            return RemoteKnowledgeBase(text, token=token)
        from xrai.kb.local import LocalKnowledgeBase

        return LocalKnowledgeBase(text, store_url=store_url, storage_options=storage_options, create=create)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (the object is unusable afterwards)."""

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ items

    @abc.abstractmethod
    def put(
        self,
        *,
        kind: str,
        name: str,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        arrays: Mapping[str, ArrayLike] | None = None,
        inputs: Sequence[str | Item] = (),
        run: str | Run | None = None,
        tags: Sequence[str] = (),
        cache_key: str | None = None,
        project: str = "default",
        private: bool = False,
        chunks: Mapping[str, tuple[int, ...]] | None = None,
    ) -> Item:
        """Store a new item (version 1) and return it.

        Arrays are hashed (BLAKE3 of dtype, shape and C-order bytes), written once as chunked Zarr v3 under
        their hash if not stored yet, and only then is the item committed, so a crash never leaves a
        half-item visible.

        Parameters
        ----------
        kind
            Dotted lower-case kind (see :data:`xrai.kb.KINDS`), e.g. ``"dataset.volume"``.
        name, description
            Short name and free text, both full-text searchable.
        metadata
            JSON-like mapping (nested mappings allowed; keys are identifiers). A key with a unit suffix
            (``energy_kev``, ``pixel_size_m``, ``exposure_s``, see :mod:`xrai.units`) may hold a number in
            that unit or a string/pint Quantity with any compatible unit (``"25 keV"``, ``"0.65 um"``); it
            is stored as the canonical float. A wrong dimension raises :class:`xrai.errors.UnitError`.
        arrays
            Name -> array (numpy array, h5py/zarr dataset, memmap, or the hash of a stored blob).
        inputs
            Items (or ids) this item was derived from. They must exist.
        run
            The run (or its id) that made the item.
        tags
            Free-form labels.
        cache_key
            Unique memoisation key. If an item with this key exists, nothing is stored and the existing item
            is returned (a pipeline stage computed twice stores once).
        project, private
            Owning project; private items are visible over HTTP only to tokens of that project.
        chunks
            Array name -> Zarr chunk shape (default: about 1 MiB chunks, cubic-ish).
        """

    def put_many(
        self, records: Sequence[Mapping[str, Any]], *, chunks: Mapping[str, tuple[int, ...]] | None = None
    ) -> list[str]:
        """Store many items; each record holds the keyword arguments of :meth:`put`. Returns their ids.

        The local store does this in one transaction (all or nothing, much faster than one ``put`` each); the
        HTTP client puts them one by one.
        """
        return [self.put(**dict(record), chunks=chunks).id for record in records]

    @abc.abstractmethod
    def get(self, item_id: str | Item) -> Item:
        """The item with this id (exactly this version). Raises :class:`NotFoundError`."""

    @abc.abstractmethod
    def latest(self, item_id: str | Item) -> Item:
        """The newest version of the item's series."""

    @abc.abstractmethod
    def versions(self, item_id: str | Item) -> list[Item]:
        """All versions of the item's series, oldest first."""

    @abc.abstractmethod
    def new_version(
        self,
        item_id: str | Item,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        arrays: Mapping[str, ArrayLike] | None = None,
        remove_metadata: Sequence[str] = (),
        remove_arrays: Sequence[str] = (),
        inputs: Sequence[str | Item] | None = None,
        run: str | Run | None = None,
        tags: Sequence[str] | None = None,
        chunks: Mapping[str, tuple[int, ...]] | None = None,
    ) -> Item:
        """Create the next version of the latest version ``item_id`` and return it.

        The new version copies everything not given; ``metadata`` keys are merged into the previous metadata
        (top level) and ``arrays`` added or replaced; ``remove_metadata``/``remove_arrays`` drop names. The
        old version stays unchanged. Making a new version of a version that already has a successor raises
        :class:`ConflictError` (history is linear).
        """

    @abc.abstractmethod
    def delete(self, item_id: str | Item, *, recursive: bool = False) -> GcReport:
        """Delete an item version and free the space of blobs no other item uses.

        Raises :class:`LineageError` if other items were derived from it, unless ``recursive=True``, which
        deletes those descendants too.
        """

    @abc.abstractmethod
    def add_tags(self, item_id: str | Item, tags: Sequence[str]) -> Item:
        """Add free-form tags (tags are the only mutable part of an item)."""

    @abc.abstractmethod
    def remove_tags(self, item_id: str | Item, tags: Sequence[str]) -> Item:
        """Remove tags."""

    @abc.abstractmethod
    def find_by_key(self, cache_key: str) -> Item | None:
        """The item stored with this ``cache_key``, or ``None`` (memoisation lookup)."""

    # ------------------------------------------------------------------ arrays

    @abc.abstractmethod
    def read_array(self, item_id: str | Item, name: str, region: Region = None) -> np.ndarray:
        """Read an item's array, or only ``region`` of it (only the chunks the region touches are read).

        ``region`` is a tuple of slices (step 1) and integers, e.g. ``(slice(0, 10), slice(None), 5)``, or
        the same as text ``"0:10,:,5"``; missing trailing axes are taken whole.
        """

    @abc.abstractmethod
    def put_blob(self, array: ArrayLike, *, chunks: tuple[int, ...] | None = None) -> str:
        """Store an array on its own and return its hash (to reference later in ``put(arrays=...)``).

        Unreferenced blobs are removed by :meth:`gc` once older than its grace period.
        """

    # ------------------------------------------------------------------ runs

    @abc.abstractmethod
    def start_run(
        self,
        *,
        workflow: str,
        parameters: Mapping[str, Any] | None = None,
        code_version: str | None = None,
        environment: Mapping[str, Any] | None = None,
        project: str = "default",
    ) -> Run:
        """Record the start of a workflow run (status ``running``).

        ``code_version`` defaults to the xrai version, ``environment`` to Python/platform/host/package
        versions.
        """

    @abc.abstractmethod
    def finish_run(self, run: str | Run, *, status: str = "succeeded", logs: str = "") -> Run:
        """Record the end of a run: ``status`` is ``succeeded``, ``failed`` or ``cancelled``."""

    @abc.abstractmethod
    def get_run(self, run_id: str | Run) -> Run:
        """The run with this id."""

    @contextmanager
    def run(
        self, *, workflow: str, parameters: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[Run]:
        """Context manager: start a run, finish it ``succeeded``, or ``failed`` with the traceback as logs."""
        record = self.start_run(workflow=workflow, parameters=parameters, **kwargs)
        try:
            yield record
        except BaseException:
            self.finish_run(record, status="failed", logs=traceback.format_exc())
            raise
        self.finish_run(record, status="succeeded")

    # ------------------------------------------------------------------ queries

    @abc.abstractmethod
    def search(
        self,
        query: str | None = None,
        *,
        kind: str | None = None,
        text: str | None = None,
        tags: Sequence[str] = (),
        project: str | None = None,
        latest: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Item]:
        """Find items, newest first.

        Parameters
        ----------
        query
            Filter expression over metadata, e.g. ``"energy_kev > 20 and specimen.line == 'HdrR'"``:
            comparisons ``== != < <= > >=``, ``in [...]``, ``not in``, ``and``/``or``/``not``, parentheses,
            chained ranges ``20 <= energy_kev < 30`` and ``exists(key)``. Dotted names reach nested metadata;
            ``kind``, ``name``, ``tag``, ``project``, ``run``, ``version``, ``created_at`` refer to the item
            itself (``metadata.name`` forces metadata). Values for unit keys may carry units:
            ``energy_kev > 20000 eV``, ``pixel_size_m < '1 um'``. A list-valued key matches if any element does.
        kind
            Restrict to this kind and its sub-kinds (``"dataset"`` matches ``"dataset.volume"``).
        text
            Full-text search over names, descriptions and tags (all words must occur).
        tags
            Items carrying all of these tags.
        project
            Restrict to one project.
        latest
            Only the newest version of each series (default) or every version.
        limit, offset
            Paging.
        """

    @abc.abstractmethod
    def count(
        self,
        query: str | None = None,
        *,
        kind: str | None = None,
        text: str | None = None,
        tags: Sequence[str] = (),
        project: str | None = None,
        latest: bool = True,
    ) -> int:
        """Number of items :meth:`search` would find without paging."""

    @abc.abstractmethod
    def lineage(
        self, item_id: str | Item, *, direction: str = "ancestors", depth: int | None = None
    ) -> Lineage:
        """Items this one was derived from (``"ancestors"``) or derived from it (``"descendants"``), to any
        ``depth`` (``None``: unlimited)."""

    def find_models(
        self,
        like: str | Item,
        *,
        metric: str | None = None,
        task: str | None = None,
        match: Sequence[str] | None = None,
        tolerance: float = 0.1,
        higher_is_better: bool = True,
        limit: int = 20,
    ) -> list[ModelMatch]:
        """Models evaluated on data like ``like``: a leaderboard, best first.

        ``like`` is a dataset (or its id) or a search query for the datasets. For an item, the datasets
        considered are those of the same kind whose metadata agree on the ``match`` keys (default: every
        top-level string and number of its metadata): strings equal, numbers within the relative
        ``tolerance``. Evaluations are items of kind ``"evaluation"`` whose inputs are a model and a dataset,
        with metadata ``metric``, ``value`` and optionally ``task``.
        """
        from xrai.kb._similar import find_models

        return find_models(
            self, like, metric=metric, task=task, match=match, tolerance=tolerance,
            higher_is_better=higher_is_better, limit=limit,
        )  # fmt: skip

    # ------------------------------------------------------------------ maintenance

    @abc.abstractmethod
    def verify(self, items: Sequence[str | Item] | None = None) -> VerifyReport:
        """Re-hash every stored blob (or those of ``items``) and report the corrupted ones."""

    @abc.abstractmethod
    def gc(self, *, grace_s: float = 3600.0) -> GcReport:
        """Remove blobs no item references and leftovers of crashed writes older than ``grace_s`` seconds."""

    # ------------------------------------------------------------------ exchange

    def export(
        self, item_id: str | Item, path: str | os.PathLike[str], *, format: str | None = None,
        array: str | None = None,
    ) -> Path:  # fmt: skip
        """Write an item's array(s) to ``path``: ``"tiff"`` (a multi-page stack of one array), ``"nxtomo"``
        (NeXus HDF5), ``"npy"`` (one array) or ``"zarr"`` (all arrays + metadata). ``format`` defaults to the
        file suffix."""
        from xrai.kb.exchange import export_item

        return export_item(self, item_id, Path(path), format=format, array=array)

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        inputs: Sequence[str | Item] = (),
        run: str | Run | None = None,
        tags: Sequence[str] = (),
        project: str = "default",
    ) -> Item:
        """Import a file as an item: NXtomo/HDF5 scan (projections, flats, darks, angles, energy, distance,
        pixel size), a TIFF stack or folder of TIFFs, a ``.npy`` array, or a Zarr array."""
        from xrai.kb.exchange import import_path

        return import_path(
            self, Path(path), kind=kind, name=name, metadata=metadata, inputs=inputs, run=run, tags=tags,
            project=project,
        )  # fmt: skip


def _id_of(value: str | Item | Run) -> str:
    return value if isinstance(value, str) else value.id
