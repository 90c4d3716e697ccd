"""The web console (FastAPI): adviser sidebar, operator library, manager review, campaigns,
personas, JSON API.

``create_app(runtime)`` in ``bot.web.app`` builds it; ``siyu serve`` runs it. Importing
this package imports nothing heavy, so the CLI stays fast.
"""
