"""SQuAD v1.1 / v2.0 harness: read the official JSON, window, fine-tune, decode, score.

data.py reads and checks files; features.py makes sliding windows; decode.py turns logits
into answers; metrics.py is the official EM/F1; baseline.py a trivial reference; run.py ties
them to the shared fine-tuning loop (mlmkit/eval/finetune.py).
"""
