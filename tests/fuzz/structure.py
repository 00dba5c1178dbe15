"""Mutations of a spec's YAML tree that know nothing of the language: keys dropped, doubled,
renamed or moved, values of another type, nested, emptied, very deep or very wide, documents
that are not mappings."""
from __future__ import annotations

import random
from typing import Any, Callable

from .tree import on_tree, pick, slots

SCALARS: list[Any] = [None, True, False, 0, -1, 1, 64, 2**63, 1.5, "", "x", "A[0 : 64]",
                      "ceildiv(N, 128)", "symbolic", "global", "float16", "\x00", "é" * 3]


def _mapping_slot(rng, docs):
    return pick(rng, docs, lambda s: isinstance(s[0], dict))


def _other_value(rng: random.Random, value: Any) -> Any:
    """A value of another type than `value`."""
    choices = [v for v in SCALARS if type(v) is not type(value)]
    choices += [[value], {"x": value}] if not isinstance(value, (list, dict)) else [rng.choice(SCALARS)]
    return rng.choice(choices)


def drop_key(rng, docs):
    slot = _mapping_slot(rng, docs)
    if slot is None:
        return False
    del slot[0][slot[1]]
    return True


def rename_key(rng, docs):
    slot = _mapping_slot(rng, docs)
    if slot is None:
        return False
    mapping, key = slot
    keys = sorted({str(k) for s in slots(docs) if isinstance(s[0], dict) for k in [s[1]]})
    new = rng.choice([str(key)[:-1], str(key) + "s", str(key).upper(), "x-" + str(key),
                      rng.choice(keys), "", "_" + str(key), "123", "a b"])
    if new in mapping:
        return False
    mapping[new] = mapping.pop(key)
    return True


def move_key(rng, docs):
    """An entry moved into another mapping (an option at the top, a key in a stage...)."""
    source, target = _mapping_slot(rng, docs), _mapping_slot(rng, docs)
    if source is None or target is None:
        return False
    holder = target[0][target[1]]
    if not isinstance(holder, dict) or source[1] in holder or holder is source[0]:
        return False
    holder[source[1]] = source[0].pop(source[1])
    return True


def _replace(rng, docs, new: Callable[[Any], Any]) -> bool:
    """The value at a random place replaced by new(value)."""
    slot = pick(rng, docs)
    if slot is None:
        return False
    container, key = slot
    container[key] = new(container[key])
    return True


def swap_type(rng, docs):
    return _replace(rng, docs, lambda value: _other_value(rng, value))


def nest(rng, docs):
    return _replace(rng, docs, lambda value: rng.choice([[value], {"value": value}, [[value]]]))


def empty_value(rng, docs):
    return _replace(rng, docs, lambda value: rng.choice([None, "", [], {}]))


def duplicate_item(rng, docs):
    slot = pick(rng, docs, lambda s: isinstance(s[0], list))
    if slot is None:
        return False
    items, i = slot
    items.insert(i, items[i])
    return True


def deep_nesting(rng, docs):
    def deep(value):
        for _ in range(rng.choice([10, 70, 300])):
            value = [value] if rng.random() < 0.5 else {"k": value}
        return value
    return _replace(rng, docs, deep)


def wide_value(rng, docs):
    size = rng.choice([100, 5000])
    return _replace(rng, docs, lambda value: list(range(size)) if rng.random() < 0.5
                    else {f"k{i}": i for i in range(size)})


def not_a_mapping(rng, docs):
    i = rng.randrange(len(docs))
    docs[i] = rng.choice([[docs[i]], "kernel", 42, None, list(docs[i])
                          if isinstance(docs[i], dict) else {}])
    return True


def extra_document(rng, docs):
    docs.append(rng.choice([docs[0], {}, [], "---", {"tlspec": 1}]))
    return True


MUTATORS = {fn.__name__: on_tree(fn) for fn in (
    drop_key, rename_key, move_key, swap_type, nest, empty_value, duplicate_item, deep_nesting,
    wide_value, not_a_mapping, extra_document)}
