"""A miniature `mlmkit compare`: two strategies and a late-mask run, a few steps, a small GLUE sample."""

import json

import mlmkit
from mlmkit.cli import main
from mlmkit.cli.compare import parse_strategy_options
from mlmkit.compare.options import CompareOptions
from mlmkit.compare.run import COMMON_EVAL


def test_miniature_comparison_report_and_resume(tmp_path, shared_data):
    out = tmp_path / "cmp"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        (shared_data / "corpus" / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8")[:300_000], encoding="utf-8"
    )
    argv = [
        "compare", "--strategies", "random,span", "--late-mask", "span", "--family", "bert", "--lr", "1e-3",
        "--corpus", str(corpus), "--max-steps", "4",
        "--batch-size", "8", "--vocab-size", "1000", "--glue-tasks", "rte", "--glue-data-dir", str(shared_data / "glue"),
        "--max-train-samples", "16", "--max-eval-samples", "16", "--glue-epochs", "1", "--seeds", "1,2",
        "--pretrain-seeds", "0,1", "--out", str(out),
    ]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["strategies"]) == ["random", "span", "span+late_mask"]
    for result in report["strategies"].values():
        assert sorted(result["seeds"]) == ["0", "1"]
        for seed in result["seeds"].values():
            assert seed["common_eval"]["eval_tokens"] > 0
            assert len(seed["common_eval"]["blocks"]) == report["held_out_blocks"]
            assert sorted(seed["glue"]["per_seed"]["rte"]) == ["1", "2"]
            assert abs(seed["masking"]["masking_rate"] - CompareOptions.mlm_probability) < 0.02  # the default rate
            assert seed["pretrain_cpu_seconds"] > 0
    assert sorted(report["control"]["seeds"]) == ["0", "1"]
    # The control is the model every run of a seed starts from: the same initial weights, never trained.
    random, span = (report["strategies"][name]["seeds"]["0"]["masking"] for name in ("random", "span"))
    # Each run used its own collator: SpanBERT spans are runs of ~3.8 words, random masks single tokens.
    assert span["mean_masked_run"] > 2 * random["mean_masked_run"]
    assert span["whole_word_share"] > random["whole_word_share"]
    # The late-mask run trained a 3ML model (1 of the tiny model's 2 layers late) on span selections,
    # and its fine-tuned encoder is the 1-layer encoder it exported.
    late = report["strategies"]["span+late_mask"]
    assert (late["strategy"], late["late_layers"], report["strategies"]["span"]["late_layers"]) == ("span", 1, None)
    encoder = json.loads((out / "runs" / "span+late_mask" / "seed-0" / "final" / "config.json").read_text())
    assert encoder["num_hidden_layers"] == 1 and encoder["mlmkit_late_mask"]["late_layers"] == 1
    # Every score carries its interval, every other strategy its paired difference and verdict.
    analysis = report["analysis"]
    assert analysis["reference"] == "random"
    for name in ("span", "span+late_mask"):
        difference = analysis["mlm"][name]["whole_word_accuracy"]["vs_reference"]
        assert difference["interval"]["low"] <= difference["interval"]["estimate"] <= difference["interval"]["high"]
        assert difference["verdict"] in ("better", "worse", "not distinguishable")
        assert "vs_control" in analysis["glue"][name]["rte:accuracy"]
    assert len(analysis["glue"]["no pretraining"]["rte:accuracy"]["per_seed"]) == 4  # 2 pretraining × 2 fine-tuning seeds
    text = (out / "report.md").read_text()
    assert text.index("## Verdicts against random") < text.index("## What to conclude") < text.index("## Held-out MLM")
    assert "| span − random |" in text and "| random − no pretraining |" in text
    assert "| no pretraining | rte accuracy |" in text
    assert "[MASK]-only 15% of each block (random tokens; whole words), seed 12345" in text
    assert (out / "learning_curves.png").stat().st_size > 0 and (out / "glue.png").stat().st_size > 0
    # After 4 steps no model predicts from context yet, and the report says so rather than rank them.
    assert "random, span, span+late_mask: held-out accuracy at or below the unigram baseline" in text
    assert (out / "compare.log").is_file()
    assert f"Software of this report: mlmkit {mlmkit.__version__}, torch " in text and report["software"]["transformers"]
    # Each run's config says which tokenizer it used.
    config = (out / "runs" / "span" / "seed-1" / "config.yaml").read_text()
    assert "vocab_size: 1000" in config and "lowercase: true" in config and "seed: 1" in config

    # A rerun finds everything finished and rewrites the same report without training again; a held-out
    # score made under another common masking (an older mlmkit's) is made again, not reused.
    mtime = (out / "runs" / "span" / "seed-0" / "final" / "config.json").stat().st_mtime
    stale = out / "runs" / "random" / "seed-0" / "common_eval.json"
    scores = report["strategies"]["random"]["seeds"]["0"]["common_eval"]
    stale.write_text(json.dumps({**scores, "made_with": {"name": "random"}, "eval_accuracy": -1}))
    assert main(argv) == 0
    assert (out / "runs" / "span" / "seed-0" / "final" / "config.json").stat().st_mtime == mtime
    rerun = json.loads((out / "report.json").read_text())["strategies"]
    assert rerun["span"]["seeds"]["0"]["glue"] == report["strategies"]["span"]["seeds"]["0"]["glue"]
    assert rerun["random"]["seeds"]["0"]["common_eval"] == scores
    assert rerun["random"]["seeds"]["0"]["common_eval"]["made_with"] == COMMON_EVAL


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
    assert main(["compare", "--late-mask", "random", "--out", str(tmp_path)]) == 2
    assert "--late-mask needs --family bert or roberta (3ML's late-[MASK] encoders), got 'modernbert'" in capsys.readouterr().err
    assert main(["compare", "--late-mask", "random", "--family", "bert", "--late-layers", "2", "--out", str(tmp_path)]) == 2
    assert "--late-layers 2 does not fit a tiny model (2 layers): use 1, so" in capsys.readouterr().err
    assert main(["compare", "--strategies", "random", "--option", "span.geometric_p=0.3", "--out", str(tmp_path)]) == 2
    assert "no run is named 'span'; the runs are ['random']" in capsys.readouterr().err
    # A misspelled or mistyped option stops before the tokenizer, the data and the first pretraining.
    out = tmp_path / "early"
    assert main(["compare", "--option", "span.geometric=0.3", "--out", str(out)]) == 2
    assert "unknown option 'span.geometric' for masking strategy 'span'" in capsys.readouterr().err
    assert not (out / "shared").exists()
    assert main(["compare", "--option", "random.mlm_probability=high", "--out", str(out)]) == 2
    assert "option random.mlm_probability='high' of masking strategy 'random' has the wrong type" in capsys.readouterr().err
    # Each budget flag is named alone (--max-steps 0 used to be told about --minutes too).
    assert main(["compare", "--max-steps", "0", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "--max-steps 0: give at least 1 pretraining step" in error and "--minutes" not in error
    assert main(["compare", "--minutes", "-1", "--out", str(out)]) == 2
    assert "--minutes -1.0: give a positive time budget" in capsys.readouterr().err
