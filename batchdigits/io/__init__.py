"""The bottom layer: what every stage uses (safe opens, atomic writes, hashing, walking, the worker pool).

Nothing here imports another folder of the package; ``image``, ``learn``,
``run``, ``web`` and ``cli`` all build on it.
"""
