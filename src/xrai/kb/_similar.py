""" "Find models evaluated on data like this": a leaderboard over evaluations of similar datasets.

An evaluation is an item of kind ``evaluation`` whose inputs include a model (kind ``model``) and a dataset, with
metadata ``metric`` (e.g. ``"dice"``), ``value`` and optionally ``task``. Datasets are *like* a given dataset when
they have the same kind and agree on the chosen metadata keys: strings equal, numbers within a relative tolerance.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xrai.errors import ConfigError
from xrai.kb._model import ID_PATTERN, Item, ModelMatch

if TYPE_CHECKING:
    from xrai.kb.base import KnowledgeBase

__all__ = ["find_models", "similar_query"]

MAX_DATASETS = 1000


def similar_query(item: Item, *, match: Sequence[str] | None = None, tolerance: float = 0.1) -> str:
    """A search expression for datasets like ``item`` (same kind; ``match`` keys equal or within tolerance)."""
    if not 0 <= tolerance < 1:
        raise ConfigError(f"tolerance = {tolerance!r} is not allowed: must be in [0, 1)")
    keys = list(match) if match is not None else [
        k for k, v in item.metadata.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
    ]  # fmt: skip
    clauses = [f"kind == {item.kind!r}"]
    for key in keys:
        if any(keyword.iskeyword(part) or not part.isidentifier() for part in key.split(".")):
            raise ConfigError(f"match key {key!r} cannot be used in a search expression")
        value: Any = item.metadata
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            raise ConfigError(f"match key {key!r} is not in the metadata of item {item.id}")
        if isinstance(value, bool):
            clauses.append(f"{key} == {value!r}")
        elif isinstance(value, int | float):
            low, high = sorted((value * (1 - tolerance), value * (1 + tolerance)))
            clauses.append(f"{low!r} <= metadata.{key} <= {high!r}")
        elif isinstance(value, str):
            clauses.append(f"metadata.{key} == {value!r}")
        else:
            raise ConfigError(
                f"match key {key!r} holds {type(value).__name__}; only strings and numbers can match"
            )
    return " and ".join(clauses)


def find_models(
    kb: KnowledgeBase,
    like: str | Item,
    *,
    metric: str | None,
    task: str | None,
    match: Sequence[str] | None,
    tolerance: float,
    higher_is_better: bool,
    limit: int,
) -> list[ModelMatch]:
    """See :meth:`xrai.kb.KnowledgeBase.find_models`."""
    if isinstance(like, Item) or (isinstance(like, str) and ID_PATTERN.match(like)):
        anchor = kb.get(like)
        datasets = {anchor.id: anchor}
        for found in kb.search(similar_query(anchor, match=match, tolerance=tolerance), latest=False,
                               limit=MAX_DATASETS):  # fmt: skip
            datasets[found.id] = found
    else:
        datasets = {d.id: d for d in kb.search(like, kind="dataset", latest=False, limit=MAX_DATASETS)}
    rows: list[ModelMatch] = []
    seen: set[str] = set()
    for dataset in datasets.values():
        for evaluation in kb.lineage(dataset, direction="descendants", depth=1):
            if evaluation.kind != "evaluation" or evaluation.id in seen:
                continue
            meta = evaluation.metadata
            if metric is not None and meta.get("metric") != metric:
                continue
            if task is not None and meta.get("task") != task:
                continue
            value = meta.get("value")
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            models = [i for i in evaluation.inputs if i not in datasets]
            for model_id in models:
                model = kb.get(model_id)
                if model.kind.split(".")[0] != "model":
                    continue
                seen.add(evaluation.id)
                rows.append(ModelMatch(model=model, evaluation=evaluation, dataset=dataset,
                                       metric=str(meta.get("metric", "")), value=float(value)))  # fmt: skip
    rows.sort(key=lambda r: -r.value if higher_is_better else r.value)
    return rows[:limit]
