"""Corpus statistics that informed masking strategies read (PMI n-grams, InforMask rates, ROM weights,
Difference-Masking anchors), each built once into a small safetensors + JSON artifact.

`STATS_BUILDERS` names, for each strategy built from one corpus, its builder
`build(tokenizer, corpus, out, **options) -> Path`; `stats_builder(name)` imports it. Difference-Masking
needs two corpora and an encoder, so it is built by `mlmkit.stats.difference.build_difference_stats`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

STATS_BUILDERS = {
    "pmi": "mlmkit.stats.pmi:build_pmi_stats",
    "informask": "mlmkit.stats.informask:build_informask_stats",
    "rom": "mlmkit.stats.rom:build_rom_stats",
}


def stats_builder(name: str) -> Callable[..., Any]:
    """Import and return the builder of strategy `name` (a key of STATS_BUILDERS)."""
    module, function = STATS_BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), function)
