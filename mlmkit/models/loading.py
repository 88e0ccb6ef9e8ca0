"""Load a Hugging Face model folder (ours or anyone's) with errors that say what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmkit.errors import MlmkitError


def check_model_folder(path: str | Path) -> Path:
    """Return `path` as a Path if it looks like a `save_pretrained` folder, else raise MlmkitError."""
    folder = Path(path)
    if not folder.is_dir():
        raise MlmkitError(f"model folder {str(folder)!r} does not exist; pass a folder written by save_pretrained")
    if not (folder / "config.json").is_file():
        raise MlmkitError(
            f"{str(folder)!r} is not a model checkpoint: it has no config.json. "
            "Pass a folder written by save_pretrained (for mlmkit runs: OUTPUT_DIR/checkpoints/step-N/model or OUTPUT_DIR/final)"
        )
    return folder


def load_tokenizer(path: str | Path) -> Any:
    """Load the fast tokenizer saved in `path`; never reaches a hub, never runs remote code."""
    from transformers import AutoTokenizer

    folder = Path(path)
    has_tokenizer = any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "vocab.json"))
    if not has_tokenizer:
        raise MlmkitError(
            f"no tokenizer in {str(folder)!r} (no tokenizer.json, vocab.txt or vocab.json); "
            "save one beside the model with tokenizer.save_pretrained(folder)"
        )
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def load_model(path: str | Path, auto_class: Any, **kwargs: Any) -> Any:
    """Load `auto_class.from_pretrained(path)` offline, after checking the folder.

    Raises:
        MlmkitError: no checkpoint there, or one of an architecture `auto_class` cannot load
            (a BERT encoder given where an encoder-decoder is needed).
    """
    from transformers import AutoConfig

    folder = check_model_folder(path)
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    if type(config) not in auto_class._model_mapping:
        kind = "an encoder-decoder" if getattr(config, "is_encoder_decoder", False) else "an encoder-only or decoder-only"
        raise MlmkitError(
            f"{str(folder)!r} holds a {config.model_type!r} model ({kind} architecture), which "
            f"{auto_class.__name__} cannot load; pass a checkpoint of a fitting architecture"
            + (" (for seq2seq: a MASS run's final/, e.g. from recipes/mass-tiny.yaml)" if "Seq2Seq" in auto_class.__name__ else "")
        )
    return auto_class.from_pretrained(str(folder), local_files_only=True, **kwargs)


def load_masked_lm(path: str | Path) -> Any:
    """The pretraining model saved in `path`: a 3ML late-mask model for a folder with `late_mask/`
    (`mlmkit.models.late_mask`), else `AutoModelForMaskedLM`; scorers need not know which."""
    from transformers import AutoModelForMaskedLM

    from mlmkit.models.late_mask import LateMaskForMaskedLM, is_late_mask_folder

    if is_late_mask_folder(path):
        return LateMaskForMaskedLM.from_pretrained(path)
    return load_model(path, AutoModelForMaskedLM)
