"""Library messages go to the run's log file, readable as plain text."""

from __future__ import annotations

import logging

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
