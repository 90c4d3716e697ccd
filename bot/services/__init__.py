"""One service function per action, called by every front (the CLI and the web): each
takes the acting ``Principal`` (``access``), checks its role and customer scope, writes the
audit log (``audit``) and raises domain errors (``bot.errors``); fronts only parse and
render. One module per concept: customers, privacy (data-subject requests), merges (OneID),
tags, scripts, knowledge, suggestions, messages, conversions, followups, segments,
reports, users; uploads (files held for the console) and jobs (long work started from
the console); campaigns (entry codes, attribution, the campaign report), referrals,
fields (profile fields and the values stated in messages), next_actions, advisers
(personas, an adviser's own numbers)."""
