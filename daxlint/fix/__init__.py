"""``--fix``: applying the findings' edits to files to a fixed point, the
unified diff of what changed, and writing fixed files back in place."""
