"""Learning from outcomes: script effectiveness, A/B variants, attribution, mined drafts."""
