"""The recipes shipped inside the package, so that an installed mlmkit runs them by name.

`mlmkit pretrain tiny-cpu` finds `mlmkit/recipes/tiny-cpu.yaml`; a path to a YAML file of your own always
wins over a shipped name. `accelerate/` holds Accelerate config files (DDP, FSDP, DeepSpeed ZeRO-2) for
`accelerate launch --config_file`.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from mlmkit.errors import MlmkitError


def recipes_folder() -> Path:
    """Where the shipped recipes are installed."""
    return Path(str(resources.files("mlmkit").joinpath("recipes")))


def shipped_recipes() -> dict[str, Path]:
    """Recipe name (file name without .yaml) -> path, sorted by name."""
    return {path.stem: path for path in sorted(recipes_folder().glob("*.yaml"))}


def recipe_path(name_or_path: str | Path) -> Path:
    """The YAML file `name_or_path` means: an existing file, else a shipped recipe of that name.

    Raises:
        MlmkitError: neither a file nor a shipped name (the message lists the shipped names).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    name = path.name.removesuffix(".yaml")
    if name in shipped and path.parent == Path("."):
        return shipped[name]
    raise MlmkitError(
        f"recipe {str(name_or_path)!r} does not exist: it is neither a file nor a shipped recipe; pass a YAML file or one of: "
        f"{', '.join(shipped)} (`mlmkit recipes` describes them)"
    )


def _token_count(tokens: int) -> str:
    """A token budget with its unit, 3 significant digits: 12.1B, 1.72T, 800M."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if tokens >= 0.9995 * scale:
            return f"{tokens / scale:.3g}{unit}"
    return f"{tokens:,}"


def recipe_summary(path: Path, width: int = 72) -> str:
    """One line: model, masking and budget from the recipe's settings, then the first sentence of its header."""
    from mlmkit.config import load_recipe

    config = load_recipe(path)
    train, collator = config.train, config.collator
    rate = f"{collator.schedule['name']} rate schedule" if collator.schedule else f"{collator.options.get('mlm_probability', 0.15):.0%}"
    budget = f"{_token_count(train.max_tokens)} tokens" if train.max_tokens else f"{train.max_steps} steps"
    accumulation = f"×{train.gradient_accumulation_steps}" if train.gradient_accumulation_steps > 1 else ""
    facts = f"{config.model.family}-{config.model.size}, {collator.name} {rate}, {budget} of {train.batch_size}{accumulation}×{config.data.seq_len}"
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    text = " ".join(header).removeprefix(f"{path.stem}:").strip()
    sentence = re.split(r"(?<!et al)\. (?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    sentence = sentence.replace("`", "")  # plain text on a terminal (a cut could leave one unclosed)
    sentence = sentence if len(sentence) <= width else sentence[:width].rsplit(" ", 1)[0].rstrip(",;:") + "…"  # at a word
    return f"{facts}: {sentence}"
