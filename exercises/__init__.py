"""gradflow.exercises: the course's step-through backprop exercises (TOML files in ``data/``,
format in ``format.md``), loaded, shown, quizzed and checked three ways. Installed as
``gradflow.exercises``; the repository keeps the code in its top-level ``exercises/`` folder."""
