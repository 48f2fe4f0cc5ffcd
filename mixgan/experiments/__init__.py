"""What trains many runs and draws or tabulates them: Figure 5, comparisons over seeds and
sweeps. Experiments take ``TrainConfig``s and return folders; argument parsing lives in
``mixgan/commands`` alone.
"""
