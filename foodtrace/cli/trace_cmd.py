"""`foodtrace trace` (placeholder until its module lands)."""


def register(sub) -> None:
    p = sub.add_parser("trace", help="(not yet available)")
    p.set_defaults(handler=lambda args: print("not yet available") or 1)
