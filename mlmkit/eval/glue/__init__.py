"""GLUE harness: task table (`tasks`), readers (`data`), fine-tune and score (`run`), summary (`results`)."""

from mlmkit.eval.glue.run import GlueOptions, run_glue
from mlmkit.eval.glue.tasks import TASKS, TaskSpec, parse_task_names

__all__ = ["GlueOptions", "TASKS", "TaskSpec", "parse_task_names", "run_glue"]
