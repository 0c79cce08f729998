"""Checks for the exercises: every exercise of the book's chapters 2-6, and a few of the course's own.

The notebooks 02_text_and_tokens ... 09_classification_finetuning ask them and call `check("3.2", ...)` on the
learner's answer, which prints the verdict; `evaluate` returns it as a `Result` (for tests). registry.py holds the
machinery, tools.py what the checkers share, ch02.py ... ch06.py the checkers of each book chapter (a chapter's module
is imported only when one of its exercises is checked). Worked answers, each passed by its check:
notebooks/solutions/ch02_solutions.ipynb ... ch06_solutions.ipynb.
"""

from helpers.teaching.exercises.registry import NotAnswered, Result, Wrong, all_exercises, check, evaluate

__all__ = ["NotAnswered", "Result", "Wrong", "all_exercises", "check", "evaluate"]
