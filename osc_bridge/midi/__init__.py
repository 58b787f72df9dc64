"""MIDI in: ``map`` (mido messages -> typed commands, and the ``[midi]`` mapping; pure),
``mailbox`` (the coalescing queue between the backend's callback and the worker) and ``input``
(the ports, the backend and the worker thread)."""
