"""nasbox's built-in search spaces, one module each.

Importing a module registers its space; ``nasbox.spaces.list_spaces()`` lists them all.
"""
