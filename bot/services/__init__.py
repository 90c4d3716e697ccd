"""One service function per action, called by every front (CLI, web): scope, audit,
domain errors."""
