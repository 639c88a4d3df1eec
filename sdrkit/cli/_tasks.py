"""Task verbs: ``sdrkit <verb> <task> ...`` dispatching through :data:`sdrkit.tasks.TASKS`."""

from __future__ import annotations


def register_task_verb(sub, verb: str, help_text: str, cli_name: str | None = None) -> None:
    """Add ``verb`` with one sub-command per registered task that supports it."""
    from sdrkit.tasks import TASKS, task_supports

    p = sub.add_parser(cli_name or verb, help=help_text, description=help_text)
    tsub = p.add_subparsers(dest="task", metavar="TASK")
    for name in TASKS.names():
        cls = TASKS.get(name)
        if not task_supports(cls, verb):
            continue
        tp = tsub.add_parser(name, help=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else name)
        getattr(cls, f"add_{verb}_arguments")(tp)
        tp.set_defaults(func=getattr(cls, verb))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
