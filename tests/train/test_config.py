"""Recipe loading: dotted overrides typed by the schema, unknown keys with suggestions, type errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmkit.config import RunConfig, TrainConfig, load_recipe, to_yaml
from mlmkit.errors import MlmkitError

RECIPE = """
model:
  family: roberta
  size: mini
  config: {hidden_dropout_prob: 0.0}
collator:
  name: span
  options: {mlm_probability: 0.3}
train:
  lr: 3e-4            # YAML 1.1 reads this as a string: the schema makes it a float
  betas: [0.9, 0.98]
output_dir: runs/x
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def test_recipe_values_are_typed_and_defaults_fill_the_rest(recipe: Path) -> None:
    config = load_recipe(recipe)
    assert config.train.lr == 3e-4 and isinstance(config.train.lr, float)
    assert config.train.betas == (0.9, 0.98)
    assert config.model.config == {"hidden_dropout_prob": 0.0}
    assert config.collator.options == {"mlm_probability": 0.3}
    assert config.train.batch_size == TrainConfig().batch_size
    assert config.tokenizer == RunConfig().tokenizer


def test_dotted_overrides_are_typed_by_the_field(recipe: Path) -> None:
    config = load_recipe(
        recipe,
        ["train.lr=1e-3", "train.max_steps=50", "output_dir=/tmp/run", "train.sparse_head=false",
         "collator.options.geometric_p=0.3", "data.corpus=[a.txt, b.txt]", "train.max_tokens=1000000"],
    )
    assert config.train.lr == 1e-3 and config.train.max_steps == 50 and config.output_dir == "/tmp/run"
    assert config.train.sparse_head is False and config.train.max_tokens == 1_000_000
    assert config.collator.options == {"mlm_probability": 0.3, "geometric_p": 0.3}
    assert config.data.corpus == ("a.txt", "b.txt")


def test_to_yaml_round_trips(recipe: Path, tmp_path: Path) -> None:
    config = load_recipe(recipe, ["train.seed=7"])
    again = tmp_path / "again.yaml"
    again.write_text(to_yaml(config), encoding="utf-8")
    assert load_recipe(again) == config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1e-3", r"unknown key 'train\.lrr'; did you mean 'train\.lr'\?"),
        ("trian.lr=1e-3", r"unknown key 'trian'; did you mean 'train'\?"),
        ("data.seqlen=64", r"unknown key 'data\.seqlen'; did you mean 'data\.seq_len'\?"),
        ("train.max_steps=many", r"train\.max_steps='many' has the wrong type; expected an integer"),
        ("train.lr=fast", r"train\.lr='fast' has the wrong type; expected a number"),
        ("train.sparse_head=maybe", r"train\.sparse_head='maybe' has the wrong type; expected true or false"),
        ("train.betas=[0.9]", r"train\.betas=\[0\.9\] has the wrong type; expected a list of 2 values"),
        ("train.mixed_precision=fp8", r"train\.mixed_precision='fp8', must be one of \['no', 'bf16', 'fp16'\]"),
        ("collator.options=3", r"collator\.options=3 has the wrong type; expected a mapping"),
        ("train.lr", r"override 'train\.lr' must look like section\.key=value"),
    ],
)
def test_bad_keys_and_values_fail_at_load_time_with_the_path(recipe: Path, override: str, message: str) -> None:
    with pytest.raises(MlmkitError, match=message):
        load_recipe(recipe, [override])


def test_unknown_key_in_the_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("train:\n  warmup_step: 100\n", encoding="utf-8")
    with pytest.raises(MlmkitError, match=r"typo\.yaml: unknown key 'train\.warmup_step'; did you mean 'train\.warmup_steps'\?"):
        load_recipe(path)


def test_an_unknown_override_key_names_the_command_line_not_the_recipe_file(recipe: Path) -> None:
    """The message named the recipe file, where the user looked for a typo they had typed on the command line."""
    with pytest.raises(MlmkitError, match=r"^override 'train\.max_step=5': unknown key 'train\.max_step'; did you mean 'train\.max_steps'\?") as caught:
        load_recipe(recipe, ["train.max_step=5"])
    assert str(recipe) not in str(caught.value)
    load_recipe(recipe, ["collator.options.mlm_probability=0.3"])  # inside a mapping: checked by the collator


def test_an_option_flag_that_is_a_setting_gets_the_override_spelling(capsys) -> None:
    from mlmkit.cli import main

    with pytest.raises(SystemExit):
        main(["pretrain", "tiny-cpu", "--max-steps", "5"])
    error = capsys.readouterr().err
    assert "did you mean train.max_steps=5?" in error and "mlmkit pretrain: error:" in error  # the command's own usage
    with pytest.raises(SystemExit):
        main(["pretrain", "tiny-cpu", "--bogus"])
    assert "did you mean" not in capsys.readouterr().err


def test_a_missing_corpus_fails_before_the_output_folder_or_the_config_appear(tmp_path: Path, capsys) -> None:
    from mlmkit.cli import main

    out = tmp_path / "run"
    assert main(["pretrain", "tiny-cpu", f"data.corpus=[{tmp_path / 'nope.txt'}]", f"output_dir={out}"]) == 2
    captured = capsys.readouterr()
    assert "data.corpus: corpus file" in captured.err and "does not exist" in captured.err
    assert "resolved config" not in captured.err + captured.out and not out.exists()


def test_missing_and_malformed_recipes(tmp_path: Path) -> None:
    with pytest.raises(MlmkitError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n", encoding="utf-8")
    with pytest.raises(MlmkitError, match="not valid YAML"):
        load_recipe(bad)
