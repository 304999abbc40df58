"""Routing: local first, a stronger tier only when the local answer is not good enough.

``policy.Router`` is what the service calls; ``evaluate`` and ``collect`` back `baton bench route`.
Nothing is imported here, so each module stays cheap to import on its own.
"""
