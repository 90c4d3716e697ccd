"""The message pipeline: log, retrieve, suggest, tag, draft, learn from outcomes."""
