"""Names that are not local paths: Hugging Face Hub ids, looked up only when nothing on disk matches.

A model, tokenizer or dataset argument is local when that path exists; otherwise, when it has the
shape of a Hub id (`name` or `owner/name`), it is fetched with `from_pretrained` / `load_dataset` as
Hugging Face users expect. Before any download we ask the Hub once, with a short timeout and no
retries: `huggingface_hub` would otherwise retry for 30-40 s before failing with a long traceback.
`HF_HUB_OFFLINE=1` (or the library's own `TRANSFORMERS_OFFLINE` / `HF_DATASETS_OFFLINE`) skips the
network entirely and uses the Hugging Face cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlmkit.errors import MlmkitError

HUB_PROBE_SECONDS = 5.0


def hub_offline(library_variable: str = "TRANSFORMERS_OFFLINE") -> bool:
    """True when HF_HUB_OFFLINE or the library's own variable (TRANSFORMERS_OFFLINE, HF_DATASETS_OFFLINE)
    asks for no network; read now, not at import."""
    return any(os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"} for name in ("HF_HUB_OFFLINE", library_variable))


def hub_unreachable() -> str | None:
    """Why the Hub endpoint does not answer within HUB_PROBE_SECONDS (None if it does)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_SECONDS)
    except Exception as error:  # httpx/requests raise their own connection and timeout errors
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no answer'}"
    return None


def is_hub_id(name: str | Path) -> bool:
    """True when `name` is not an existing path and has the shape of a Hub repository id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    text = str(name)
    if Path(text).expanduser().exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_hub_model(repo_id: str, what: str) -> None:
    """Fail fast, in one line, where the Hub model `repo_id` cannot be had; no network when offline.

    Offline, the id must be in the Hugging Face cache. Online, one request (HUB_PROBE_SECONDS, no
    retries) tells a missing, private or gated repository and an unreachable Hub apart.

    Args:
        repo_id: a Hub id (`is_hub_id`), e.g. "bert-base-uncased" or "answerdotai/ModernBERT-base".
        what: what the user passed it as, for the message (e.g. "model.path", "--model").

    Raises:
        MlmkitError: not cached while offline, not on the Hub, gated, or the Hub unreachable.
    """
    from huggingface_hub import try_to_load_from_cache

    if hub_offline():
        if not isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            raise MlmkitError(
                f"{what} {repo_id!r} is not a local folder, and HF_HUB_OFFLINE is set while it is not in the "
                "Hugging Face cache; pass a folder written by save_pretrained, or download it once with network access"
            )
        return
    problem = _hub_problem(repo_id)
    if problem:
        raise MlmkitError(f"{what} {repo_id!r} is not a local folder, and {problem}")


def _hub_problem(repo_id: str) -> str | None:
    """Why `repo_id` cannot be fetched from the Hub now (None when it can), from one short request."""
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        model_info(repo_id, timeout=HUB_PROBE_SECONDS)
    except GatedRepoError:
        return "it is a gated Hub repository: accept its terms on the Hub and log in (hf auth login), or pass a local folder"
    except RepositoryNotFoundError:
        return "no Hub model has that id (or it is private: log in with hf auth login); check the spelling, or pass a local folder"
    except Exception as error:  # httpx / OS errors: no DNS, no route, timeout, proxy refused
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return (
            f"the Hugging Face Hub cannot be reached ({reason}); pass a local folder, or set HF_HUB_OFFLINE=1 to use "
            "a copy in the Hugging Face cache"
        )
    return None
