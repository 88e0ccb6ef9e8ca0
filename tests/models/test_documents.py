"""Document attention: in a packed block, every token's hidden state is the one it has when its document runs alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from mlmkit.config import LateMaskConfig
from mlmkit.data.packing import SpecialIds, StreamPacker
from mlmkit.errors import MlmkitError
from mlmkit.masking.late_mask_output import to_late_mask
from mlmkit.models.documents import document_layout, document_starts
from mlmkit.models.factory import set_attention
from mlmkit.models.late_mask import LateMaskForMaskedLM
from mlmkit.train.objectives import MaskedLMModule

VOCAB, SEQ_LEN, MASK_ID = 60, 16, 4
# Each family's ids as its tokenizers have them: RoBERTa's pad id 1 puts its positions after it.
SPECIALS = {"bert": SpecialIds(cls=1, sep=2, pad=0), "roberta": SpecialIds(cls=0, sep=2, pad=1), "modernbert": SpecialIds(cls=1, sep=2, pad=0)}


def tiny_model(family: str, attention: str) -> torch.nn.Module:
    """3 layers; ModernBERT with global attention in layer 0 and an 8-token window in layers 1-2."""
    special = SPECIALS[family]
    common = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, pad_token_id=special.pad)
    torch.manual_seed(0)
    if family == "bert":
        model = transformers.BertForMaskedLM(transformers.BertConfig(**common))
    elif family == "roberta":
        model = transformers.RobertaForMaskedLM(transformers.RobertaConfig(max_position_embeddings=SEQ_LEN + 2, type_vocab_size=1, **common))
    else:
        config = transformers.ModernBertConfig(**common, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2, local_attention=8)
        model = transformers.ModernBertForMaskedLM(config)
    return set_attention(model, attention).eval()


def packed_batch(family: str) -> dict[str, torch.Tensor]:
    """Rows of 16 packed the way `mlmkit data prepare` packs: documents of 2 to 14 tokens, each ended by the
    separator, cut at row edges; the last row padded."""
    generator = np.random.default_rng(0)
    lengths = [5, 9, 3, 14, 7, 2, 11, 6]
    ids = generator.integers(5, VOCAB, sum(lengths))
    packer = StreamPacker(SEQ_LEN, SPECIALS[family])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    rows = [packer.add(ids, np.arange(len(ids)), offsets), packer.finish()]
    input_ids = torch.from_numpy(np.concatenate([row.input_ids for row in rows])).long()
    attention_mask = torch.from_numpy(np.concatenate([row.attention_mask for row in rows])).long()
    assert attention_mask[-1].sum() < SEQ_LEN  # the last row has padding
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def pieces(input_ids: torch.Tensor, attention_mask: torch.Tensor, separator: int) -> list[tuple[int, int, int]]:
    """(row, first column, end column) of every document piece: up to and including a separator, or the row's end."""
    found = []
    for row, (ids, mask) in enumerate(zip(input_ids.tolist(), attention_mask.tolist())):
        start, length = 0, sum(mask)
        for column in range(length):
            if ids[column] == separator or column == length - 1:
                found.append((row, start, column + 1))
                start = column + 1
    return found


