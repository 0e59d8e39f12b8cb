"""Withdrawal coordination (spec 6): from an alert to every affected business told,
answering, and accounted for, city by city. See docs/withdrawals.md.

Pure parts: settings (recall classes, deadlines), holdings (what a business holds
at a place, from the alert's trace), plan (which notices an alert version means),
states (a notice's state machine), escalation (the CAP Update for overdue
businesses). I/O at the edges: issue (notices written with the alert version),
reports (withdrawal reports linked to their notice), overdue (the sweep), deliver
(MQTT), progress (the figures, read from the SQL views of migration 0020), queries
(the CLI's reads).
"""
