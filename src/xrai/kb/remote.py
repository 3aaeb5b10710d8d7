"""A client of ``xrai serve`` that behaves like the local knowledge base.

Arrays are uploaded as streamed raw bytes (slab by slab, never the whole array in one buffer) after asking the
server whether their content hash is stored already (then nothing is sent). Region reads fetch only the region;
a whole large array is fetched in slabs along its first axis. Server errors come back as the same exception
classes the local store raises (``NotFoundError``, ``ConflictError``, ``LineageError``, ``UnitError``...).

Examples
--------
>>> kb = KnowledgeBase.open("http://127.0.0.1:8000", token="xrai_...")  # doctest: +SKIP
>>> kb.search("energy_kev > 20", kind="dataset")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from xrai import errors as _errors
from xrai.errors import ConfigError, DataError
from xrai.kb import _model
from xrai.kb._model import (
    ArrayInfo,
    ConflictError,
    GcReport,
    Item,
    KBError,
    Lineage,
    ModelMatch,
    NotFoundError,
    PermissionDeniedError,
    Run,
    VerifyReport,
    check_id,
)
from xrai.kb.base import ArrayLike, KnowledgeBase, Region, _id_of
from xrai.kb.hashing import array_hash, canonical_dtype, iter_slabs

__all__ = ["RemoteKnowledgeBase", "region_to_text"]

#: Bytes per request when streaming an upload or fetching a whole array in slabs.
TRANSFER_BYTES = 16 * 2**20


def region_to_text(region: Region) -> str | None:
    """``(slice(0, 10), 5)`` -> ``"0:10,5"`` (the wire form of a region)."""
    if region is None or isinstance(region, str):
        return region
    if not isinstance(region, tuple):
        region = (region,)
    parts = []
    for axis, part in enumerate(region):
        if isinstance(part, slice):
            if part.step not in (None, 1):
                raise ConfigError(f"region axis {axis}: step {part.step} is not supported (only step 1)")
            start = "" if part.start is None else str(int(part.start))
            stop = "" if part.stop is None else str(int(part.stop))
            parts.append(f"{start}:{stop}")
        elif isinstance(part, int | np.integer) and not isinstance(part, bool):
            parts.append(str(int(part)))
        else:
            raise ConfigError(f"region axis {axis}: {part!r} is not a slice or an integer")
    return ",".join(parts)


def _rid(value: str | Item | Run, name: str = "item id") -> str:
    """The id, validated locally (never put an unchecked string into a URL path)."""
    return check_id(_id_of(value), name=name)


def _error_class(name: str, status: int) -> type[Exception]:
    for module in (_model, _errors):
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, _errors.XraiError):
            return cls
    if name == "QueryError":
        from xrai.kb._query import QueryError

        return QueryError
    return {401: PermissionDeniedError, 403: PermissionDeniedError, 404: NotFoundError, 409: ConflictError,
            413: DataError, 400: ConfigError, 422: ConfigError}.get(status, KBError)  # fmt: skip


class RemoteKnowledgeBase(KnowledgeBase):
    """Knowledge base over HTTP (see :meth:`KnowledgeBase.open` with an ``http(s)://`` URL).

    Parameters
    ----------
    url
        Base URL of ``xrai serve``.
    token
        Bearer token (default: ``XRAI_KB_TOKEN``).
    timeout
        Seconds per request.
    client
        An ``httpx.Client`` to use instead (e.g. FastAPI's ``TestClient`` for in-process tests).
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 300.0, client: Any = None
    ) -> None:
        import httpx

        token = token if token is not None else os.environ.get("XRAI_KB_TOKEN")
        self.url = url.rstrip("/")
        self._client = client if client is not None else httpx.Client(base_url=self.url, timeout=timeout)
        if token:
            self._client.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"RemoteKnowledgeBase({self.url!r})"

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, f"/api/v1{path}", **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                detail, name = str(body.get("detail")), str(body.get("error", ""))
            except ValueError:
                detail, name = response.text[:500], ""
            raise _error_class(name, response.status_code)(f"{detail} (HTTP {response.status_code})")
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # ------------------------------------------------------------------ items

    def _upload(self, array: ArrayLike, chunks: tuple[int, ...] | None = None) -> str:
        if isinstance(array, ArrayInfo):
            return array.hash
        if isinstance(array, str):
            return array
        if not (hasattr(array, "shape") and hasattr(array, "dtype")):
            array = np.asarray(array)
        dtype = canonical_dtype(array.dtype)
        shape = tuple(int(n) for n in array.shape)
        digest = array_hash(array)
        try:
            self._request("GET", f"/blobs/{digest}")
            return digest  # already stored: nothing to send
        except NotFoundError:
            pass
        row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize) if shape else 1
        rows = max(1, TRANSFER_BYTES // row_bytes)

        def body() -> Iterator[bytes]:
            for _, slab in iter_slabs(array, rows=rows):
                yield slab.tobytes()

        params = {"dtype": dtype.str, "shape": ",".join(map(str, shape))}
        if chunks is not None:
            params["chunks"] = ",".join(map(str, chunks))
        headers = {"Content-Type": "application/octet-stream", "X-Content-Hash": digest}
        info = self._json("POST", "/blobs", params=params, content=body(), headers=headers)
        return str(info["hash"])

    def _upload_all(
        self, arrays: Mapping[str, ArrayLike] | None, chunks: Mapping[str, tuple[int, ...]] | None
    ) -> dict[str, str]:
        chunks = chunks or {}
        return {name: self._upload(value, chunks.get(name)) for name, value in (arrays or {}).items()}

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
        from xrai.kb._metadata import normalise_metadata

        if cache_key is not None:
            existing = self.find_by_key(cache_key)
            if existing is not None:
                return existing
        body = {
            "kind": kind, "name": name, "description": description,
            "metadata": normalise_metadata(metadata),  # units are converted here: JSON cannot carry Quantities
            "arrays": self._upload_all(arrays, chunks), "inputs": [_id_of(i) for i in inputs],
            "run": None if run is None else _id_of(run), "tags": list(tags), "cache_key": cache_key,
            "project": project, "private": private,
        }  # fmt: skip
        return Item.from_dict(self._json("POST", "/items", json=body))

    def put_many(
        self, records: Sequence[Mapping[str, Any]], *, chunks: Mapping[str, tuple[int, ...]] | None = None
    ) -> list[str]:
        """Upload the arrays of all records, then store the items in one server transaction (all or nothing)."""
        from xrai.kb._metadata import normalise_metadata

        items = []
        for record in records:
            body = dict(record)
            body["metadata"] = normalise_metadata(body.get("metadata"))
            body["arrays"] = self._upload_all(body.get("arrays"), chunks)
            body["inputs"] = [_id_of(i) for i in body.get("inputs", ())]
            if body.get("run") is not None:
                body["run"] = _id_of(body["run"])
            body["tags"] = list(body.get("tags", ()))
            items.append(body)
        return list(self._json("POST", "/items/batch", json={"items": items})["ids"])

    def put_blob(self, array: ArrayLike, *, chunks: tuple[int, ...] | None = None) -> str:
        return self._upload(array, chunks)

    def get(self, item_id: str | Item) -> Item:
        return Item.from_dict(self._json("GET", f"/items/{_rid(item_id)}"))

    def latest(self, item_id: str | Item) -> Item:
        return Item.from_dict(self._json("GET", f"/items/{_rid(item_id)}/latest"))

    def versions(self, item_id: str | Item) -> list[Item]:
        return [Item.from_dict(d) for d in self._json("GET", f"/items/{_rid(item_id)}/versions")]

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
        from xrai.kb._metadata import normalise_metadata

        body = {
            "name": name, "description": description, "metadata": normalise_metadata(metadata),
            "arrays": self._upload_all(arrays, chunks), "remove_metadata": list(remove_metadata),
            "remove_arrays": list(remove_arrays), "inputs": None if inputs is None else [_id_of(i) for i in inputs],
            "run": None if run is None else _id_of(run), "tags": None if tags is None else list(tags),
        }  # fmt: skip
        return Item.from_dict(self._json("POST", f"/items/{_rid(item_id)}/versions", json=body))

    def delete(self, item_id: str | Item, *, recursive: bool = False) -> GcReport:
        data = self._json("DELETE", f"/items/{_rid(item_id)}", params={"recursive": str(recursive).lower()})
        return GcReport.from_dict(data)

    def add_tags(self, item_id: str | Item, tags: Sequence[str]) -> Item:
        return Item.from_dict(self._json("POST", f"/items/{_rid(item_id)}/tags", json={"add": list(tags)}))

    def remove_tags(self, item_id: str | Item, tags: Sequence[str]) -> Item:
        return Item.from_dict(self._json("POST", f"/items/{_rid(item_id)}/tags", json={"remove": list(tags)}))

    def find_by_key(self, cache_key: str) -> Item | None:
        try:
            return Item.from_dict(self._json("GET", "/cache", params={"key": cache_key}))
        except NotFoundError:
            return None

    # ------------------------------------------------------------------ arrays

    def _fetch(self, item_id: str, name: str, region: str | None) -> np.ndarray:
        params = {} if region is None else {"region": region}
        response = self._request("GET", f"/items/{item_id}/arrays/{name}", params=params)
        return np.load(io.BytesIO(response.content), allow_pickle=False)  # type: ignore[no-any-return]

    def read_array(self, item_id: str | Item, name: str, region: Region = None) -> np.ndarray:
        key = _rid(item_id)
        if region is not None:
            return self._fetch(key, name, region_to_text(region))
        item = item_id if isinstance(item_id, Item) else self.get(key)
        info = item.arrays.get(name)
        if info is None or not info.shape or info.nbytes <= TRANSFER_BYTES:
            return self._fetch(key, name, None)
        out = np.empty(info.shape, dtype=np.dtype(info.dtype))
        row_bytes = max(1, info.nbytes // max(1, info.shape[0]))
        step = max(1, TRANSFER_BYTES // row_bytes)
        for start in range(0, info.shape[0], step):
            out[start : start + step] = self._fetch(key, name, f"{start}:{start + step}")
        return out

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        *,
        workflow: str,
        parameters: Mapping[str, Any] | None = None,
        code_version: str | None = None,
        environment: Mapping[str, Any] | None = None,
        project: str = "default",
    ) -> Run:
        from xrai.kb._metadata import normalise_metadata
        from xrai.kb.local import default_code_version, default_environment

        body = {
            "workflow": workflow, "parameters": normalise_metadata(parameters, where="parameters"),
            "code_version": code_version if code_version is not None else default_code_version(),
            "environment": normalise_metadata(environment if environment is not None else default_environment(),
                                              where="environment"),
            "project": project,
        }  # fmt: skip
        return Run.from_dict(self._json("POST", "/runs", json=body))

    def finish_run(self, run: str | Run, *, status: str = "succeeded", logs: str = "") -> Run:
        body = {"status": status, "logs": logs}
        return Run.from_dict(self._json("POST", f"/runs/{_rid(run, 'run')}/finish", json=body))

    def get_run(self, run_id: str | Run) -> Run:
        return Run.from_dict(self._json("GET", f"/runs/{_rid(run_id, 'run')}"))

    # ------------------------------------------------------------------ queries

    @staticmethod
    def _search_params(query: str | None, kind: str | None, text: str | None, tags: Sequence[str],
                       project: str | None, latest: bool) -> dict[str, Any]:  # fmt: skip
        params: dict[str, Any] = {"latest": str(latest).lower()}
        for key, value in (("q", query), ("kind", kind), ("text", text), ("project", project)):
            if value:
                params[key] = value
        if tags:
            params["tag"] = list(tags)
        return params

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
        params = self._search_params(query, kind, text, tags, project, latest)
        params.update(limit=limit, offset=offset)
        return [Item.from_dict(d) for d in self._json("GET", "/items", params=params)["items"]]

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
        params = self._search_params(query, kind, text, tags, project, latest)
        params.update(limit=0, count="true")
        return int(self._json("GET", "/items", params=params)["count"])

    def lineage(
        self, item_id: str | Item, *, direction: str = "ancestors", depth: int | None = None
    ) -> Lineage:
        params: dict[str, Any] = {"direction": direction}
        if depth is not None:
            params["depth"] = depth
        return Lineage.from_dict(self._json("GET", f"/items/{_rid(item_id)}/lineage", params=params))

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
        params: dict[str, Any] = {"like": _id_of(like), "tolerance": tolerance,
                                  "higher_is_better": str(higher_is_better).lower(), "limit": limit}  # fmt: skip
        for key, value in (("metric", metric), ("task", task)):
            if value is not None:
                params[key] = value
        if match is not None:
            params["match"] = list(match)
        return [ModelMatch.from_dict(d) for d in self._json("GET", "/models", params=params)]

    # ------------------------------------------------------------------ maintenance

    def verify(self, items: Sequence[str | Item] | None = None) -> VerifyReport:
        body = {"items": None if items is None else [_id_of(i) for i in items]}
        return VerifyReport.from_dict(self._json("POST", "/admin/verify", json=body))

    def gc(self, *, grace_s: float = 3600.0) -> GcReport:
        return GcReport.from_dict(self._json("POST", "/admin/gc", json={"grace_s": grace_s}))

    def stats(self) -> dict[str, Any]:
        return dict(self._json("GET", "/admin/stats"))
