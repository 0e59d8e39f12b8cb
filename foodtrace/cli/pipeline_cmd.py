"""`foodtrace pipeline` (placeholder until its module lands)."""


def register(sub) -> None:
    p = sub.add_parser("pipeline", help="(not yet available)")
    p.set_defaults(handler=lambda args: print("not yet available") or 1)
