"""A miniature `mlmkit compare`: two strategies and a late-mask run, a few steps, a small GLUE sample."""

import json

from mlmkit.cli import main
from mlmkit.cli.compare import parse_strategy_options
from mlmkit.compare.run import COMMON_EVAL


def test_miniature_comparison_report_and_resume(tmp_path, shared_data):
    out = tmp_path / "cmp"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        (shared_data / "corpus" / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8")[:300_000], encoding="utf-8"
    )
    argv = [
        "compare", "--strategies", "random,span", "--late-mask", "span", "--corpus", str(corpus), "--max-steps", "4",
        "--batch-size", "8", "--vocab-size", "1000", "--glue-tasks", "rte", "--glue-data-dir", str(shared_data / "glue"),
        "--max-train-samples", "16", "--max-eval-samples", "16", "--glue-epochs", "1", "--seeds", "2", "--out", str(out),
    ]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["strategies"]) == ["random", "span", "span+late_mask"]
    for result in report["strategies"].values():
        assert result["common_eval"]["eval_tokens"] > 0
        assert sorted(result["glue"]["per_seed"]["rte"]) == ["1", "2"]
        assert abs(result["masking"]["masking_rate"] - 0.15) < 0.02
    random, span = (report["strategies"][name]["masking"] for name in ("random", "span"))
    # Each run used its own collator: SpanBERT spans are runs of ~3.8 words, random masks single tokens.
    assert span["mean_masked_run"] > 2 * random["mean_masked_run"]
    assert span["whole_word_share"] > random["whole_word_share"]
    # The late-mask run trained a 3ML model (1 of the tiny model's 2 layers late) on span selections,
    # and its fine-tuned encoder is the 1-layer encoder it exported.
    late = report["strategies"]["span+late_mask"]
    assert (late["strategy"], late["late_layers"], report["strategies"]["span"]["late_layers"]) == ("span", 1, None)
    assert late["masking"]["mean_masked_run"] > 2 * random["mean_masked_run"]
    encoder = json.loads((out / "runs" / "span+late_mask" / "final" / "config.json").read_text())
    assert encoder["num_hidden_layers"] == 1 and encoder["mlmkit_late_mask"]["late_layers"] == 1
    text = (out / "report.md").read_text()
    assert "## Held-out MLM, common masking" in text and "| span | rte | accuracy |" in text
    assert "span+late_mask: 3ML late-mask models" in text and "| span+late_mask | rte | accuracy |" in text
    assert (out / "learning_curves.png").stat().st_size > 0 and (out / "glue.png").stat().st_size > 0

    assert "([MASK]-only 15% of each block (random tokens; whole words), seed 12345)" in text
    # After 4 steps no model predicts from context yet, and the report says so rather than rank them.
    assert "random, span, span+late_mask: accuracy at or below the unigram baseline" in text

    # A rerun finds everything finished and rewrites the same report without training again; a held-out
    # score made under another common masking (an older mlmkit's) is made again, not reused.
    mtime = (out / "runs" / "span" / "final" / "config.json").stat().st_mtime
    stale = out / "runs" / "random" / "common_eval.json"
    stale.write_text(json.dumps({**report["strategies"]["random"]["common_eval"], "made_with": {"name": "random"}, "eval_accuracy": -1}))
    assert main(argv) == 0
    assert (out / "runs" / "span" / "final" / "config.json").stat().st_mtime == mtime
    rerun = json.loads((out / "report.json").read_text())["strategies"]
    assert rerun["span"]["glue"] == report["strategies"]["span"]["glue"]
    assert rerun["random"]["common_eval"] == report["strategies"]["random"]["common_eval"]
    assert rerun["random"]["common_eval"]["made_with"] == COMMON_EVAL


def test_strategy_options_and_bad_input(tmp_path, capsys):
    assert parse_strategy_options(["span.geometric_p=0.3", "random.mlm_probability=0.4"]) == {
        "span": {"geometric_p": 0.3}, "random": {"mlm_probability": 0.4}}
    assert main(["compare", "--strategies", "random,spam", "--out", str(tmp_path)]) == 2
    assert "unknown strategy 'spam'" in capsys.readouterr().err
    assert main(["compare", "--strategies", "random,mass", "--out", str(tmp_path)]) == 2
    assert "trains an encoder-decoder" in capsys.readouterr().err
    assert main(["compare", "--option", "geometric_p=0.3", "--out", str(tmp_path)]) == 2
    assert "expected STRATEGY.KEY=VALUE" in capsys.readouterr().err
    assert main(["compare", "--late-mask", "mass", "--out", str(tmp_path)]) == 2
    assert "trains an encoder-decoder" in capsys.readouterr().err
    assert main(["compare", "--late-mask", "random", "--late-layers", "2", "--out", str(tmp_path)]) == 2
    assert "--late-layers 2 does not fit a tiny model (2 layers): use 1, so" in capsys.readouterr().err
    assert main(["compare", "--strategies", "random", "--option", "span.geometric_p=0.3", "--out", str(tmp_path)]) == 2
    assert "no run is named 'span'; the runs are ['random']" in capsys.readouterr().err
