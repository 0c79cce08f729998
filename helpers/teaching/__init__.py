"""What only the notebooks need: diagrams, plots, widgets, exercise checks, the set-up check and `expect_error`.

The course's model code (the modules directly in `helpers`) never imports this package; its modules may import that
code. Each module names the notebooks that use it.
"""
