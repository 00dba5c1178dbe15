"""The YAML tree of a seed, for the structure and semantic mutators: load, find places, dump.

A tree mutator takes a random generator and the documents of a seed (plain data, changed in
place) and returns whether it changed anything; `on_tree` makes it a text mutator.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import yaml

Slot = tuple[Any, Any]          # (container, key or index): a place holding a value
TreeMutator = Callable[[random.Random, list], bool]


MAX_VALUES = 20_000       # aliases share values: an alias bomb loads small but walks forever


def load(text: str) -> list | None:
    """The documents of `text`, or None when it is not YAML or expands to too many values."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    return docs if docs and _small(docs) else None


def _small(docs: list) -> bool:
    stack, count = [docs], 0
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return False
        if isinstance(node, dict):
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return True


def dump(docs: list, rng: random.Random) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=rng.random() < 0.5,
                              default_flow_style=rng.choice([False, None]), width=100)


def on_tree(mutator: TreeMutator) -> Callable[[random.Random, str], str | None]:
    def text_mutator(rng: random.Random, text: str) -> str | None:
        docs = load(text)
        if docs is None or not mutator(rng, docs):
            return None
        return dump(docs, rng)
    text_mutator.__name__ = mutator.__name__
    return text_mutator


def slots(node: Any) -> Iterator[Slot]:
    """Every place under `node` that holds a value, outermost first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in list(items):
        yield node, key
        yield from slots(value)


def pick(rng: random.Random, docs: list, where: Callable[[Slot], bool] = lambda s: True
         ) -> Slot | None:
    found = [s for s in slots(docs) if where(s)]
    return rng.choice(found) if found else None


def kernels(docs: list) -> list[dict]:
    """The documents that look like kernels (mappings with stages or buffers)."""
    return [d for d in docs if isinstance(d, dict) and ("stages" in d or "buffers" in d)]


def stages(kernel: dict) -> Iterator[dict]:
    """Every stage mapping of a kernel, loop bodies included."""
    def walk(items):
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                yield item
                for options in item.values():
                    if isinstance(options, dict):
                        yield from walk(options.get("stages"))
    yield from walk(kernel.get("stages"))


def stage_options(kernel: dict) -> list[dict]:
    """The options mapping of every stage ({src: ..., dst: ...})."""
    return [options for stage in stages(kernel) for options in stage.values()
            if isinstance(options, dict)]
