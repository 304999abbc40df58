"""One request, one shape: a ``Turn`` carries a question from ask to receipt; a ``Tier`` answers it."""
