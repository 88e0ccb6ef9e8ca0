"""3ML late-[MASK] encoder for BERT and RoBERTa (Liao et al., "Mask More and Mask Later", Findings EMNLP 2022).

Why: at 50% masking a standard MLM spends half of every layer on [MASK] placeholders that carry no
information. 3ML drops them from the encoder: the first N−k layers see only the
unmasked tokens (at their ORIGINAL position ids), then a learned [MASK] vector plus the position
embedding of each masked slot is scattered back to full length and k "late" layers run over the
whole sequence; the MLM head runs only at the masked slots. The paper reports RoBERTa-base/large
at 78%/68% of the compute without GLUE loss, and +0.4 GLUE average at the full budget.

The model wraps an ordinary `BertForMaskedLM`/`RobertaForMaskedLM` with N layers and uses its own
modules: embeddings, `encoder.layer[:N-k]` (encoder), `encoder.layer[N-k:]` (late layers) and the
MLM head, so a standard checkpoint initialises it and its parameter names stay HF's. For
fine-tuning, `save_pretrained` writes the encoder as a plain `BertModel`/`RobertaModel` folder
(late layers dropped by default, as the paper drops its decoder) and the full pretraining model
under `late_mask/` beside it, which `LateMaskForMaskedLM.from_pretrained` reloads.

Batch layout (made by `mlmkit.masking.late_mask_output.to_late_mask`):
    input_ids, attention_mask, positions  # (B, E) encoder tokens and their 0-based index in the row
    masked_positions, labels              # (B, M) late [MASK] slots and their targets
    visible_labels                        # (B, E) targets kept visible (80/10/10 random/kept), else -100
    token_type_ids, masked_token_type_ids # optional, (B, E) and (B, M); type 0 when absent
`positions`/`masked_positions` are -1 in padding slots. Row indices become position ids here, not in
the collator, because only the model knows RoBERTa's offset (ids start at padding_idx + 1). With a
`separator_id` (`data.document_attention: block`, `mlmkit.models.documents`), position ids restart at
every document of a packed row and both stages attend within documents only.

Variants: "self" (3ML_self, above) and "cross" (3ML_cross: only the [MASK] slots are queries; each
late layer self-attends over them, cross-attends to the encoder output through an added block, then
runs its feed-forward part; selected tokens left visible are predicted from the encoder output).

Usage:
    collator = build_collator("random", tokenizer, output="late_mask", mlm_probability=0.5,
                              mask_replace_prob=1.0, random_replace_prob=0.0)
    model = LateMaskForMaskedLM(BertForMaskedLM(config), LateMaskConfig(late_layers=2), tokenizer.mask_token_id)
    model(**collator(features)).loss.backward()
    model.save_pretrained(folder)  # AutoModelForSequenceClassification.from_pretrained(folder) fine-tunes it
or in a recipe: `model.late_mask: {late_layers: 2}` with `collator.options.output: late_mask`
(mlmkit/recipes/3ml-roberta-base.yaml, mlmkit/recipes/3ml-tiny-cpu.yaml).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from mlmkit.config import LATE_MASK_VARIANTS, LateMaskConfig
from mlmkit.errors import MlmkitError
from mlmkit.models.documents import block_mask, scattered_layout
from mlmkit.models.sparse_head import IGNORE_INDEX, gather_rows, take_slots, target_slots

# Where each family keeps its MLM head, and whether its position ids start after padding_idx.
_HEAD_ATTRIBUTE = {"bert": "cls", "roberta": "lm_head"}
_POSITIONS_AFTER_PADDING = {"bert": False, "roberta": True}
LATE_MASK_FOLDER = "late_mask"
_SETTINGS_FILE = "late_mask.json"
_LATE_STAGE_FILE = "late_stage.safetensors"  # parameters outside the HF model: [MASK] vector, cross-attention
_LATE_MASK_BATCH = (
    "a late-mask model needs a late-mask batch with `positions` and `masked_positions`; build the collator with output='late_mask'"
)


class LateMaskForMaskedLM(nn.Module):
    """A BERT/RoBERTa MLM whose first N−k layers never see [MASK] placeholders (3ML_self / 3ML_cross).

    Args:
        mlm: an HF `BertForMaskedLM` or `RobertaForMaskedLM` with N = num_hidden_layers layers.
        settings: the late-stage settings (`mlmkit.config.LateMaskConfig`, a recipe's model.late_mask).
        mask_token_id: start the learned [MASK] vector from this word embedding row; None draws it.
        seed: seed of the new weights (the [MASK] vector when drawn, the cross-attention blocks).
    """

    def __init__(
        self, mlm: nn.Module, settings: LateMaskConfig = LateMaskConfig(), mask_token_id: int | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        check_settings(mlm.config, settings)
        self.mlm = mlm
        self.settings = settings
        self.mask_embedding = nn.Parameter(torch.zeros(mlm.config.hidden_size))
        # New weights are drawn from `seed` without touching the global RNG (as factory.build_model does).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if mask_token_id is None:
                nn.init.normal_(self.mask_embedding, std=mlm.config.initializer_range)
            if settings.variant == "cross":
                attention_class = type(self.late_layers[0].attention)
                self.cross_attention = nn.ModuleList(
                    attention_class(mlm.config, is_cross_attention=True) for _ in range(settings.late_layers)
                )
                self.cross_attention.apply(mlm._init_weights)
        if mask_token_id is not None:
            # Start from the word embedding's [MASK]: a model continued from a standard checkpoint then
            # predicts as before when late_layers = N, and 3ML learns the vector apart from there on.
            with torch.no_grad():
                self.mask_embedding.copy_(mlm.get_input_embeddings().weight[mask_token_id])

    @property
    def config(self) -> Any:
        """The wrapped HF model's config (trainers and loggers read `model.config`)."""
        return self.mlm.config

    @property
    def head(self) -> nn.Module:
        return getattr(self.mlm, _HEAD_ATTRIBUTE[self.config.model_type])

    @property
    def encoder_layers(self) -> nn.ModuleList:
        layers = self.mlm.base_model.encoder.layer
        return layers[: len(layers) - self.settings.late_layers]

    @property
    def late_layers(self) -> nn.ModuleList:
        layers = self.mlm.base_model.encoder.layer
        return layers[len(layers) - self.settings.late_layers :]

    def position_ids(self, columns: torch.Tensor) -> torch.Tensor:
        """Map 0-based places in a row or document (-1 = padding slot) to this family's position ids."""
        offset = self.config.pad_token_id + 1 if _POSITIONS_AFTER_PADDING[self.config.model_type] else 0
        return columns.clamp(min=0) + offset

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        visible_labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        masked_token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run encoder, late stage and sparse head; see the module docstring for the batch layout.

        Returns:
            `MaskedLMOutput` with `logits` (B, M, V) at the late [MASK] slots, aligned with `labels`,
            and `loss` summed over every target (masked and visible) divided by their count.
        """
        from transformers.modeling_outputs import MaskedLMOutput

        if masked_positions is None:
            raise MlmkitError(_LATE_MASK_BATCH)
        no_targets = labels is None
        inputs = {"input_ids": input_ids, "positions": positions, "masked_positions": masked_positions,
                  "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                  "masked_token_type_ids": masked_token_type_ids}  # fmt: skip
        labels = torch.full_like(masked_positions, IGNORE_INDEX) if no_targets else labels
        logits, targets = self.target_logits(labels, None if no_targets else visible_labels, **inputs)  # (B, S, V), (B, S)
        loss = None
        if not no_targets:
            total = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
            loss = total / (targets != IGNORE_INDEX).sum().clamp(min=1)
        return MaskedLMOutput(loss=loss, logits=logits[:, : masked_positions.shape[1]])

    def target_logits(
        self,
        labels: torch.Tensor,
        visible_labels: torch.Tensor | None = None,
        visible_slots: torch.Tensor | None = None,
        separator_id: int | None = None,
        **inputs: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at the target slots only, for trainers that compute their own loss and counts.

        BERT's random/kept 20% stay in the encoder input (3ML keeps them there) and are still predicted
        from the output at their slot (the late layers' for "self", the encoder's for "cross").

        Args:
            labels: (B, M) targets of the late [MASK] slots; visible_labels: (B, E) or None.
            visible_slots: (B, K) the encoder slots with a visible target (`target_slots(visible_labels)`,
                computed here when not given).
            separator_id: keep the documents of packed blocks apart (`mlmkit.models.documents`).
            inputs: the rest of the late-mask batch (input_ids, positions, masked_positions, ...).

        Returns:
            logits (B, M + K, V) and targets (B, M + K), -100 on slots without a target: the [MASK] slots,
            then the visible targets in encoder order.
        """
        late, visible = self._states(**inputs, separator_id=separator_id)  # (B, M, H), (B, E, H)
        hidden, targets = late, labels
        if visible_labels is not None:
            slots = target_slots(visible_labels) if visible_slots is None else visible_slots
            hidden = torch.cat([late, gather_rows(visible, slots)], dim=1)
            targets = torch.cat([labels, take_slots(visible_labels, slots, IGNORE_INDEX)], dim=1)
        return self.head(hidden), targets

    def check_document_attention(self) -> None:
        """Raise MlmkitError where the layers' attention cannot take a block-diagonal mask (FlashAttention)."""
        import transformers.masking_utils as masking

        implementation = self.config._attn_implementation
        mask_function = masking.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping.get(implementation)
        if mask_function not in (masking.sdpa_mask, masking.eager_mask, masking.flex_attention_mask):
            raise MlmkitError(
                f"data.document_attention=block: a late-mask model keeps documents apart with attention masks, which "
                f"attention {implementation!r} does not take; set model.attn_implementation to sdpa, eager or flex_attention"
            )

    def _states(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        masked_token_type_ids: torch.Tensor | None = None,
        separator_id: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states at the late [MASK] slots (B, M, H) and at the encoder slots (B, E, H)."""
        if positions is None or masked_positions is None:
            raise MlmkitError(_LATE_MASK_BATCH)
        present = (positions >= 0 if attention_mask is None else attention_mask).bool()  # (B, E)
        width = positions.shape[1] + masked_positions.shape[1]  # >= every row's length, so all slots fit
        documents = None
        encoder_columns, mask_columns = positions.clamp(min=0), masked_positions.clamp(min=0)
        if separator_id is not None:  # position ids restart in every document, which attends to itself only
            separators = ((input_ids == separator_id) & present, torch.zeros_like(masked_positions, dtype=torch.bool))
            groups, full_documents = scattered_layout((positions, masked_positions), separators, width)
            (encoder_documents, encoder_columns), (mask_documents, mask_columns) = groups
            documents = (encoder_documents, mask_documents, full_documents)
        embeddings = self.mlm.base_model.embeddings
        hidden = embeddings(input_ids=input_ids, position_ids=self.position_ids(encoder_columns), token_type_ids=token_type_ids)
        hidden = self._run_layers(self.encoder_layers, hidden, present, documents and documents[0])  # (B, E, H)
        batch, masks = masked_positions.shape
        # 3ML §3: a learned [MASK] vector, disentangled from the word embedding, plus the position
        # and token type embedding of the masked slot, normalised as the embeddings are.
        mask_vectors = self.mask_embedding.to(hidden.dtype).expand(batch, masks, -1)
        mask_hidden = embeddings(
            inputs_embeds=mask_vectors,
            position_ids=self.position_ids(mask_columns),
            token_type_ids=masked_token_type_ids,
        )
        if self.settings.variant == "cross":
            # The encoder's own output stands at the visible slots: only [MASK]s are decoded.
            return self._cross_stage(hidden, present, mask_hidden, masked_positions >= 0, documents), hidden
        full = _scatter_rows(hidden, positions, width) + _scatter_rows(mask_hidden, masked_positions, width)  # (B, W, H)
        full_present = _scatter_rows(present[..., None], positions, width) | _scatter_rows((masked_positions >= 0)[..., None], masked_positions, width)
        full = self._run_layers(self.late_layers, full, full_present[..., 0], documents and documents[2])  # 3ML_self
        return gather_rows(full, masked_positions), gather_rows(full, positions)

    def _cross_stage(
        self,
        encoded: torch.Tensor,
        encoded_present: torch.Tensor,
        queries: torch.Tensor,
        query_present: torch.Tensor,
        documents: tuple[torch.Tensor, ...] | None = None,
    ) -> torch.Tensor:
        """3ML_cross: [MASK] queries (B, M, H) self-attend, cross-attend to the encoder output, feed forward."""
        from transformers.masking_utils import create_bidirectional_mask

        if documents is None:
            self_mask = create_bidirectional_mask(config=self.config, inputs_embeds=queries, attention_mask=query_present)
            cross_mask = create_bidirectional_mask(
                config=self.config, inputs_embeds=queries, attention_mask=encoded_present, encoder_hidden_states=encoded
            )
        else:
            encoder_documents, mask_documents = documents[:2]
            self_mask = block_mask(self.config, queries, query_present, mask_documents)
            cross_mask = block_mask(self.config, queries, query_present, mask_documents, keys=(encoded, encoded_present, encoder_documents))
        for layer, cross in zip(self.late_layers, self.cross_attention):
            queries = layer.attention(queries, self_mask)[0]
            queries = cross(queries, None, encoder_hidden_states=encoded, encoder_attention_mask=cross_mask)[0]
            queries = layer.feed_forward_chunk(queries)
        return queries

    def _run_layers(
        self, layers: nn.ModuleList, hidden: torch.Tensor, present: torch.Tensor, document_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Run `layers` over hidden (B, L, H) with its real slots `present` (B, L), each document apart when
        `document_ids` (B, L) is given."""
        from transformers.masking_utils import create_bidirectional_mask

        if document_ids is None:
            mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=present)
        else:
            mask = block_mask(self.config, hidden, present, document_ids)
        for layer in layers:
            hidden = layer(hidden, mask)
        return hidden

    def export_encoder(self, folder: str | Path, keep_late_layers: bool | None = None) -> Path:
        """Save the fine-tuning encoder as a plain `BertModel`/`RobertaModel` folder.

        Args:
            folder: where to write (config.json + model.safetensors).
            keep_late_layers: keep all N layers; default from the settings (paper: drop the late ones).
        """
        keep = self.settings.keep_late_layers if keep_late_layers is None else keep_late_layers
        base = self.mlm.base_model
        kept_layers = self.config.num_hidden_layers - (0 if keep else self.settings.late_layers)
        config = type(self.config).from_dict(self.config.to_dict())
        config.num_hidden_layers = kept_layers
        config.architectures = None
        config.mlmkit_late_mask = {**asdict(self.settings), "exported_layers": kept_layers}
        encoder = type(base)(config, add_pooling_layer=False)
        state = {
            name: tensor
            for name, tensor in base.state_dict().items()
            if not name.startswith("encoder.layer.") or int(name.split(".")[2]) < kept_layers
        }
        encoder.load_state_dict(state, strict=True)
        encoder.save_pretrained(str(folder))
        return Path(folder)

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        """Write the fine-tuning encoder at `save_directory` and the full model under `late_mask/`.

        `AutoModelForSequenceClassification.from_pretrained(save_directory)` loads the encoder;
        `LateMaskForMaskedLM.from_pretrained(save_directory)` reloads everything to resume pretraining.
        """
        from safetensors.torch import save_file

        folder = Path(save_directory)
        self.export_encoder(folder)
        full = folder / LATE_MASK_FOLDER
        self.mlm.save_pretrained(str(full), **kwargs)
        own = {name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items() if not name.startswith("mlm.")}
        save_file(own, str(full / _LATE_STAGE_FILE))
        (full / _SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, path: str | Path, settings: LateMaskConfig | None = None) -> LateMaskForMaskedLM:
        """Reload a model written by `save_pretrained` (the folder or its `late_mask/` subfolder).

        Args:
            path: the folder.
            settings: the run's settings; late_layers and variant must match the saved model's
                (they shape its parameters), keep_late_layers may differ. Default: the saved ones.
        """
        from safetensors.torch import load_file
        from transformers import AutoModelForMaskedLM

        from mlmkit.models.loading import load_model

        if not is_late_mask_folder(path):
            raise MlmkitError(
                f"{str(path)!r} holds no late-mask model (no {LATE_MASK_FOLDER}/{_SETTINGS_FILE}); "
                "pass a folder written by LateMaskForMaskedLM.save_pretrained"
            )
        full = _late_mask_folder(Path(path))
        saved = LateMaskConfig(**json.loads((full / _SETTINGS_FILE).read_text()))
        if settings is not None and (settings.late_layers, settings.variant) != (saved.late_layers, saved.variant):
            raise MlmkitError(
                f"{str(path)!r} was trained with late_layers={saved.late_layers}, variant={saved.variant!r}; "
                f"got late_layers={settings.late_layers}, variant={settings.variant!r}. Set model.late_mask to the "
                "saved values to continue it"
            )
        model = cls(load_model(full, AutoModelForMaskedLM), settings or saved)
        missing, unexpected = model.load_state_dict(load_file(str(full / _LATE_STAGE_FILE)), strict=False)
        assert not unexpected and all(name.startswith("mlm.") for name in missing), (missing, unexpected)
        return model


def is_late_mask_folder(path: str | Path) -> bool:
    """True for a folder written by `LateMaskForMaskedLM.save_pretrained` (or its `late_mask/` part)."""
    return (_late_mask_folder(Path(path)) / _SETTINGS_FILE).is_file()


def _late_mask_folder(folder: Path) -> Path:
    return folder if (folder / _SETTINGS_FILE).is_file() else folder / LATE_MASK_FOLDER


def check_settings(config: Any, settings: LateMaskConfig) -> None:
    """Raise MlmkitError, saying what is allowed, for a model (HF config) the late stage cannot be built on."""
    if config.model_type not in _HEAD_ATTRIBUTE:
        raise MlmkitError(
            f"model.late_mask (3ML) works with model_type in {sorted(_HEAD_ATTRIBUTE)}, got a {config.model_type!r} model; "
            "use a BERT or RoBERTa family or checkpoint, or drop model.late_mask"
        )
    if not 1 <= settings.late_layers <= config.num_hidden_layers:
        raise MlmkitError(
            f"late_layers={settings.late_layers} must be between 1 and num_hidden_layers={config.num_hidden_layers}; "
            "3ML uses 2 late layers for base models"
        )
    if settings.variant not in LATE_MASK_VARIANTS:
        raise MlmkitError(f"late-mask variant {settings.variant!r} is unknown; choose one of {list(LATE_MASK_VARIANTS)}")


def _scatter_rows(values: torch.Tensor, index: torch.Tensor, width: int) -> torch.Tensor:
    """Place values (B, n, H) at row slots index (B, n) of a (B, width, H) zero tensor; index -1 is dropped.

    Padding slots go to an extra trash column that is cut off, so no Python branch depends on data.
    """
    batch, _, hidden = values.shape
    slot = torch.where(index < 0, width, index)
    out = values.new_zeros(batch, width + 1, hidden)
    out = out.scatter(1, slot[..., None].expand(-1, -1, hidden), values)
    return out[:, :width]
