"""The terminal UI (Textual): ``avstudio tui [DIR]``.

``app.py`` opens a workspace on the project screen; ``screens/`` holds one screen per
module (project, stage detail, checkpoints, dialogs); ``widgets/`` the reusable pieces
(stage table, progress line, log pane, header, braille plot, half-block images);
``messages.py`` the Textual messages that carry runner events from worker threads;
``bridge.py`` the glue to the UI-free core (event log history, signalling a headless run).
Nothing here is imported by the core, and importing it imports no torch, cv2 or h5py.
"""
