"""The trained blind painter: split, polarity head, frame retrieval, and the bundle that holds them.

Import the submodules directly (``avstudio.painter.bundle.Painter``); nothing
here imports torch.
"""
