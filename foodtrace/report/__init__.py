"""The incident report: one self-contained HTML page per alert (`foodtrace report`).

collect.py reads the alert, its history, its trace (foodtrace.trace.api, the one
home of the graph walk) and its CAP messages; graph.py and geo.py lay out the trace
graph and the map (pure); render.py fills incident.html.j2 (jinja2, autoescaped).
"""
