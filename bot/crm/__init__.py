"""Customer operations: OneID, follow-ups, segments, lifecycle and funnel reports, conversions."""
