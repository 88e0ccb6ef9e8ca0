"""Library messages go to the run's log file, readable as plain text."""

from __future__ import annotations

import logging
import sys

from mlmkit.logs import library_output_to


def test_the_log_file_holds_library_messages_without_terminal_colour_codes(tmp_path):
    """transformers' load reports carry ANSI codes (bold, red MISSING); compare.log showed them as ^[[31m."""
    with library_output_to(tmp_path / "run.log") as path:
        logging.getLogger("transformers.modeling_utils").warning(
            "\x1b[1mBertForSequenceClassification LOAD REPORT\x1b[0m\nclassifier.bias | \x1b[31mMISSING\x1b[0m |"
        )
    text = path.read_text(encoding="utf-8")
    assert "BertForSequenceClassification LOAD REPORT" in text and "classifier.bias | MISSING |" in text
    assert "\x1b" not in text


def test_no_log_file_or_folder_until_a_message_comes(tmp_path):
    """A run that stops on bad input before any library message leaves no folder behind."""
    with library_output_to(tmp_path / "run" / "pretrain.log", mlmkit_messages=False) as path:
        assert not path.parent.exists()
        logging.getLogger("accelerate.utils.other").warning("Removed shared tensor {'model.decoder.weight'} while saving")
        assert path.is_file()
    assert "Removed shared tensor" in path.read_text(encoding="utf-8")


def test_mlmkit_lines_print_above_a_running_progress_bar(capsys):
    """The MFU line used to be written into the training bar's line."""
    from tqdm import tqdm

    from mlmkit.logs import logger, show_mlmkit_messages

    show_mlmkit_messages()
    with tqdm(total=3, desc="pretrain", file=sys.stderr) as bar:
        bar.update(1)
        logger.info("model FLOPs per token: 1e6")
    err = capsys.readouterr().err
    start = err.index("model FLOPs per token: 1e6\n")
    assert start > 0 and err[start - 1] in "\r\n", repr(err)  # on a line of its own, the bar cleared first
