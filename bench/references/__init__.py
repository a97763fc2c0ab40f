"""Case makers: one per recording family, each deriving reference outputs from the data's own annotations."""