def packed_hidden(module: MaskedLMModule, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The body's last hidden states (B, T, H) of the batch as the module lays it out."""
    inputs, token_index = module.body_inputs(batch["input_ids"], batch["attention_mask"], {})
    hidden = module.model.base_model(**inputs)[0]
    if token_index is None:
        return hidden
    return hidden[0][token_index.clamp(min=0)]  # back to (B, T, H); padding reads token 0


def test_document_layout_restarts_positions_after_each_separator_and_at_padding() -> None:
    input_ids = torch.tensor([[1, 7, 8, 2, 9, 2, 6, 0, 0]])
    starts = document_starts(input_ids == 2, input_ids != 0)
    documents, positions = document_layout(starts)
    assert documents.tolist() == [[0, 0, 0, 0, 1, 1, 2, 3, 3]]
    assert positions.tolist() == [[0, 1, 2, 3, 0, 1, 0, 0, 1]]


def test_packing_ends_every_document_with_one_separator() -> None:
    """The boundaries document attention reads: each document ends with the separator, which appears nowhere else."""
    batch = packed_batch("bert")
    assert int((batch["input_ids"] == SPECIALS["bert"].sep).sum()) == 8  # eight documents


@pytest.mark.parametrize(
    ("family", "attention"),
    [("bert", "sdpa"), ("bert", "eager"), ("bert", "sdpa_varlen"), ("roberta", "sdpa"), ("roberta", "sdpa_varlen"),
     ("modernbert", "sdpa"), ("modernbert", "eager"), ("modernbert", "sdpa_varlen")],
)  # fmt: skip
def test_every_token_in_a_block_sees_only_its_document(family: str, attention: str) -> None:
    model, batch = tiny_model(family, attention), packed_batch(family)
    separator = SPECIALS[family].sep
    module = MaskedLMModule(model, separator_id=separator)
    assert module.varlen == (attention == "sdpa_varlen")  # flattened per document, else a block-diagonal mask
    with torch.no_grad():
        packed = packed_hidden(module, batch)
        across = packed_hidden(MaskedLMModule(model), batch)
        for row, start, end in pieces(batch["input_ids"], batch["attention_mask"], separator):
            alone = model.base_model(input_ids=batch["input_ids"][row : row + 1, start:end])[0][0]
            torch.testing.assert_close(packed[row, start:end], alone, rtol=1e-5, atol=1e-5)
    real = batch["attention_mask"].bool()
    # Without document attention the same block mixes its documents: the check above is not vacuous.
    assert (packed - across)[real].abs().max() > 1e-3


@pytest.mark.parametrize(("family", "attention"), [("bert", "sdpa"), ("roberta", "sdpa_varlen"), ("modernbert", "sdpa")])
def test_the_sparse_loss_of_a_block_is_that_of_its_documents(family: str, attention: str) -> None:
    model, batch = tiny_model(family, attention), packed_batch(family)
    separator = SPECIALS[family].sep
    generator = torch.Generator().manual_seed(1)
    content = batch["attention_mask"].bool() & (batch["input_ids"] >= 5)
    labels = torch.where(content & (torch.rand(batch["input_ids"].shape, generator=generator) < 0.3), batch["input_ids"], -100)
    outputs = MaskedLMModule(model, separator_id=separator)(**batch, labels=labels)
    total, count = 0.0, 0
    with torch.no_grad():
        for row, start, end in pieces(batch["input_ids"], batch["attention_mask"], separator):
            logits = model(input_ids=batch["input_ids"][row : row + 1, start:end]).logits[0]
            targets = labels[row, start:end]
            total += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum", ignore_index=-100))
            count += int((targets != -100).sum())
    torch.testing.assert_close(outputs["loss"].item(), total / count, rtol=1e-5, atol=1e-6)
    assert outputs["target_ids"].tolist() == labels[labels != -100].tolist()  # eval mode: every target, in row order


@pytest.mark.parametrize("family", ["bert", "roberta"])
@pytest.mark.parametrize("variant", ["self", "cross"])
def test_late_mask_keeps_documents_apart(family: str, variant: str) -> None:
    """A late-mask block with document attention predicts each [MASK] as its document's own late-mask batch does."""
    torch.manual_seed(0)
    model = LateMaskForMaskedLM(tiny_model(family, "sdpa"), LateMaskConfig(late_layers=1, variant=variant)).eval()
    batch, separator, pad = packed_batch(family), SPECIALS[family].sep, SPECIALS[family].pad
    generator = torch.Generator().manual_seed(2)
    content = batch["attention_mask"].bool() & (batch["input_ids"] >= 5)
    selected = content & (torch.rand(batch["input_ids"].shape, generator=generator) < 0.3)
    corrupted = batch["input_ids"].masked_fill(selected, MASK_ID)
    labels = batch["input_ids"].masked_fill(~selected, -100)
    with torch.no_grad():
        late = to_late_mask(corrupted, labels, batch["attention_mask"], MASK_ID, pad)
        logits, targets = model.target_logits(separator_id=separator, **late)
        packed = logits[targets != -100]
        alone = []
        for row, start, end in pieces(batch["input_ids"], batch["attention_mask"], separator):
            if not selected[row, start:end].any():
                continue  # nothing to predict (and the cross variant takes no empty query)
            piece = to_late_mask(corrupted[row : row + 1, start:end], labels[row : row + 1, start:end],
                                 torch.ones(1, end - start, dtype=torch.long), MASK_ID, pad)  # fmt: skip
            piece_logits, piece_targets = model.target_logits(**piece)
            alone.append(piece_logits[piece_targets != -100])
    torch.testing.assert_close(packed, torch.cat(alone), rtol=1e-5, atol=1e-5)


def test_a_model_that_cannot_keep_documents_apart_is_refused_in_one_line() -> None:
    config = transformers.DebertaV2Config(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    with pytest.raises(MlmkitError, match=r"data.document_attention=block: DebertaV2ForMaskedLM .* does not keep documents apart") as error:
        MaskedLMModule(transformers.DebertaV2ForMaskedLM(config), separator_id=2)
    assert "\n" not in str(error.value)
