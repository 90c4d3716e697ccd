"""Customer operations: OneID, follow-ups, segments, lifecycle and funnel reports, conversions,
campaigns (entry codes, the campaign report), referrals, profile fields, next-best-action
rules."""
