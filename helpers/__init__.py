"""Final versions of the components built in the course's notebooks, one module per concept."""
