"""The knowledge base as the pipeline's stage store: every stage output is an item with lineage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xrai.pipeline.stages import Stage, StageOutput, json_safe

__all__ = ["KnowledgeBaseStore", "KnowledgeBaseStoreFactory"]


@dataclass(frozen=True, slots=True)
class KnowledgeBaseStoreFactory:
    """Picklable factory: ``KnowledgeBaseStoreFactory(location, run_id=...)()`` opens a :class:`KnowledgeBaseStore`.

    Each worker process (local pool or Dask) calls it to open its own connection.
    """

    location: str
    run_id: str | None = None
    store_url: str | None = None

    def __call__(self) -> KnowledgeBaseStore:
        from xrai.kb.base import KnowledgeBase

        return KnowledgeBaseStore(
            KnowledgeBase.open(self.location, store_url=self.store_url), run_id=self.run_id
        )


class KnowledgeBaseStore:
    """Stage outputs as knowledge-base items, found again by their stage key (``cache_key``)."""

    def __init__(self, kb: Any, *, run_id: str | None = None) -> None:
        self.kb = kb
        self.run_id = run_id

    def lookup(self, key: str) -> str | None:
        item = self.kb.find_by_key(key)
        return None if item is None else str(item.id)

    def load(self, key: str) -> StageOutput:
        item = self.kb.find_by_key(key)
        if item is None:
            raise KeyError(key)
        arrays = {name: self.kb.read_array(item.id, name) for name in item.arrays}
        return StageOutput(arrays=arrays, metadata=dict(item.metadata.get("output", {})))

    def save(
        self,
        key: str,
        output: StageOutput,
        *,
        stage: Stage,
        specimen: Mapping[str, Any],
        input_items: Sequence[str],
        seconds: float,
    ) -> str:
        metadata = {
            "stage": stage.name,
            "stage_version": stage.version,
            "parameters": dict(stage.params),
            "specimen": {k: v for k, v in specimen.items() if isinstance(v, str | int | float | bool)},
            "seconds": round(seconds, 6),
            "output": json_safe(output.metadata),
        }
        item = self.kb.put(
            kind=stage.kind,
            name=f"{specimen.get('name', '?')}/{stage.name}",
            metadata=metadata,
            arrays=dict(output.arrays),
            inputs=list(input_items),
            run=self.run_id,
            cache_key=key,
            tags=[f"stage:{stage.name}"],
        )
        return str(item.id)
