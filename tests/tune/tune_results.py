"""Results as `python -m tlspec.tune.measure` writes them, made up for tests without a GPU."""
from tlspec.tune.record import record_path, spec_hash


def results(kernel, spec_path, winners: dict[str, tuple[dict, dict]]) -> dict:
    """Results of `kernel` (of the spec file at `spec_path`) whose size classes' winners are
    `winners`: {class: (its dims, the winning choice)}; the first variant takes 10 us, the
    winner 5."""
    first = {name: t.candidates[0] for name, t in kernel.tunables.items()}
    label = lambda choice: ",".join(f"{n}={v}" for n, v in choice.items())   # noqa: E731
    classes = {}
    for size_class, (dims, choice) in winners.items():
        found = {label(first): {"choice": first, "status": "ok", "us": 10.0}}
        found.setdefault(label(choice), {"choice": choice, "status": "ok"})["us"] = 5.0
        classes[size_class] = {"dims": dims, "reference": label(first), "variants": found,
                               "winner": label(choice)}
    bundle = {"format": 1, "tlspec": "0.1.0", "spec": str(spec_path),
              "record": str(record_path(spec_path)),
              "kernels": {kernel.name: {"spec_hash": spec_hash(kernel)}}}
    return {"format": 1, "device": "NVIDIA H200", "bundle": bundle,
            "kernels": {kernel.name: {"classes": classes}}}
