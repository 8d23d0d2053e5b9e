"""avstudio: cross-modal audio <-> visual generation in a project workspace.

Importing this package is cheap: no torch, cv2, librosa or h5py is imported
until a stage or command needs it.
"""

__version__ = "0.1.0"
