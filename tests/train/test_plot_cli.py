"""`mlmkit plot`: curves of the one held-out measure, written beside the run by default."""

from __future__ import annotations

import json

from mlmkit.cli import main


def test_plot_defaults_to_the_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": 10, "seconds": 1.0, "loss": 7.0},
            {"step": 10, "seconds": 1.0, "eval_loss": 6.9, "eval_accuracy": 0.1, "eval_unigram_accuracy": 0.06,
             "eval_whole_word_accuracy": 0.08, "eval_whole_word_unigram_accuracy": 0.05}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["plot", str(run)]) == 0
    assert (run / "curves.png").stat().st_size > 0
    assert str(run / "curves.png") in capsys.readouterr().out
