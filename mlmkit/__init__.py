"""mlmkit: masking strategies as drop-in collators, Accelerate pretraining, GLUE and SQuAD harnesses."""

__version__ = "0.1.0"

__all__ = ["__version__"]
