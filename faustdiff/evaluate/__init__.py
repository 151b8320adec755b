"""Evaluation: a parsed Faust program -> its `process` as a primitive block diagram.

Modules: `program` (entry points), `evaluator` (the reduction), `env` (scopes),
`values` (functions, environments), `patterns` (pattern matching), `lifting` (functions
used as block diagrams), `numbers` (compile-time numbers), `labels` (`%i` labels),
`imports` (finding and caching imported files).
"""
from .program import EvaluatedProgram, evaluate, evaluate_file, evaluate_string

__all__ = ["EvaluatedProgram", "evaluate", "evaluate_file", "evaluate_string"]
