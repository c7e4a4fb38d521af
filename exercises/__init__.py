"""gradflow.exercises: the course's step-through backprop exercises (TOML files in ``data/``,
format in ``format.md``), loaded, shown, quizzed and checked three ways. Installed as
``gradflow.exercises``; the repository keeps the code in its top-level ``exercises/`` folder."""


def __getattr__(name: str):
    """``from gradflow.exercises import check_answer`` (imported on first use: it loads the
    checks' machinery, which ``gradflow exercise list`` does not need)."""
    if name == "check_answer":
        from .grading import check_answer

        return check_answer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
