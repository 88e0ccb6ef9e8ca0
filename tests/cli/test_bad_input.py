"""Bad input, every command and the Python API: exit status 2 (or MlmkitError) with one line naming the
file, line or key, never a traceback. A second list: inputs that used to finish silently with wrong
results now fail loudly. All CLI cases run in-process through `mlmkit.cli.main`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mlmkit.cli import main
from mlmkit.errors import MlmkitError

TINY_MODEL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_corpus: Path, trained_tokenizers: dict[str, Path], minilm_path: Path, shared_data: Path) -> dict:
    """Every input the cases below point at, built once."""
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    root = tmp_path_factory.mktemp("bad-input")
    head = small_corpus.read_bytes()[:20_000]
    (root / "latin1.txt").write_bytes(head + b"\nCaf\xe9 au lait\n")  # valid UTF-8 for 20 kB, then latin-1
    (root / "cut.txt").write_bytes(head + "\nend \u00e9".encode()[:-1])  # ends inside a 2-byte character
    (root / "a_file").write_text("not a folder\n")
    (root / "folder").mkdir()
    (root / "not-a-dataset").mkdir()
    (root / "not-a-dataset" / "readme.txt").write_text("hello\n")
    wordpiece = load_mlm_tokenizer(trained_tokenizers["wordpiece"])
    blocks = root / "blocks32"
    prepare_dataset(wordpiece, seq_len=32, out_dir=blocks, corpus_files=[small_corpus], validation_fraction=0.1)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    # Blocks of MiniLM's 30,522-id vocabulary without their record: only the ids tell they do not fit.
    unrecorded = root / "blocks-unrecorded"
    prepare_dataset(tokenizer, seq_len=32, out_dir=unrecorded, corpus_files=[small_corpus])
    (unrecorded / "mlmkit_prepare.json").unlink()
    qa = root / "tiny-qa"
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    BertForQuestionAnswering(config).save_pretrained(qa)
    tokenizer.save_pretrained(qa)
    squad = json.loads((shared_data / "squad" / "dev-v1.1.sample.json").read_text(encoding="utf-8"))
    _write_squad(root / "squad-offsets.json", squad, lambda qa_: [dict(a, answer_start=a["answer_start"] + 10**6) for a in qa_["answers"]])
    _write_squad(root / "squad-noanswer.json", squad, lambda qa_: [] if qa_ is _first_question(squad) else qa_["answers"])
    (root / "squad-latin1.json").write_bytes(b'{"data": [{"title": "Caf\xe9"}]}')
    glue = root / "glue"
    for name in ("STS-B-42", "STS-B-nan", "STS-B-latin1"):
        (glue / name / "STS-B").mkdir(parents=True)
    rows = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
    rows += [f"{i}\tmain\tx\t2012\t{i}\tnone\tnone\tA man is playing.\tA man plays.\t{i % 5}.0" for i in range(6)]
    for name, bad in (("STS-B-42", "42"), ("STS-B-nan", "nan"), ("STS-B-latin1", "3.0")):
        lines = rows + [f"6\tmain\tx\t2012\t6\tnone\tnone\tA caf\u00e9.\tA cafe.\t{bad}"]
        data = ("\n".join(lines) + "\n").encode()
        if name == "STS-B-latin1":
            data = data.replace("caf\u00e9".encode(), b"caf\xe9")
        for split in ("train.tsv", "dev.tsv"):
            (glue / name / "STS-B" / split).write_bytes(data)
    (root / "pairs-latin1.jsonl").write_bytes(b'{"source": "a", "target": "b"}\n{"source": "caf\xe9", "target": "c"}\n')
    run = root / "run-torn"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 5.0, "seconds": 1.0}\n{"step": 2, "loss": 4.')
    broken = root / "run-broken"
    broken.mkdir()
    (broken / "metrics.jsonl").write_text('{"step": 1, "loss": 5.0}\n{"step": 2, "lo\n{"step": 3, "loss": 4.0}\n')
    latin_run = root / "run-latin1"
    latin_run.mkdir()
    (latin_run / "metrics.jsonl").write_bytes(b'{"step": 1, "loss": 5.0, "note": "caf\xe9"}\n')
    (root / "recipe-latin1.yaml").write_bytes(b"# caf\xe9\ntrain:\n  lr: 1.0e-3\n")
    return {
        "root": root, "wordpiece": trained_tokenizers["wordpiece"], "bpe": trained_tokenizers["bpe"], "blocks": blocks,
        "unrecorded": unrecorded, "qa": qa, "minilm": minilm_path, "glue": glue, "corpus": small_corpus,
    }  # fmt: skip


def _first_question(squad: dict) -> dict:
    return squad["data"][0]["paragraphs"][0]["qas"][0]


def _write_squad(path: Path, squad: dict, answers) -> None:
    copy = json.loads(json.dumps(squad))
    first = _first_question(squad)
    for article in copy["data"]:
        for paragraph in article["paragraphs"]:
            for question in paragraph["qas"]:
                original = first if question["id"] == first["id"] else question
                question["answers"] = answers(original)
    path.write_text(json.dumps(copy), encoding="utf-8")


def _recipe(files: dict, tmp_path: Path, **sections) -> Path:
    """A tiny recipe (prepared blocks, 1-layer BERT) with `sections` merged in."""
    tree = {
        "tokenizer": {"path": str(files["wordpiece"])},
        "data": {"path": str(files["blocks"]), "seq_len": 32, "max_eval_blocks": 16},
        "model": {"family": "bert", "size": "tiny", "config": TINY_MODEL},
        "train": {"max_steps": 2, "batch_size": 4, "eval_every": 2, "save_every": 2, "log_every": 1},
        "output_dir": str(tmp_path / "run"),
    }
    for section, values in sections.items():
        tree[section] = {**tree.get(section, {}), **values} if isinstance(values, dict) else values
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


# (case id, argv built from (files, tmp_path), regex the one error line must match)
CLI_CASES = [
    # corpus encoding: the whole file, file and line of the first bad byte, before any work
    ("tokenizer-latin1-corpus", lambda f, t: ["tokenizer", "train", "--corpus", f"{f['root']}/latin1.txt", "--out", f"{t}/tok"], r"latin1\.txt', line \d+ \(byte \d+\): byte 0xe9 is not UTF-8"),
    ("tokenizer-cut-character", lambda f, t: ["tokenizer", "train", "--corpus", f"{f['root']}/cut.txt", "--out", f"{t}/tok"], r"cut\.txt', line \d+: the file ends inside a UTF-8 character"),
    ("prepare-latin1-corpus", lambda f, t: ["data", "prepare", "--tokenizer", str(f["wordpiece"]), "--corpus", f"{f['root']}/latin1.txt", "--out", f"{t}/d"], r"latin1\.txt', line \d+ .*not UTF-8"),
    ("stats-latin1-corpus", lambda f, t: ["stats", "rom", "--tokenizer", str(f["wordpiece"]), "--corpus", f"{f['root']}/latin1.txt", "--out", f"{t}/r.safetensors"], r"latin1\.txt', line \d+ .*not UTF-8"),
    ("seq2seq-latin1-corpus", lambda f, t: ["seq2seq", "--model", str(f["minilm"]), "--corpus", f"{f['root']}/latin1.txt", "--out", f"{t}/s"], r"latin1\.txt', line \d+ .*not UTF-8"),
    ("seq2seq-latin1-pairs", lambda f, t: ["seq2seq", "--model", str(f["minilm"]), "--train", f"{f['root']}/pairs-latin1.jsonl", "--eval", f"{f['root']}/pairs-latin1.jsonl", "--out", f"{t}/s"], r"pairs file .*pairs-latin1\.jsonl', line 2 "),
    ("seq2seq-missing-pairs", lambda f, t: ["seq2seq", "--model", str(f["minilm"]), "--train", f"{t}/no.jsonl", "--eval", f"{t}/no.jsonl", "--out", f"{t}/s"], r"pairs file '.*no\.jsonl' does not exist"),
    ("glue-latin1-tsv", lambda f, t: ["glue", "--model", str(f["minilm"]), "--task", "stsb", "--data-dir", f"{f['glue']}/STS-B-latin1", "--out", f"{t}/g"], r"GLUE file .*train\.tsv', line 8 "),
    ("squad-latin1-json", lambda f, t: ["squad", "--model", str(f["qa"]), "--version", "1.1", "--train", f"{f['root']}/squad-latin1.json", "--dev", f"{f['root']}/squad-latin1.json", "--out", f"{t}/q"], r"SQuAD file .*squad-latin1\.json', line 1 "),
    ("recipe-latin1", lambda f, t: ["pretrain", f"{f['root']}/recipe-latin1.yaml", "--dry-run"], r"recipe .*recipe-latin1\.yaml', line 1 "),
    ("plot-latin1-metrics", lambda f, t: ["plot", f"{f['root']}/run-latin1", "--out", f"{t}/c.png"], r"metrics file .*metrics\.jsonl', line 1 "),
    # output paths: checked before the work
    ("tokenizer-out-proc", lambda f, t: ["tokenizer", "train", "--corpus", str(f["corpus"]), "--out", "/proc/mlmkit-tok"], r"cannot write '/proc/mlmkit-tok'"),
    ("tokenizer-out-under-file", lambda f, t: ["tokenizer", "train", "--corpus", str(f["corpus"]), "--out", f"{f['root']}/a_file/tok"], r"a_file/tok'.*(does not exist|is a file)"),
    ("prepare-out-proc", lambda f, t: ["data", "prepare", "--tokenizer", str(f["wordpiece"]), "--corpus", str(f["corpus"]), "--out", "/proc/mlmkit-data"], r"cannot write '/proc/mlmkit-data'"),
    ("prepare-out-is-file", lambda f, t: ["data", "prepare", "--tokenizer", str(f["wordpiece"]), "--corpus", str(f["corpus"]), "--out", f"{f['root']}/a_file"], r"a_file' is a file, not a folder"),
    ("stats-out-is-folder", lambda f, t: ["stats", "rom", "--tokenizer", str(f["wordpiece"]), "--corpus", str(f["corpus"]), "--out", f"{f['root']}/folder"], r"output '.*folder' is a folder; give a file name"),
    ("stats-out-proc", lambda f, t: ["stats", "pmi", "--tokenizer", str(f["wordpiece"]), "--corpus", str(f["corpus"]), "--out", "/proc/pmi.safetensors"], r"cannot write '/proc/pmi\.safetensors'"),
    ("plot-out-under-file", lambda f, t: ["plot", f"{f['root']}/run-torn", "--out", f"{f['root']}/a_file/x.png"], r"a_file' is a file, not a folder"),
    ("plot-out-is-folder", lambda f, t: ["plot", f"{f['root']}/run-torn", "--out", f"{f['root']}/folder"], r"is a folder; give a file name"),
    ("glue-out-proc", lambda f, t: ["glue", "--model", str(f["minilm"]), "--task", "stsb", "--data-dir", str(f["glue"]), "--out", "/proc/glue"], r"cannot write '/proc/glue'"),
    ("glue-out-is-file", lambda f, t: ["glue", "--model", str(f["minilm"]), "--task", "stsb", "--data-dir", str(f["glue"]), "--out", f"{f['root']}/a_file"], r"a_file' is a file, not a folder"),
    ("squad-out-proc", lambda f, t: ["squad", "--model", str(f["qa"]), "--version", "1.1", "--train", f"{f['root']}/squad-offsets.json", "--split-by-article", "0.5", "--out", "/proc/squad"], r"cannot write '/proc/squad'"),
    ("seq2seq-out-proc", lambda f, t: ["seq2seq", "--model", str(f["minilm"]), "--out", "/proc/s2s"], r"cannot write '/proc/s2s'"),
    ("pretrain-out-proc", lambda f, t: ["pretrain", str(_recipe(f, t)), "output_dir=/proc/run"], r"cannot write '/proc/run'"),
    ("dry-run-out-proc", lambda f, t: ["pretrain", str(_recipe(f, t)), "output_dir=/proc/run", "--dry-run"], r"cannot write '/proc/run'"),
    # recipe values: declared ranges and types, the error names the key
    ("lr-negative", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.lr=-1", "--dry-run"], r"train\.lr=-1\.0 is out of range; it must be > 0"),
    ("lr-nan", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.lr=.nan", "--dry-run"], r"train\.lr=nan is out of range"),
    ("save-every-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.save_every=0"], r"train\.save_every=0 is out of range; it must be >= 1"),
    ("batch-size-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.batch_size=0"], r"train\.batch_size=0 is out of range"),
    ("max-steps-negative", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.max_steps=-5"], r"train\.max_steps=-5 is out of range"),
    ("max-tokens-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.max_tokens=0"], r"train\.max_tokens=0 is out of range"),
    ("eval-fraction-above-one", lambda f, t: ["pretrain", str(_recipe(f, t)), "data.eval_fraction=1.5"], r"data\.eval_fraction=1\.5 is out of range; it must be in \(0, 1\)"),
    ("beta-above-one", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.betas=[0.9, 1.5]"], r"train\.betas\[1\]=1\.5 is out of range"),
    ("eps-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.eps=0"], r"train\.eps=0\.0 is out of range"),
    ("accumulation-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.gradient_accumulation_steps=0"], r"train\.gradient_accumulation_steps=0"),
    ("grad-norm-negative", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.max_grad_norm=-1"], r"train\.max_grad_norm=-1\.0 is out of range"),
    ("keep-checkpoints-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.keep_checkpoints=0"], r"train\.keep_checkpoints=0"),
    ("num-workers-negative", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.num_workers=-1"], r"train\.num_workers=-1"),
    ("seed-negative", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.seed=-1"], r"train\.seed=-1"),
    ("vocab-size-tiny", lambda f, t: ["pretrain", str(_recipe(f, t)), "tokenizer.vocab_size=3"], r"tokenizer\.vocab_size=3 is out of range"),
    ("seq-len-two", lambda f, t: ["pretrain", str(_recipe(f, t)), "data.seq_len=2"], r"data\.seq_len=2 is out of range"),
    ("span-option-wrong-type", lambda f, t: ["pretrain", str(_recipe(f, t)), "collator.name=span", "collator.options.max_span_length=long"], r"collator\.options\.max_span_length='long' .*expected an integer"),
    ("unknown-collator-option", lambda f, t: ["pretrain", str(_recipe(f, t)), "collator.options.mlm_probabilty=0.2"], r"unknown option 'collator\.options\.mlm_probabilty'.*did you mean 'mlm_probability'"),
    ("unknown-collator", lambda f, t: ["pretrain", str(_recipe(f, t)), "collator.name=spam"], r"collator\.name='spam': unknown masking strategy 'spam'"),
    ("late-layers-zero", lambda f, t: ["pretrain", str(_recipe(f, t)), "model.late_mask={late_layers: 0}", "collator.options.output=late_mask"], r"model\.late_mask\.late_layers=0 is out of range"),
    ("bool-field-word", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.sparse_head=maybe", "--dry-run"], r"train\.sparse_head='maybe' has the wrong type"),
    # prepared data, tokenizer and model that do not belong together
    ("data-path-not-prepared", lambda f, t: ["pretrain", str(_recipe(f, t, data={"path": f"{f['root']}/not-a-dataset"}))], r"data\.path: '.*not-a-dataset' is not a folder written by `mlmkit data prepare`"),
    ("data-path-ids-beyond-tokenizer", lambda f, t: ["pretrain", str(_recipe(f, t, data={"path": str(f["unrecorded"])}))], r"data\.path: .*holds token id \d+ but the tokenizer has"),
    ("data-path-other-seq-len", lambda f, t: ["pretrain", str(_recipe(f, t, data={"seq_len": 64}))], r"data\.path: .*holds blocks of 32 tokens, not 64; set data\.seq_len=32"),
    ("dry-run-other-tokenizer", lambda f, t: ["pretrain", str(_recipe(f, t, tokenizer={"path": str(f["bpe"])})), "--dry-run"], r"data\.path: .*was prepared with another tokenizer"),
    ("seq2seq-bert-model", lambda f, t: ["seq2seq", "--model", str(f["minilm"]), "--out", f"{t}/s", "--steps", "0", "--max-train-samples", "4", "--max-eval-samples", "4"], r"holds a 'bert' model .*AutoModelForSeq2SeqLM cannot load"),
    # metrics.jsonl: a bad row before the last is an error naming the line
    ("plot-broken-metrics-line", lambda f, t: ["plot", f"{f['root']}/run-broken", "--out", f"{t}/c.png"], r"metrics\.jsonl, line 2: not a metrics row"),
    # evaluation data checked before fine-tuning
    ("squad-all-offsets-wrong", lambda f, t: ["squad", "--model", str(f["qa"]), "--version", "1.1", "--train", f"{f['root']}/squad-offsets.json", "--dev", f"{f['root']}/squad-offsets.json", "--out", f"{t}/q", "--max-length", "128", "--doc-stride", "32"], r"squad-offsets\.json: none of the \d+ training question\(s\) has an answer_start"),
    ("squad-v11-dev-without-answers", lambda f, t: ["squad", "--model", str(f["qa"]), "--version", "1.1", "--train", f"{f['root']}/squad-offsets.json", "--dev", f"{f['root']}/squad-noanswer.json", "--out", f"{t}/q"], r"squad-noanswer\.json: question \w+ \(article .*\) has no answers"),
    # --dataset: a missing path is a path error at once, no Hub request
    ("dataset-path-like", lambda f, t: ["data", "prepare", "--tokenizer", str(f["wordpiece"]), "--dataset", f"{t}/missing/", "--out", f"{t}/d"], r"dataset path '.*missing/' does not exist"),
    ("dataset-file-like", lambda f, t: ["data", "prepare", "--tokenizer", str(f["wordpiece"]), "--dataset", "docs.jsonl", "--out", f"{t}/d"], r"dataset path 'docs\.jsonl' does not exist"),
    ("dataset-typo-of-a-folder", lambda f, t: ["data", "prepare", "--tokenizer", str(f["wordpiece"]), "--dataset", f"{f['root']}/foldr", "--out", f"{t}/d"], r"does not exist; did you mean 'folder'\?"),
    ("stats-dataset-path-like", lambda f, t: ["stats", "rom", "--tokenizer", str(f["wordpiece"]), "--dataset", "./nowhere", "--out", f"{t}/r.safetensors"], r"dataset path '\./nowhere' does not exist"),
    ("mlm-probability-quoted", lambda f, t: ["pretrain", str(_recipe(f, t)), "collator.options.mlm_probability='0.15'"], r"option collator\.options\.mlm_probability='0\.15' .*wrong type; expected a number"),
]

# Formerly exit 0 with wrong results (a silently wrong run, score or file); now the same one line and exit 2.
SILENT_CASES = [
    ("warmup-ratio-negative", lambda f, t: ["pretrain", str(_recipe(f, t)), "train.warmup_ratio=-2"], r"train\.warmup_ratio=-2\.0 is out of range; it must be in \[0, 1\]"),
    ("data-path-other-tokenizer", lambda f, t: ["pretrain", str(_recipe(f, t, tokenizer={"path": str(f["bpe"])}))], r"data\.path: .*was prepared with another tokenizer"),
    ("squad-v11-train-without-answers", lambda f, t: ["squad", "--model", str(f["qa"]), "--version", "1.1", "--train", f"{f['root']}/squad-noanswer.json", "--split-by-article", "0.5", "--out", f"{t}/q"], r"squad-noanswer\.json: question \w+ .*has no answers"),
    ("glue-stsb-score-42", lambda f, t: ["glue", "--model", str(f["minilm"]), "--task", "stsb", "--data-dir", f"{f['glue']}/STS-B-42", "--out", f"{t}/g"], r"STS-B/train\.tsv, line 8: score '42' is not a number from 0 to 5"),
    ("glue-stsb-score-nan", lambda f, t: ["glue", "--model", str(f["minilm"]), "--task", "stsb", "--data-dir", f"{f['glue']}/STS-B-nan", "--out", f"{t}/g"], r"STS-B/train\.tsv, line 8: score 'nan' is not a number from 0 to 5"),
]


@pytest.mark.parametrize(("argv", "message"), [case[1:] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES])
def test_bad_cli_input_is_one_line_and_exit_2(argv, message, files, tmp_path, capsys) -> None:
    _assert_one_line_exit_2(argv, message, files, tmp_path, capsys)


@pytest.mark.parametrize(("argv", "message"), [case[1:] for case in SILENT_CASES], ids=[case[0] for case in SILENT_CASES])
def test_formerly_silent_input_now_fails_loudly(argv, message, files, tmp_path, capsys) -> None:
    _assert_one_line_exit_2(argv, message, files, tmp_path, capsys)


def _assert_one_line_exit_2(argv, message, files, tmp_path, capsys) -> None:
    assert main(argv(files, tmp_path)) == 2
    error = capsys.readouterr().err
    last = error.strip().splitlines()[-1]  # progress bars may precede it on stderr
    assert "Traceback" not in error and last.startswith("mlmkit ")
    assert re.search(message, last), last


def test_there_are_at_least_60_cases() -> None:
    assert len(CLI_CASES) + len(SILENT_CASES) + len(API_CASES) >= 60


def _collator(options: dict):
    def build(files):
        from mlmkit.collators import build_collator
        from mlmkit.data.tokenizer import load_mlm_tokenizer

        return build_collator(options.pop("name", "random"), load_mlm_tokenizer(files["wordpiece"]), **options)

    return build


def _corrupted_stats(files):
    """A PMI statistics file whose tensor bytes are flipped under an intact header."""
    from mlmkit.masking.pmi import PmiMasker  # noqa: F401 - the strategy the file serves
    from mlmkit.stats.artifact import load_stats
    from mlmkit.stats.rom import build_rom_stats
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    tokenizer = load_mlm_tokenizer(files["wordpiece"])
    path = files["root"] / "rom-corrupted.safetensors"
    build_rom_stats(tokenizer, [files["corpus"]], path)
    data = bytearray(path.read_bytes())
    data[-8:] = b"\xff" * 8  # the last tensor's last bytes; the JSON header is at the front
    path.write_bytes(bytes(data))
    return load_stats(path, tokenizer, "rom")


def _recipe_api(overrides: list[str]):
    def load(files):
        from mlmkit.config import load_recipe

        return load_recipe(_recipe(files, files["root"]), overrides)

    return load


API_CASES = [
    ("api-mlm-probability-string", _collator({"mlm_probability": "0.15"}), r"option mlm_probability='0\.15' of masking strategy 'random' has the wrong type; expected a number"),
    ("api-span-length-string", _collator({"name": "span", "max_span_length": "10"}), r"option max_span_length='10' .*expected an integer"),
    ("api-seed-float", _collator({"seed": 1.5}), r"option seed=1\.5 .*expected an integer"),
    ("api-exact-replacement-string", _collator({"exact_replacement": "yes"}), r"option exact_replacement='yes' .*expected true or false"),
    ("api-mass-placement-two", _collator({"name": "mass", "placement_probs": [0.5, 0.5]}), r"option placement_probs=\[0\.5, 0\.5\] .*a list of 3 values"),
    ("api-recipe-lr-negative", _recipe_api(["train.lr=-1"]), r"train\.lr=-1\.0 is out of range"),
    ("api-recipe-betas-type", _recipe_api(["train.betas=[0.9, high]"]), r"train\.betas\[1\]='high' has the wrong type"),
    ("api-stats-corrupted-tensors", _corrupted_stats, r"rom-corrupted\.safetensors': its tensors differ from what was written \(sha256 mismatch"),
]


@pytest.mark.parametrize(("call", "message"), [case[1:] for case in API_CASES], ids=[case[0] for case in API_CASES])
def test_bad_api_input_raises_mlmkit_error(call, message, files) -> None:
    with pytest.raises(MlmkitError, match=message):
        call(files)


# Formerly exit 0 with wrong results; now loud.
def test_yaml_11_words_are_read_by_the_field_type(files, tmp_path) -> None:
    from mlmkit.config import load_recipe

    config = load_recipe(_recipe(files, tmp_path), ["train.mixed_precision=no", "collator.options.mlm_probability=2e-1", "train.sparse_head=off"])
    assert config.train.mixed_precision == "no"  # YAML 1.1 read it as False, "the wrong type"
    assert config.collator.options["mlm_probability"] == 0.2  # YAML 1.1 read it as the string '2e-1'
    assert config.train.sparse_head is False
    written = tmp_path / "written.yaml"
    written.write_text("train:\n  mixed_precision: no\n  lr: 2e-1\ncollator:\n  options: {mlm_probability: 1e-1}\n")
    again = load_recipe(written)
    assert (again.train.mixed_precision, again.train.lr, again.collator.options["mlm_probability"]) == ("no", 0.2, 0.1)


def test_every_numeric_field_has_a_declared_range() -> None:
    import dataclasses
    import typing

    from mlmkit.config import RANGES, RunConfig

    def numeric(cls, prefix=""):
        for field in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[field.name]
            inner = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
            if dataclasses.is_dataclass(inner[0]):
                yield from numeric(inner[0], f"{prefix}{field.name}.")
            elif any(t in (int, float) or typing.get_origin(t) is tuple and float in typing.get_args(t) for t in inner):
                yield prefix + field.name

    assert sorted(numeric(RunConfig)) == sorted(RANGES)


def test_a_torn_last_metrics_line_is_left_out(files, tmp_path) -> None:
    from mlmkit.train.metrics import read_metrics

    assert read_metrics(files["root"] / "run-torn" / "metrics.jsonl") == [{"step": 1, "loss": 5.0, "seconds": 1.0}]
    assert main(["plot", str(files["root"] / "run-torn"), "--out", str(tmp_path / "c.png")]) == 0


def test_undefined_glue_metric_is_null_and_left_out_of_the_score(tmp_path) -> None:
    from mlmkit.eval.glue.results import summarize, write_results

    per_seed = {
        "stsb": {1: {"stsb": {"pearson": float("nan"), "spearmanr": float("nan")}}, 2: {"stsb": {"pearson": 0.5, "spearmanr": 0.3}}},
        "cola": {1: {"cola": {"matthews_correlation": float("nan")}}},
        "rte": {1: {"rte": {"accuracy": 0.6}}},
    }
    table = write_results(tmp_path, summarize("m", per_seed, {}, {}))
    saved = json.loads((tmp_path / "results.json").read_text())  # strict JSON: a bare NaN would not parse
    assert saved["per_seed"]["stsb"]["1"] == {"pearson": None, "spearmanr": None}
    assert saved["results"]["stsb"] == {"pearson": 0.5, "spearmanr": 0.3} and saved["results"]["cola"] == {"matthews_correlation": None}
    assert saved["task_scores"]["cola"] is None and saved["glue_score_tasks"] == ["stsb", "rte"]
    assert saved["glue_score"] == pytest.approx((0.4 + 0.6) / 2)
    assert any("cola matthews_correlation is undefined for seed(s) 1" in note for note in saved["notes"])
    assert "| cola | matthews_correlation | undefined |  | undefined |" in table
