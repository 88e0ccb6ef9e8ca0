"""Masking strategies: units → selection → corruption (DESIGN.md), one strategy per file.

`MASKERS` is the registry that `mlmkit.build_collator(name, ...)` reads: adding a strategy means one file,
one line here, and its tests.
"""

from mlmkit.masking.corruption import IGNORE_INDEX, apply_replacement, replacement_vocabulary
from mlmkit.masking.difference import DifferenceMasker
from mlmkit.masking.informask import InformaskMasker
from mlmkit.masking.interpolated import InterpolatedMasker
from mlmkit.masking.mass import MassMasker
from mlmkit.masking.pmi import PmiMasker
from mlmkit.masking.pos_weighted import PosWeightedMasker
from mlmkit.masking.rom import RomMasker
from mlmkit.masking.selection import select_units, token_budget
from mlmkit.masking.span import SpanMasker
from mlmkit.masking.token import TokenMasker
from mlmkit.masking.whole_word import WholeWordMasker

MASKERS: dict[str, type] = {
    "random": TokenMasker,
    "whole_word": WholeWordMasker,
    "span": SpanMasker,
    "mass": MassMasker,
    "pos_weighted": PosWeightedMasker,
    "interpolated": InterpolatedMasker,
    "pmi": PmiMasker,
    "informask": InformaskMasker,
    "rom": RomMasker,
    "difference": DifferenceMasker,
}

__all__ = [
    "IGNORE_INDEX",
    "MASKERS",
    "MassMasker",
    "SpanMasker",
    "TokenMasker",
    "WholeWordMasker",
    "apply_replacement",
    "replacement_vocabulary",
    "select_units",
    "token_budget",
]
