"""Coverage-guided fuzzing harnesses (atheris); the reliability tests import them too."""
