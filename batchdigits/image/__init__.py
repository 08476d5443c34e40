"""Image files to 8x8 grids: loading, the grid conversion and its transformer."""
