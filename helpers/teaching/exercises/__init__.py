"""Checks for the exercises: every exercise of the book's chapters 2-7, and a few of the course's own (chapter 1's too).

The notebooks 01_overview ... 10_instruction_finetuning ask them and call `check("3.2", ...)` on the
learner's answer, which prints the verdict; `evaluate` returns it as a `Result` (for tests). registry.py holds the
machinery, tools.py what the checkers share, ch01.py ... ch08.py the checkers of each chapter (a chapter's module
is imported only when one of its exercises is checked). Worked answers, each passed by its check:
notebooks/solutions/ch01_solutions.ipynb ... ch08_solutions.ipynb.
"""

from helpers.teaching.exercises.registry import NotAnswered, Result, Wrong, all_exercises, check, evaluate

__all__ = ["NotAnswered", "Result", "Wrong", "all_exercises", "check", "evaluate"]
