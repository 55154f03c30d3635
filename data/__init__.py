"""Records and loaders, the synthetic MATH-style task and step labelling.

Imports without torch.
"""
