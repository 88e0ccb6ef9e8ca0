"""Content schedules: POS-weighted masking follows the running per-class loss; interpolation moves
from one strategy to another over training."""

import torch
from transformers import AutoTokenizer

import mlmkit
from mlmkit.masking.word_classes import lexicon_class

TEXT = ("the cat sat on the mat , and the dog of the house ran to the park with 3 friends . " * 6).strip()


def _class_shares(collator, tokenizer, features, batches=40):
    """Share of masked tokens per lexicon class over `batches` batches."""
    counts = {}
    for _ in range(batches):
        labels = collator(features)["labels"]
        for token in tokenizer.convert_ids_to_tokens(labels[labels != -100].tolist()):
            name = lexicon_class(token)
            counts[name] = counts.get(name, 0) + 1
    total = sum(counts.values())
    return {name: count / total for name, count in counts.items()}


def test_lexicon_classes():
    assert [lexicon_class(t) for t in ("the", ",", "1984", "##ing", "Ġof", "lobster")] == [
        "function", "punct", "num", "content", "function", "content"]


def test_pos_weighted_masks_more_of_the_class_with_higher_running_loss(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    features = [{"input_ids": tokenizer(TEXT)["input_ids"]} for _ in range(16)]
    collator = mlmkit.build_collator("pos_weighted", tokenizer, seed=1)
    masker = collator.masker
    uniform = _class_shares(collator, tokenizer, features)  # no loss seen yet: all weights 0.5

    # Plant losses: function words hard (loss 6), everything else easy (loss 1).
    ids = torch.tensor(tokenizer(TEXT)["input_ids"])
    hard = masker.class_table[ids] == masker.class_names.index("function")
    masker.observe(ids[None], torch.where(hard, 6.0, 1.0)[None])
    weights = dict(zip(masker.class_names, masker.class_weights().tolist()))
    assert weights["function"] > 0.8 and weights["content"] < 0.5
    shifted = _class_shares(collator, tokenizer, features)
    # 40 batches × 16 rows × ~22 masked tokens: shares move by far more than their sampling noise.
    assert shifted["function"] > uniform["function"] + 0.10
    assert shifted["content"] < uniform["content"] - 0.05


def test_pos_weighted_ema_and_checkpoint_state(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    masker = mlmkit.build_collator("pos_weighted", tokenizer, ema_decay=0.5).masker
    the = tokenizer.convert_tokens_to_ids("the")
    labels = torch.tensor([[the, -100]])
    masker.observe(labels, torch.tensor([[4.0, 99.0]]))
    masker.observe(labels, torch.tensor([[2.0, 99.0]]))
    function = masker.class_names.index("function")
    assert masker.class_loss[function].item() == 3.0  # 0.5 * 4 + 0.5 * 2; the -100 position ignored
    state = masker.state_dict()
    fresh = mlmkit.build_collator("pos_weighted", tokenizer, ema_decay=0.5).masker
    fresh.load_state_dict(state)
    assert torch.equal(fresh.class_loss.nan_to_num(-1), masker.class_loss.nan_to_num(-1))


def test_interpolated_moves_from_whole_words_to_tokens(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    words = " ".join(["homarus gammarus planktonic"] * 30)  # every word splits into several pieces
    features = [{"input_ids": tokenizer(words)["input_ids"]} for _ in range(32)]
    collator = mlmkit.build_collator("interpolated", tokenizer, start="whole_word", end="random", seed=0)
    collator.set_total_batches(10)

    def partial_word_share(batch):
        """Share of masked pieces whose word is only partly masked (0 under whole-word masking)."""
        selected = batch["labels"] != -100
        starts = torch.tensor([not t.startswith("##") for t in tokenizer.convert_ids_to_tokens(features[0]["input_ids"])])
        word = torch.cumsum(starts, 0)
        partial = 0
        for row in selected:
            masked_per_word = torch.bincount(word[row], minlength=int(word.max()) + 1)
            size = torch.bincount(word, minlength=int(word.max()) + 1)
            partial += int(((masked_per_word > 0) & (masked_per_word < size))[word[row]].sum())
        return partial / int(selected.sum())

    collator.set_epoch(0, start_batch=0)
    early = partial_word_share(collator(features))
    collator.set_epoch(0, start_batch=10)
    late = partial_word_share(collator(features))
    assert early == 0.0
    assert late > 0.5


def test_trainer_feeds_per_token_losses_back_to_pos_weighted(minilm_path, tmp_path):
    from transformers import BertConfig, BertForMaskedLM, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    collator = mlmkit.build_collator("pos_weighted", tokenizer, seed=0)
    features = [{"input_ids": tokenizer(TEXT)["input_ids"]} for _ in range(8)]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4,
                             report_to=[], save_strategy="no", use_cpu=True)
    Trainer(model=BertForMaskedLM(config), args=args, train_dataset=features, data_collator=collator,
            compute_loss_func=mlmkit.MaskedLossFeedback(collator)).train()
    seen = ~torch.isnan(collator.masker.class_loss)
    # An untrained model's loss is about log(vocab size) for every class.
    assert seen.sum() >= 3
    assert torch.allclose(collator.masker.class_loss[seen], torch.full((int(seen.sum()),), 10.3, dtype=torch.float64), atol=0.5)


def test_custom_tagger_hook_and_nltk_without_its_data(minilm_path, monkeypatch, tmp_path):
    import nltk
    import pytest

    from mlmkit.errors import MlmkitError

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    masker = mlmkit.build_collator("pos_weighted", tokenizer, tagger=_first_letter_tag).masker
    assert set(masker.class_names) == {"vowel", "other"}
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # no tagger data anywhere
    with pytest.raises(MlmkitError, match="nltk.downloader averaged_perceptron_tagger_eng"):
        mlmkit.build_collator("pos_weighted", tokenizer, tagger="nltk")


def _first_letter_tag(word: str) -> str:
    return "vowel" if word[:1].lower() in "aeiou" else "other"
