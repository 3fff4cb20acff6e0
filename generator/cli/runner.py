"""How every command runs: build the core's options once, call it, exit by the one path."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from generator.cli.console import Outcome, echo_problems, echo_report
from generator.cli.options import check_output_root, check_selection, debug_of, project_dir_of
from generator.errors import EXIT_INPUT, StoppedError, TfgenError

if TYPE_CHECKING:
    from generator.pipeline import EnvironmentResult, ProgressFn, RunOptions


def run(ctx: click.Context, action: Callable[[], int | None]) -> None:
    """Run ``action`` and exit with its code: the CLI's one exit path.

    ``action`` returns the code its report ends with (None: 0). A TfgenError prints its
    lines on stderr and exits with its own code; an OSError outside the core's checks, 1.
    """
    try:
        code = action()
    except TfgenError as err:
        if debug_of(ctx):
            import traceback

            traceback.print_exc()
        echo_problems(err.problems)
        code = err.exit_code
    except StoppedError as err:  # a signal: one line, 128 + its number
        echo_problems(err.problems)
        code = err.exit_code
    except OSError as err:  # a filesystem failure outside the core's own checks
        if debug_of(ctx):
            import traceback

            traceback.print_exc()
        click.echo(f"error: {err}", err=True)
        code = EXIT_INPUT
    if code:
        ctx.exit(code)


def selection(
    ctx: click.Context, params: Mapping[str, Any], **fixed: Any
) -> Callable[..., RunOptions]:
    """Check a command's selection and output root (usage errors, exit 2), then build its run.

    Args:
        ctx: the command's context.
        params: the keyword arguments of :func:`run_options` as click passed them.
        fixed: the command's own settings (``force``, ``write``).

    Returns:
        A builder of the core's run options; it takes the ``progress`` callback, made
        inside the command's action.
    """
    environments = tuple(params["environments"])
    check_selection(environments, params["all_environments"])
    check_output_root(ctx, params["out_dir"])

    def build(progress: ProgressFn | None = None) -> RunOptions:
        from generator.inputs.environment import Override
        from generator.pipeline import RunOptions

        return RunOptions(
            project_dir=project_dir_of(ctx),
            environments=environments,
            all_environments=params["all_environments"],
            out_dir=params["out_dir"],
            overrides=tuple(Override.parse(s) for s in params["sets"]),
            suffix=params.get("suffix"),
            workers=params.get("jobs"),
            components=tuple(params.get("components", ())),
            progress=progress,
            **fixed,
        )

    return build


def report_code(
    ctx: click.Context,
    lines: Sequence[Outcome],
    states: Sequence[str],
    failed: Sequence[EnvironmentResult],
    *,
    components: bool = False,
) -> int | None:
    """Print a run's report (see :func:`echo_report`); its highest failure code, or None."""
    return echo_report(
        lines,
        states,
        [(r.error.problems, r.error.exit_code, r.trace) for r in failed if r.error is not None],
        debug=debug_of(ctx),
        noun="root modules" if components else "environments",
    )
