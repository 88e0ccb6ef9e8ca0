"""Load a Hugging Face model or tokenizer from a folder (ours or anyone's) or a Hub id, with errors that say what is missing.

A name that is an existing path is a folder and is read with `local_files_only` (no network). Any
other name of the shape of a Hub id is fetched with `from_pretrained` as Hugging Face users expect,
after `mlmkit.hub.check_hub_model` has made sure, in one short request, that it can be (or, with
HF_HUB_OFFLINE set, that it is cached). Remote code is never run (`trust_remote_code` stays off).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmkit.errors import MlmkitError
from mlmkit.hub import check_hub_model, is_hub_id

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def check_model_folder(path: str | Path) -> Path:
    """Return `path` as a Path if it looks like a `save_pretrained` folder, else raise MlmkitError."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise MlmkitError(
            f"model folder {str(path)!r} does not exist; pass a folder written by save_pretrained or a Hub id such as bert-base-uncased"
        )
    if not (folder / "config.json").is_file():
        raise MlmkitError(
            f"{str(folder)!r} is not a model checkpoint: it has no config.json. "
            "Pass a folder written by save_pretrained (for mlmkit runs: OUTPUT_DIR/checkpoints/step-N/model or OUTPUT_DIR/final)"
        )
    return folder


def model_source(name: str | Path, what: str = "model") -> str:
    """`name` as `from_pretrained` should take it: a checked local folder, or a Hub id that can be fetched.

    Args:
        name: a folder written by save_pretrained, or a Hub id ("bert-base-uncased", "owner/name").
        what: what the user passed it as, named in errors ("model.path", "--model").

    Raises:
        MlmkitError: a folder without config.json, a path that does not exist, a Hub id that cannot be had.
    """
    if not is_hub_id(name):
        return str(check_model_folder(name))
    check_hub_model(str(name), what)
    return str(name)


def load_tokenizer(path: str | Path, what: str = "tokenizer") -> Any:
    """The fast tokenizer of a folder (offline) or of a Hub id; never runs remote code."""
    from transformers import AutoTokenizer

    if is_hub_id(path):
        check_hub_model(str(path), what)
        return _from_pretrained(AutoTokenizer, str(path), what, local=False)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise MlmkitError(f"{what} {str(path)!r} does not exist; pass a tokenizer folder (or a model folder with its tokenizer) or a Hub id")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise MlmkitError(
            f"no tokenizer in {str(folder)!r} (no tokenizer.json, vocab.txt or vocab.json); "
            "save one beside the model with tokenizer.save_pretrained(folder)"
        )
    return _from_pretrained(AutoTokenizer, str(folder), what, local=True)


def load_model(path: str | Path, auto_class: Any, what: str = "model", **kwargs: Any) -> Any:
    """`auto_class.from_pretrained(path)` from a checked folder (offline) or a Hub id.

    Raises:
        MlmkitError: no checkpoint there, or one of an architecture `auto_class` cannot load
            (a BERT encoder given where an encoder-decoder is needed).
    """
    from transformers import AutoConfig

    source = model_source(path, what)
    local = not is_hub_id(path)
    config = _from_pretrained(AutoConfig, source, what, local)
    if type(config) not in auto_class._model_mapping:
        kind = "an encoder-decoder" if getattr(config, "is_encoder_decoder", False) else "an encoder-only or decoder-only"
        raise MlmkitError(
            f"{source!r} holds a {config.model_type!r} model ({kind} architecture), which "
            f"{auto_class.__name__} cannot load; pass a checkpoint of a fitting architecture"
            + (" (for seq2seq: a MASS run's final/, e.g. from recipes/mass-tiny.yaml)" if "Seq2Seq" in auto_class.__name__ else "")
        )
    return _from_pretrained(auto_class, source, what, local, **kwargs)


def load_model_config(path: str | Path, what: str = "model") -> Any:
    """The `PretrainedConfig` of a model folder or Hub id (no weights are read)."""
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, model_source(path, what), what, local=not is_hub_id(path))


def _from_pretrained(auto_class: Any, source: str, what: str, local: bool, **kwargs: Any) -> Any:
    """`from_pretrained` with transformers' multi-line load errors turned into one MlmkitError line."""
    try:
        return auto_class.from_pretrained(source, local_files_only=local, trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as error:  # missing files, unknown architecture, gated or remote-code repositories
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if "trust_remote_code" in str(error):
            raise MlmkitError(
                f"{what} {source!r} needs custom code from its repository (trust_remote_code), which mlmkit never runs; "
                "pick a model whose architecture transformers ships"
            ) from error
        raise MlmkitError(f"cannot load {what} {source!r} with {auto_class.__name__}: {first_line}") from error


def load_masked_lm(path: str | Path) -> Any:
    """The pretraining model saved in `path`: a 3ML late-mask model for a folder with `late_mask/`
    (`mlmkit.models.late_mask`), else `AutoModelForMaskedLM`; scorers need not know which."""
    from transformers import AutoModelForMaskedLM

    from mlmkit.models.late_mask import LateMaskForMaskedLM, is_late_mask_folder

    if is_late_mask_folder(path):
        return LateMaskForMaskedLM.from_pretrained(path)
    return load_model(path, AutoModelForMaskedLM)
