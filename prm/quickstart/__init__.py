"""``prm quickstart``: the whole system end to end on the offline default (stages and report)."""
