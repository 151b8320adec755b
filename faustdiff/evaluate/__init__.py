"""Evaluation: a parsed Faust program -> its `process` as a primitive block diagram.

Modules: `program` (entry points), `evaluator` (the reduction), `env` (scopes),
`values` (functions, environments), `patterns` (pattern matching), `lifting` (functions
used as block diagrams), `numbers` (compile-time numbers), `labels` (`%i` labels),
`imports` (finding and caching imported files).

The entry points load the evaluator (and the parser) on first use: `imports` alone, which
checks a cached program's imports, does not need them.
"""
__all__ = ["EvaluatedProgram", "evaluate", "evaluate_file", "evaluate_string"]


def __getattr__(name):
    if name in __all__:
        from . import program
        return getattr(program, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
