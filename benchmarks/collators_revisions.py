"""Compare two revisions of mlmkit's collators from `collators.py` runs of each, made alternately.

Speed on a shared machine drifts between runs, so each run is read as ratios to Hugging Face's plain
collator of the same run, and the two revisions' ratios are averaged over their runs before dividing.

Run (the older revision checked out beside this one, e.g. `git worktree add ../before da16682`):

    for i in 1 2 3; do
      PYTHONPATH=../before python benchmarks/collators.py --out /tmp/before_$i.md
      python benchmarks/collators.py --out /tmp/after_$i.md
    done
    python benchmarks/collators_revisions.py --before /tmp/before_*.jsonl --after /tmp/after_*.jsonl \\
        --out benchmarks/results/collators_revisions.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def ratios(path: Path) -> tuple[dict[tuple[str, str], float], dict]:
    """(shape, collator) -> tokens/s ÷ HF random's tokens/s at that shape, and the run's environment."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    speed = {(f"{r['config']['batch_size']}×{r['config']['length']}", r["collator"]): r["tokens_per_s"] for r in rows}
    return {key: value / speed[(key[0], "HF random")] for key, value in speed.items()}, rows[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, nargs="+", required=True, help="collators.py .jsonl files of the older revision")
    parser.add_argument("--after", type=Path, nargs="+", required=True, help="collators.py .jsonl files of the newer revision")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    before = [ratios(path) for path in args.before]
    after = [ratios(path) for path in args.after]
    environment = [run for _, run in before + after]
    lines = [
        "# Collators: one revision against another",
        "",
        f"`python benchmarks/collators_revisions.py`: {len(before)} runs of {before[0][1]['git_sha'][:10]} (before) and "
        f"{len(after)} of {after[0][1]['git_sha'][:10]} (after), made alternately; {environment[0]['device']}, "
        f"{environment[0]['threads']} torch thread, {environment[0]['rounds']} timed calls per collator and shape, "
        f"load averages {', '.join(run['load_average'] for run in environment)}.",
        "",
        "Tokens per CPU-second as × HF random of the same run, per run; after ÷ before divides the mean ratios.",
        "",
        "| B×L | collator | before, runs | after, runs | after ÷ before |",
        "|---|---|---|---|---|",
    ]
    for key in after[0][0]:
        if key[1].startswith("HF") or key not in before[0][0]:
            continue
        old = [run[key] for run, _ in before]
        new = [run[key] for run, _ in after]
        change = (sum(new) / len(new)) / (sum(old) / len(old))
        lines.append(
            f"| {key[0]} | {key[1].removeprefix('mlmkit ')} | {' / '.join(f'{v:.2f}' for v in old)} "
            f"| {' / '.join(f'{v:.2f}' for v in new)} | {change:.2f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
