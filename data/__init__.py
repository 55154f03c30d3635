"""Records and loaders, the synthetic MATH-style task and step labelling.

Imports without torch.
"""

__distribution__ = "prm-math"  # checked by `import prm`: this is prm-math's data
