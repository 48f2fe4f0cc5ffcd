"""Pictures drawn from what run folders hold (saved arrays), never from a model in memory:
snapshot scatter plots and image grids, Figure 5, run grids, animations and metric curves.
"""
