"""`mlmkit show-mask` end to end on the real MiniLM tokenizer."""

from __future__ import annotations

import re

from mlmkit.cli import main

TEXT = "The philammon of Thrace sang unbelievably well, said the historian."


def test_show_mask_brackets_whole_words_when_piped(minilm_path, capsys):
    assert main(["show-mask", "--strategy", "whole_word", "--tokenizer", str(minilm_path), "--rate", "0.3", TEXT]) == 0
    shown, _, summary = capsys.readouterr().out.partition("\n\n")
    units = re.findall(r"\[([^\]]+)\]", shown)
    assert shown.replace("[", "").replace("]", "") == TEXT
    assert units and all(unit in TEXT.split() or unit.strip(",.") in TEXT.split() or unit in ",." for unit in units)
    assert f"in {len(units)} units" in summary and "[CLS]" in summary


def test_show_mask_colour_and_options(minilm_path, capsys):
    argv = ["show-mask", "--strategy", "span", "--tokenizer", str(minilm_path), "--colour", "always",
            "-o", "geometric_p=0.5", "--seed", "3", TEXT]
    assert main(argv) == 0
    assert "\033[" in capsys.readouterr().out


def test_show_mask_unknown_option_is_one_line_error(minilm_path, capsys):
    argv = ["show-mask", "--strategy", "span", "--tokenizer", str(minilm_path), "-o", "geometric_q=0.5", TEXT]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "did you mean 'geometric_p'" in error and error.count("\n") == 1
