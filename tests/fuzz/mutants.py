"""Mutants: one mutation of one seed, chosen by (fuzz seed, index) alone, so that any mutant of
any run can be made again on its own: `fuzz_specs.py --seed S --start I --count 1`."""
from __future__ import annotations

import random
from dataclasses import dataclass

from . import semantic, structure, text
from .corpus import Seed

LEVELS = {"text": text.MUTATORS, "structure": structure.MUTATORS, "semantic": semantic.MUTATORS}
KINDS = [f"{level}:{name}" for level, mutators in LEVELS.items() for name in mutators]


@dataclass(frozen=True)
class Mutant:
    index: int
    seed: str          # the seed's name
    kind: str          # 'level:mutator'
    data: bytes        # the file's content (not always UTF-8)

    @property
    def level(self) -> str:
        return self.kind.split(":")[0]


def make(seeds: list[Seed], fuzz_seed: int, index: int) -> Mutant:
    """Mutant `index` of the run `fuzz_seed`. Its seed is drawn from the sound specs and from
    the catalogue's defective ones alike (the catalogue holds three in four of all seeds), so
    that enough mutants are valid kernels for the compile slice."""
    rng = random.Random(f"tlspec-fuzz:{fuzz_seed}:{index}")
    sound = [s for s in seeds if not s.defective]
    defective = [s for s in seeds if s.defective]
    for _ in range(100):                      # a mutator may not apply to the seed it drew
        seed = rng.choice(sound if rng.random() < 0.5 or not defective else defective)
        level = rng.choice(sorted(LEVELS))
        name = rng.choice(sorted(LEVELS[level]))
        out = LEVELS[level][name](rng, seed.text)
        if out is None:
            continue
        data = out if isinstance(out, bytes) else out.encode("utf-8", "surrogatepass")
        if data != seed.text.encode("utf-8"):
            return Mutant(index, seed.name, f"{level}:{name}", data)
    raise RuntimeError(f"no mutation applied for index {index}")
