"""Loop nests for the tile operations, emitted by the LowerTileOp pass: one module per kind."""
